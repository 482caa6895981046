"""Std of the complex normal CN(0, 1) with its modulus truncated at R, in float64, stdlib only.

Used at run time by the generated initializers for radii that are not in the table.  With
T = R^2, E|z|^2 = S_2(T) / S_1(T) where S_s(T) = sum_{j >= s} T^j / j! (see
derive/maths/complex_truncnorm.py, eq. 2): for T <= 1, S_1 = expm1(T) and S_2 is summed term by
term (positive terms, no cancellation however small R is); for T > 1, E|z|^2 =
1 - T / expm1(T), where the subtraction loses under one bit.  tests/test_snippets.py measures
it against mpmath at 30 digits.
"""

import math

# --- snippet ---


def complex_truncnorm_std(radius: float) -> float:
    """sqrt(E|z|^2) of CN(0, 1) (E|z|^2 = 1) truncated to |z| <= radius (0 < radius <= inf)."""
    if not radius > 0.0:
        raise ValueError(f"radius: {radius!r} is out of range (accepted: 0 < radius <= inf)")
    if radius > 26.0:  # 1 - E|z|^2 = T / (e^T - 1) < 1e-290: 1.0 in float64 (and no overflow)
        return 1.0
    t = radius * radius
    if t < 1e-20:  # E|z|^2 = T/2 - T^2/12 + ...: sqrt = R / sqrt(2) * (1 - T/12), T/12 < eps
        return radius * math.sqrt(0.5)
    if t <= 1.0:
        term, tail, j = t * t / 2.0, 0.0, 2
        while term > 1e-17 * tail or tail == 0.0:
            tail += term
            j += 1
            term *= t / j
        return math.sqrt(tail / math.expm1(t))
    return math.sqrt(1.0 - t / math.expm1(t))
