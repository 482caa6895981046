"""initref's PyTorch module: everything in torch_init.py (see its docstring, below)."""

from ._generated import torch_init as _generated
from ._generated.torch_init import *  # noqa: F403

__all__ = list(_generated.__all__)
__doc__ = _generated.__doc__
