"""The circularly symmetric complex normal with its modulus truncated at a radius R.

Law.  z = x + i y with x, y independent N(0, 1/2), so E[z] = 0 and E|z|^2 = 1 (the "complex
standard normal" CN(0, 1); Goodman 1963; Picinbono 1996).  Its density on the plane is
exp(-|z|^2) / pi; in polar coordinates the angle is uniform and the modulus has the Rayleigh
density 2 r exp(-r^2), so |z|^2 ~ Exp(1).  Truncating the modulus at R (R in units of the
complex std sqrt(E|z|^2) = 1, as ``jax.nn.initializers`` does with R = 2) and writing
T = R^2, the moments are ratios of lower incomplete gamma functions,
gamma(s, T) = int_0^T t^(s-1) e^(-t) dt (DLMF 8.2.1), because E[|z|^(2k); |z| <= R] =
int_0^T t^k e^(-t) dt:

    mass            Z(R)    = P(|z| <= R)       = gamma(1, T) = 1 - e^(-T)                    (1)
    second moment   E|z|^2  = gamma(2, T) / Z   = (1 - (1 + T) e^(-T)) / (1 - e^(-T))
                                                = 1 - T / (e^T - 1)                            (2)
    fourth moment   E|z|^4  = gamma(3, T) / Z   = (2 - (2 + 2T + T^2) e^(-T)) / (1 - e^(-T))   (3)
    std             sqrt(E|z|^2)  (the mean is 0 by circular symmetry)
    correction      1 / std: multiply by it so that E|w|^2 is the intended variance

The closed forms in R are derived by SymPy in :func:`complex_truncnorm_forms` from the
density, not typed in; :func:`complex_truncnorm_moments` evaluates them with mpmath.

What JAX divides by.  ``jax.nn.initializers.variance_scaling(..., "truncated_normal")`` with a
complex dtype draws |z|^2 ~ Exp(1) truncated to [0, 4] and divides by the literal
.95311164380491208, which is sqrt(1 - 5 e^(-4)) = sqrt(gamma(2, 4)) to 13 digits (relative
difference 9.5e-14, 815 float64 ulps; the same float32): the truncated second moment
*without* the division by the mass.  Its E|w|^2 is therefore, relative to the intended
scale / fan,

    jax_variance_ratio(R) = (gamma(2, T) / Z) / gamma(2, T) = 1 / Z = 1 / (1 - e^(-T))        (4)

= 1.01866 at R = 2: 1.9 % too high (:func:`jax_variance_ratio`; with the literal itself
instead of sqrt(gamma(2, 4)), :func:`jax_literal_variance_ratio`).

The uniform law on the disk of radius rho (``distribution="uniform"`` for complex dtypes) has
modulus density 2 r / rho^2 on [0, rho], so E|w|^2 = rho^2 / 2 and E|w|^4 = rho^4 / 3: the
disk with E|w|^2 = sigma^2 has rho = sqrt(2) sigma (:func:`disk_uniform_forms`).

Numerics.  With S_s(T) = sum_{j >= s} T^j / j! = e^T P(s, T) (DLMF 8.7.1 and 8.4.10),
Z = e^(-T) S_1, E|z|^2 = S_2 / S_1 and E|z|^4 = 2 S_3 / S_1: the factor e^(-T) cancels
exactly.  For T <= 1 the series S_s are sums of positive terms (no cancellation at all, for
any small R: 1 - e^(-T) and 1 - (1 + T) e^(-T) are never formed); for T > 1 the forms
P(s, T) = 1 - e^(-T) sum_{j < s} T^j / j! are used, which lose at most ~2.6 digits (at
T = 1: the subtraction in P(3, 1) = 0.080 and the rounding of T inside e^(-T)); the loss is
measured and the working precision raised until
the requested digits plus guard digits survive (as in :mod:`derive.maths.truncnorm`).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from typing import Any

import mpmath

from ..core.errors import InputError
from ..core.numbers import bound_text, parse_bound, parse_digits, to_mpf
from .truncnorm import GUARD_DIGITS

# jax.nn.initializers.variance_scaling divides complex truncated normals by this literal.
JAX_COMPLEX_LITERAL = ".95311164380491208"
JAX_RADIUS = 2
_MAX_ROUNDS = 8
SERIES_MAX_T = 1  # T = R^2 <= 1: positive series; above: 1 - e^(-T) * polynomial

Radius = decimal.Decimal | float | int | str


def _lost_digits(result: mpmath.mpf, *terms: mpmath.mpf) -> float:
    """Decimal digits lost when ``result`` was formed from ``terms`` by addition: from binary
    exponents (mpmath.mag, exact to one bit), rounded up by one bit (the guard digits cover
    the bit of slack)."""
    big = max((abs(t) for t in terms), default=mpmath.mpf(0))
    if big == 0:
        return 0.0
    if result == 0:
        return math.inf
    return max(0.0, float(mpmath.mag(big) - mpmath.mag(result) + 1) * math.log10(2))


@dataclass(frozen=True)
class ComplexMoments:
    """Moments of CN(0, 1) with |z| <= radius, as mpf at ``dps`` working digits."""

    radius: decimal.Decimal
    digits: int
    mass: mpmath.mpf
    second_moment: mpmath.mpf
    std: mpmath.mpf
    correction: mpmath.mpf
    fourth_moment: mpmath.mpf
    jax_divisor: mpmath.mpf
    jax_variance_ratio: mpmath.mpf

    def as_dict(self) -> dict[str, mpmath.mpf]:
        return {name: getattr(self, name) for name in COMPLEX_QUANTITIES}


COMPLEX_QUANTITIES: tuple[str, ...] = (
    "mass",
    "second_moment",
    "std",
    "correction",
    "fourth_moment",
    "jax_divisor",
    "jax_variance_ratio",
)


def parse_radius(value: object, name: str = "radius") -> decimal.Decimal:
    """A truncation radius: a decimal > 0 (1e-400 <= R <= 1e100) or inf."""
    accepted = f"(accepted: a number 1e-400 <= {name} <= 1e100, or inf)"
    try:
        r = parse_bound(value, name)
    except InputError:
        raise InputError(f"{name}: {value!r} is not a radius {accepted}") from None
    if not r > 0:
        raise InputError(f"{name}: {value!r} is out of range {accepted}")
    return r


def exponential_tail_series(s: int, t: mpmath.mpf) -> mpmath.mpf:
    """S_s(T) = sum_{j >= s} T^j / j! (= e^T P(s, T), DLMF 8.7.1), summed term by term.

    All terms are positive: no cancellation.  Used for T <= 1, where it converges fast.
    """
    term = t**s / mpmath.factorial(s)
    total = mpmath.mpf(0)
    j = s
    eps = mpmath.eps
    while term > eps * total or total == 0:
        total += term
        j += 1
        term = term * t / j
    return total


def regularized_lower_gamma(s: int, t: mpmath.mpf) -> tuple[mpmath.mpf, float]:
    """P(s, T) = 1 - e^(-T) sum_{j < s} T^j / j! (DLMF 8.4.10) and the digits it lost."""
    if mpmath.isinf(t):
        return mpmath.mpf(1), 0.0
    poly = mpmath.fsum(t**j / mpmath.factorial(j) for j in range(s))
    tail = mpmath.exp(-t) * poly
    p = 1 - tail
    # T is rounded once (relative 10^-dps), so e^(-T) carries a relative error T 10^-dps:
    # log10(T tail / P) more digits of P are at risk, on top of the subtraction's loss
    exp_lost = max(0.0, float(mpmath.log10(t * tail / p))) if tail > 0 else 0.0
    return p, _lost_digits(p, mpmath.mpf(1), tail) + exp_lost


def _moments_at(t: mpmath.mpf) -> tuple[list[mpmath.mpf], float]:
    """[mass, E|z|^2, E|z|^4, gamma(2, T)] at the current precision, and the digits lost."""
    if mpmath.isfinite(t) and t <= SERIES_MAX_T:
        s1, s2, s3 = (exponential_tail_series(s, t) for s in (1, 2, 3))
        decay = mpmath.exp(-t)
        return [decay * s1, s2 / s1, 2 * s3 / s1, decay * s2], 0.0
    (p1, l1), (p2, l2), (p3, l3) = (regularized_lower_gamma(s, t) for s in (1, 2, 3))
    return [p1, p2 / p1, 2 * p3 / p1, p2], max(l1, l2, l3)


def complex_truncnorm_moments(radius: Radius, digits: int = 50) -> ComplexMoments:
    """Eq. (1)-(4) of the module docstring for CN(0, 1) truncated to |z| <= radius.

    ``radius`` in units of the complex std (E|z|^2 = 1 before truncation); inf gives the
    untruncated law.  Accurate to ``digits`` significant digits: the evaluation is repeated
    at a higher working precision until the digits lost to cancellation leave ``digits`` plus
    guard digits intact.
    """
    digits = parse_digits(digits)
    r = parse_radius(radius)
    dps = digits + GUARD_DIGITS + 8
    for _ in range(_MAX_ROUNDS):
        with mpmath.workdps(dps):
            rm = to_mpf(r)
            values, lost = _moments_at(rm * rm)
            if lost + digits + GUARD_DIGITS <= dps:
                mass, second, fourth, gamma2 = values
                std = mpmath.sqrt(second)
                return ComplexMoments(
                    radius=r,
                    digits=digits,
                    mass=mass,
                    second_moment=second,
                    std=std,
                    correction=1 / std,
                    fourth_moment=fourth,
                    jax_divisor=mpmath.sqrt(gamma2),
                    jax_variance_ratio=1 / mass,
                )
        dps = max(2 * dps, int(digits + GUARD_DIGITS + lost + 8))
    raise InputError(  # pragma: no cover - the loss is bounded by arg_lost + 1 digit
        f"radius: {bound_text(r)}: cancellation too severe to reach {digits} digits"
    )


def jax_variance_ratio(radius: Radius = JAX_RADIUS, digits: int = 50) -> mpmath.mpf:
    """Eq. (4): JAX's E|w|^2 divided by the intended scale / fan, 1 / (1 - e^(-R^2))."""
    return complex_truncnorm_moments(radius, digits).jax_variance_ratio


def jax_literal_variance_ratio(literal: str = JAX_COMPLEX_LITERAL, digits: int = 50) -> mpmath.mpf:
    """E|z|^2 at R = 2 divided by the square of the decimal ``literal`` JAX divides by: the
    exact factor by which JAX's complex E|w|^2 exceeds scale / fan (eq. 4 with the literal in
    place of sqrt(gamma(2, 4))).  Pass the literal rounded to float32 for complex64."""
    digits = parse_digits(digits)
    m = complex_truncnorm_moments(JAX_RADIUS, digits + GUARD_DIGITS)
    with mpmath.workdps(digits + 2 * GUARD_DIGITS):
        value = to_mpf(parse_radius(literal, "literal"))
        return m.second_moment / (value * value)


def disk_uniform_radius(sigma2: Radius = 1, digits: int = 50) -> mpmath.mpf:
    """rho = sqrt(2 sigma^2): the disk whose uniform law has E|w|^2 = sigma^2."""
    digits = parse_digits(digits)
    s2 = parse_radius(sigma2, "sigma2")
    with mpmath.workdps(digits + GUARD_DIGITS):
        return mpmath.sqrt(2 * to_mpf(s2))


# ---------------------------------------------------------------------------
# Symbolic derivation (SymPy, imported on use so numeric queries start fast)
# ---------------------------------------------------------------------------


def complex_normal_radial_density() -> Any:
    """2 r exp(-r^2): the density exp(-(x^2 + y^2)) / pi of CN(0, 1) integrated over the
    angle in polar coordinates (x = r cos t, y = r sin t, dx dy = r dr dt), by SymPy."""
    import sympy as sp

    r, theta = sp.symbols("r theta", positive=True)
    x, y = r * sp.cos(theta), r * sp.sin(theta)
    planar = sp.exp(-(x**2 + y**2)) / sp.pi
    return sp.simplify(sp.integrate(sp.simplify(planar) * r, (theta, 0, 2 * sp.pi)))


def complex_truncnorm_forms() -> dict[str, Any]:
    """Eq. (1)-(4) in R, each an integral of the radial density over [0, R], by SymPy."""
    import sympy as sp

    r = sp.Symbol("r", positive=True)
    big_r = sp.Symbol("R", positive=True)
    density = complex_normal_radial_density().subs(sp.Symbol("r", positive=True), r)

    def partial(k: int) -> Any:
        return sp.simplify(sp.integrate(r ** (2 * k) * density, (r, 0, big_r)))

    mass, g2, g3 = partial(0), partial(1), partial(2)
    second = sp.simplify(g2 / mass)
    return {
        "radius": big_r,
        "mass": mass,
        "second_moment": second,
        "fourth_moment": sp.simplify(g3 / mass),
        "std": sp.sqrt(second),
        "correction": 1 / sp.sqrt(second),
        "jax_divisor": sp.sqrt(g2),
        "jax_variance_ratio": sp.simplify(second / g2),
        "untruncated_second_moment": sp.limit(second, big_r, sp.oo),
    }


def disk_uniform_forms() -> dict[str, Any]:
    """The uniform law on the disk of radius rho: modulus density 2 r / rho^2 on [0, rho]
    (area element 2 pi r dr over pi rho^2); E|w|^2, E|w|^4 and the rho giving E|w|^2 =
    sigma^2, by SymPy."""
    import sympy as sp

    r, rho, sigma = sp.symbols("r rho sigma", positive=True)
    density = 2 * r / rho**2
    total = sp.integrate(density, (r, 0, rho))
    second = sp.integrate(r**2 * density, (r, 0, rho))
    fourth = sp.integrate(r**4 * density, (r, 0, rho))
    (radius,) = sp.solve(sp.Eq(second, sigma**2), rho)
    return {
        "rho": rho,
        "sigma": sigma,
        "total": total,
        "second_moment": second,
        "fourth_moment": fourth,
        "radius_for_sigma": radius,
    }
