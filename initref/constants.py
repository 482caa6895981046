"""initref's constant tables: everything in constants.py (see its docstring, below)."""

from ._generated import constants as _generated
from ._generated.constants import *  # noqa: F403

# the tables and their record types (constants.py defines no __all__; its imports stay out)
__all__ = sorted(
    name
    for name, value in vars(_generated).items()
    if not name.startswith("_")
    and getattr(value, "__module__", _generated.__name__) == _generated.__name__
)
__doc__ = _generated.__doc__
