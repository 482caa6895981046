"""initref's Keras 3 / TensorFlow module: everything in tf_init.py (see its docstring, below)."""

from ._generated import tf_init as _generated
from ._generated.tf_init import *  # noqa: F403

__all__ = list(_generated.__all__)
__doc__ = _generated.__doc__
