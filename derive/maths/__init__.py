"""Pure derivations: SymPy closed forms and mpmath evaluation.  No I/O, no templates.

Imports only :mod:`derive.core`.
"""
