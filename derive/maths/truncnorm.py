"""Moments of the standard normal truncated to [a, b], evaluated with mpmath.

Closed forms (derived symbolically in :mod:`derive.maths.truncnorm_symbolic`; see Johnson, Kotz &
Balakrishnan, *Continuous Univariate Distributions* vol. 1, eq. 13.134-13.135), with
phi the standard normal density and Z the mass::

    Z    = Phi(b) - Phi(a)
    m_0  = 1,  m_1 = (phi(a) - phi(b)) / Z
    m_k  = (k - 1) m_{k-2} + (a^{k-1} phi(a) - b^{k-1} phi(b)) / Z        (raw moments)
    var  = m_2 - m_1^2,  mu_4 = m_4 - 4 m_1 m_3 + 6 m_1^2 m_2 - 3 m_1^4

Numerics: the mass is taken from erfc on the far side of zero (from erf when the interval
straddles zero), so it never underflows to a difference of ones; every subtraction that can
cancel (the mass, phi(a) - phi(b), the central moments) is watched, and the evaluation is
repeated at a higher working precision until the digits lost to cancellation leave the
requested number of significant digits plus a guard intact.  No precision is set globally:
every evaluation runs inside ``mpmath.workdps``.

This module imports mpmath only (no SymPy), so numeric queries start fast.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass

import mpmath

from derive.core.errors import InputError
from derive.core.numbers import bound_text, parse_digits, parse_interval, to_mpf

# TensorFlow/Keras/JAX divide by this float literal: s(2), the std of N(0, 1) truncated to [-2, 2].
TF_LITERAL = "0.87962566103423978"
GUARD_DIGITS = 12
_MAX_ROUNDS = 8

Bound = decimal.Decimal | float | int | str


@dataclass(frozen=True)
class Moments:
    """Moments of N(0, 1) truncated to [lower, upper], as mpf at ``dps`` working digits."""

    lower: decimal.Decimal
    upper: decimal.Decimal
    digits: int
    mass: mpmath.mpf
    mean: mpmath.mpf
    variance: mpmath.mpf
    std: mpmath.mpf
    correction: mpmath.mpf
    mu4: mpmath.mpf
    excess_kurtosis: mpmath.mpf

    def as_dict(self) -> dict[str, mpmath.mpf]:
        return {
            "mass": self.mass,
            "mean": self.mean,
            "variance": self.variance,
            "std": self.std,
            "correction": self.correction,
            "excess_kurtosis": self.excess_kurtosis,
        }


_LOG10_2 = math.log10(2.0)


def _lost_digits(result: mpmath.mpf, *terms: mpmath.mpf) -> float:
    """Decimal digits lost when ``result`` was formed from ``terms`` by addition.

    From binary exponents (mpmath.mag, exact to one bit), rounded up by one bit: cheap, and
    the guard digits cover the bit of slack.
    """
    big = max((abs(t) for t in terms), default=mpmath.mpf(0))
    if big == 0:
        return 0.0
    if result == 0:
        return math.inf
    return max(0.0, float(mpmath.mag(big) - mpmath.mag(result) + 1) * _LOG10_2)


def normal_pdf(x: mpmath.mpf) -> mpmath.mpf:
    """phi(x) = exp(-x^2/2) / sqrt(2 pi); phi(+-inf) = 0."""
    if mpmath.isinf(x):
        return mpmath.mpf(0)
    return mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


def mass(a: mpmath.mpf, b: mpmath.mpf) -> tuple[mpmath.mpf, float]:
    """Z = Phi(b) - Phi(a) from erfc on the far side, or erf across zero; returns (Z, lost)."""
    s = mpmath.sqrt(2)
    if a >= 1:
        hi, lo = mpmath.erfc(a / s), mpmath.erfc(b / s)
    elif b <= -1:
        hi, lo = mpmath.erfc(-b / s), mpmath.erfc(-a / s)
    else:
        hi, lo = mpmath.erf(b / s), mpmath.erf(a / s)
    z = (hi - lo) / 2
    return z, _lost_digits(z, hi, lo)


def _moments_at(a: mpmath.mpf, b: mpmath.mpf, symmetric: bool) -> tuple[list[mpmath.mpf], float]:
    """Mass, raw moments m_1..m_4 and central moments at the current precision, plus loss.

    The loss is tracked per quantity and accumulates along the recursion: a sum loses
    log10(max|term| / |sum|) digits on top of the worst loss among its terms (a product or
    quotient keeps the worst loss of its factors).  The returned loss is the worst of all.
    """
    z, z_lost = mass(a, b)
    # exp(-x^2/2) and erfc(x/sqrt 2) turn the rounding of x^2/2 (relative 10^-dps) into an
    # absolute error of x^2/2 * 10^-dps in their exponent: log10(x^2/2) digits are lost from
    # every density and from the mass, before any cancellation.
    arg_lost = max(
        (math.log10(float(x * x / 2)) for x in (a, b) if mpmath.isfinite(x) and abs(x) > 2),
        default=0.0,
    )
    z_lost += arg_lost
    if z <= 0:
        return [], math.inf
    m = [mpmath.mpf(1)]
    m_lost = [0.0]
    # x^(k-1) phi(x) at both edges, by repeated multiplication (limit 0 at +-inf)
    edge_a, edge_b = normal_pdf(a), normal_pdf(b)
    for k in range(1, 5):
        if k > 1:
            edge_a = edge_a * a if edge_a else edge_a
            edge_b = edge_b * b if edge_b else edge_b
        if symmetric and k % 2 == 1:
            m.append(mpmath.mpf(0))  # odd moments vanish exactly on [-k, k]
            m_lost.append(0.0)
            continue
        diff = edge_a - edge_b
        term_lost = max(arg_lost + _lost_digits(diff, edge_a, edge_b), z_lost)
        prev = (k - 1) * m[k - 2] if k >= 2 else mpmath.mpf(0)
        prev_lost = m_lost[k - 2] if k >= 2 else 0.0
        term = diff / z
        mk = prev + term
        m.append(mk)
        m_lost.append(max(prev_lost, term_lost) + _lost_digits(mk, prev, term))
    m1, m2, m3, m4 = m[1], m[2], m[3], m[4]
    var = m2 - m1 * m1
    var_lost = max(m_lost[1], m_lost[2]) + _lost_digits(var, m2, m1 * m1)
    terms = [m4, -4 * m1 * m3, 6 * m1 * m1 * m2, -3 * m1**4]
    mu4 = mpmath.fsum(terms)
    mu4_lost = max(m_lost) + _lost_digits(mu4, *terms)
    if not var > 0 or not mu4 > 0:  # rounding noise has swamped the central moments
        return [z, m1, var, mu4], math.inf
    return [z, m1, var, mu4], max(z_lost, m_lost[1], var_lost, mu4_lost)


def _adaptive(
    lower: decimal.Decimal,
    upper: decimal.Decimal,
    digits: int,
    body: Callable[[mpmath.mpf, mpmath.mpf], tuple[list[mpmath.mpf], float]],
) -> tuple[list[mpmath.mpf], int]:
    """Run ``body`` at rising working precision until cancellation leaves ``digits`` + guard."""
    dps = digits + GUARD_DIGITS + 8
    for _ in range(_MAX_ROUNDS):
        with mpmath.workdps(dps):
            values, lost = body(to_mpf(lower), to_mpf(upper))
        if lost + digits + GUARD_DIGITS <= dps:
            return values, dps
        # a loss measured on noise can be underestimated: at least double the precision
        step = lost if math.isfinite(lost) else dps
        dps = max(2 * dps, int(digits + GUARD_DIGITS + step + 8))
    raise InputError(
        f"interval [{bound_text(lower)}, {bound_text(upper)}]: cancellation too severe to "
        f"reach {digits} digits (accepted: intervals whose width and position need under "
        f"~{dps // 2} working digits)"
    )


def truncnorm_moments(lower: Bound, upper: Bound, digits: int = 50) -> Moments:
    """All moments of N(0, 1) truncated to [lower, upper], accurate to ``digits`` digits.

    The returned mpf values carry the working precision they were computed at (at least
    ``digits`` + guard); round them with :func:`derive.core.numbers.format_sig`.
    """
    digits = parse_digits(digits)
    a, b = parse_interval(lower, upper)
    symmetric = a == b.copy_negate()
    values, dps = _adaptive(a, b, digits, lambda x, y: _moments_at(x, y, symmetric))
    z, mean, var, mu4 = values
    with mpmath.workdps(dps):
        std = mpmath.sqrt(var)
        return Moments(
            lower=a,
            upper=b,
            digits=digits,
            mass=z,
            mean=mean,
            variance=var,
            std=std,
            correction=1 / std,
            mu4=mu4,
            excess_kurtosis=mu4 / (var * var) - 3,
        )


def symmetric_std(k: Bound, digits: int = 50) -> mpmath.mpf:
    """s(k): the std of N(0, 1) truncated to [-k, k] (k > 0; k = inf gives 1)."""
    kd = _positive_cutoff(k)
    return truncnorm_moments(kd.copy_negate(), kd, digits).std


def _positive_cutoff(k: Bound) -> decimal.Decimal:
    from derive.core.numbers import parse_bound

    kd = parse_bound(k, "k")
    if not kd > 0:
        raise InputError(f"k: {k!r} must be > 0 (accepted: 0 < k <= inf)")
    return kd


SQRT3_TEXT = "1.7320508075688772935274463415058723669428052538104"


def cutoff_for_post_truncation_units(c: Bound, digits: int = 50) -> mpmath.mpf:
    """Solve k / s(k) = c for k: the cutoff in units of the underlying normal's std.

    ``c`` is the cutoff in units of the *post-truncation* std.  k/s(k) increases from
    sqrt(3) (k -> 0, where the law tends to a uniform) to infinity, so a solution exists
    exactly for c > sqrt(3); it lies in (0, c) because s(k) < 1.
    """
    from derive.core.numbers import parse_bound

    digits = parse_digits(digits)
    cd = parse_bound(c, "c")
    if cd.is_infinite() and cd > 0:
        return mpmath.inf
    if not cd > decimal.Decimal(SQRT3_TEXT):
        raise InputError(
            f"c: {c!r} is out of range (accepted: c > sqrt(3) = 1.7320508..., "
            "the limit of k/s(k) as k -> 0)"
        )
    dps = digits + GUARD_DIGITS + 8
    with mpmath.workdps(dps):
        target = to_mpf(cd)

        def f(k: mpmath.mpf) -> mpmath.mpf:
            return k / _std_mp(k, dps) - target

        lo, hi = mpmath.mpf("1e-3"), target
        # bisect to a good bracket first, then polish with the Anderson-Bjorck solver
        while f(lo) > 0:
            lo /= 1000
        for _ in range(60):
            mid = (lo + hi) / 2
            if f(mid) > 0:
                hi = mid
            else:
                lo = mid
        root = mpmath.findroot(f, (lo, hi), solver="anderson", tol=mpmath.mpf(10) ** (-dps + 5))
        return +root


def _std_mp(k: mpmath.mpf, dps: int) -> mpmath.mpf:
    """s(k) at the current precision from an mpf cutoff (helper for the inverse problem)."""
    values, _ = _moments_at(-k, k, True)
    return mpmath.sqrt(values[2])
