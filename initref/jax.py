"""initref's JAX module: everything in jax_init.py (see its docstring, below)."""

from ._generated import jax_init as _generated
from ._generated.jax_init import *  # noqa: F403

__all__ = list(_generated.__all__)
__doc__ = _generated.__doc__
