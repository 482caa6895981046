"""initref: symbolic derivation and reference values for variance-scaling initialization.

The package is importable as ``derive`` and runnable as ``python -m derive``.
Numeric entry points live in :mod:`derive.maths.truncnorm` (mpmath only); the symbolic
derivations in :mod:`derive.maths.truncnorm_symbolic` and :mod:`derive.maths.he_rule` import SymPy.
"""

__version__ = "0.1.0"
GENERATOR = "initref"

__all__ = ["GENERATOR", "__version__"]
