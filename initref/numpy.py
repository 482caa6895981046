"""initref's NumPy module: everything in numpy_init.py (see its docstring, below)."""

from ._generated import numpy_init as _generated
from ._generated.numpy_init import *  # noqa: F403

__all__ = list(_generated.__all__)
__doc__ = _generated.__doc__
