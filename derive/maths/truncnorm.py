"""Moments of the standard normal truncated to [a, b], evaluated with mpmath.

Equations (Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 1, 2nd ed.,
sec. 10.1, eq. 13.134-13.135; derived again with SymPy in
:mod:`derive.maths.truncnorm_symbolic`), with phi the standard normal density, Phi its CDF,
Z the mass and x^k phi(x) = 0 at x = +-inf::

    Z    = Phi(b) - Phi(a)
    D_k  = a^k phi(a) - b^k phi(b),   T_k = D_k / Z                 (k = 0, 1, 2, 3)
    m_k  = (k - 1) m_{k-2} + T_{k-1}   (raw moments: m_1 = T_0, m_2 = 1 + T_1,
                                        m_3 = 2 T_0 + T_2, m_4 = 3 + 3 T_1 + T_3)
    mean = T_0
    var  = 1 + T_1 - T_0^2
    E    = mu_4 - 3 var^2
         = T_3 - 3 T_1 - 4 T_0 T_2 + 4 T_0^2 - 3 T_1^2 + 12 T_0^2 T_1 - 6 T_0^4      (*)
    excess kurtosis = mu_4 / var^2 - 3 = E / var^2,   std = sqrt(var),   correction = 1 / std

(*) is mu_4 = m_4 - 4 m_1 m_3 + 6 m_1^2 m_2 - 3 m_1^4 minus 3 var^2, expanded in the T_k
(``truncnorm_symbolic.excess_kurtosis_numerator`` derives it; the tests check that it is
``EXCESS_KURTOSIS_NUMERATOR``).  Written so, the excess kurtosis has no final "- 3": as
truncation vanishes, every T_k and E go to 0 together (for [-k, k],
E = -2 (k^3 - 3k) phi(k) / Z - 12 k^2 phi(k)^2 / Z^2), so [-40, 40] or [-1000, inf) need no
more working digits than [-2, 2], where ``mu_4 / var^2 - 3`` would cancel 343 and 217,139
digits (their excess kurtoses are -1.87e-343 and -2.29e-217139).

The edge differences are formed without cancelling where the cutoffs can make them small:
with p the cutoff nearer zero and q the other one, both finite, and exact decimal
arithmetic for the cutoffs' polynomials (the cutoffs are exact decimals)::

    D_0 = phi(a) - phi(b) = -+ phi(p) expm1((p^2 - q^2) / 2)    (- if p = a, + if p = b)
    D_k = p^k D_0 + (a^k - b^k) phi(q)                               (k >= 1)

so a symmetric interval gives D_0 = D_2 = 0 exactly (its mean prints as 0) and nearly
symmetric or tiny cutoffs ([-12, 12.000001], [-1e-400, 2e-400]) lose nothing.  The mass is
taken from erfc on the far side of zero when a >= 1 or b <= -1 (no difference of numbers
near 1), from erf otherwise (the two terms then have opposite signs unless the interval is
narrow).

Precision, provably: every value carries a bound on its rounding error, in units of
u = 2^-prec at the working precision prec (running error analysis, Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., sec. 3.3): |x - exact| <= K u |x|.

* leaves (an exact decimal rounded to prec, phi(x), erf or erfc of x/sqrt(2), expm1 of an
  exact decimal) have K <= 4: mpmath evaluates these functions with guard bits, to within
  one unit in the last place of the binary input it is given (measured: at most 0.98 ulp
  for exp, expm1, erf and erfc over 1,200 arguments at 100 bits), and that input is rounded
  at prec + 2 log2|x| + 8 bits, so its own error moves the result by under 1/8 u (the
  relative condition number of erfc(x) is at most 2 x^2 + 1 for x >= 0 by the Mills-ratio
  bound erfc(x) >= 2 exp(-x^2) / (sqrt(pi) (x + sqrt(x^2 + 2))), of erf at most 1, of
  exp(-x^2/2) x^2/2, of expm1(y) 1 + |y|); K <= 4 leaves a factor 2 for the product with
  1/sqrt(2 pi);
* a sum s of terms t_i: K_s = 1 + sum_i K_i |t_i| / |s| (the digits a subtraction loses are
  log10 of the terms' size over the result's, with the terms' own errors carried along);
* a product or quotient: K = 1 + (K_x + K_y)(1 + 2^-18); a square root: K = 1 + K_x / 2;
* a computed zero is exact only when it comes from exact operands; otherwise K = inf, and
  so is any K with K u > 2^-20 (then the second-order terms dropped above could matter).
  A sum that cancels to zero is therefore never taken for an exact zero: for a tiny
  [-k, k], E = T_3 - 3 T_1 - 3 T_1^2 cancels about 4 log2(1/k) bits down to -1.2 var^2,
  and a round whose sum came out 0 is repeated at a higher precision.

Magnitudes come from the binary exponents (2^(mag - 1) <= |x| < 2^mag), so the bound is an
upper bound; log2 K is carried in float64, whose own rounding the guard digits cover.  Every
quantity is evaluated at a working precision of ``digits`` + ``GUARD_DIGITS`` digits plus 64
bits; when a bound leaves fewer than ``digits`` + ``GUARD_DIGITS`` correct digits, the
evaluation is repeated at the precision that bound asks for (losses from cancellation do
not depend on the precision, so one repeat suffices unless noise swamped a value).  Each
returned value is then within 10^-(digits + 12) of its exact value, relative: rounded to
``digits`` significant digits it is the correctly rounded value unless the exact value's
digits after the ``digits``-th are 5000000000000 or 4999999999999 (the table maker's
dilemma, left at a chance of about 1e-12).  No precision is set globally: every evaluation
runs inside ``mpmath.workprec``.

This module imports mpmath only (no SymPy), so numeric queries start fast.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass

import mpmath

from ..core.errors import InputError
from ..core.numbers import bound_text, mpf_to_decimal, parse_digits, parse_interval, to_mpf

# TensorFlow/Keras/JAX divide by this float literal: s(2), the std of N(0, 1) truncated to [-2, 2].
TF_LITERAL = "0.87962566103423978"
GUARD_DIGITS = 12
_MAX_ROUNDS = 8
_LOG2_10 = math.log2(10.0)
_LEAF_ULPS = 4.0  # K of every leaf value (see the module docstring)
_SECOND_ORDER = 1.0 + 2.0**-18  # covers K_x K_y u when both K u <= 2^-20
_USABLE_BITS = 20  # a value with K u > 2^-20 carries no usable bound

Bound = decimal.Decimal | float | int | str

# E = mu_4 - 3 var^2 as a polynomial in T_0..T_3, (*) of the module docstring: each term is
# (coefficient, indices k of its factors T_k).  truncnorm_symbolic.excess_kurtosis_numerator
# derives it; tests/test_truncnorm_symbolic.py checks that the two are the same polynomial.
EXCESS_KURTOSIS_NUMERATOR: tuple[tuple[int, tuple[int, ...]], ...] = (
    (1, (3,)),
    (-3, (1,)),
    (-4, (0, 2)),
    (4, (0, 0)),
    (-3, (1, 1)),
    (12, (0, 0, 1)),
    (-6, (0, 0, 0, 0)),
)


@dataclass(frozen=True)
class Moments:
    """Moments of N(0, 1) truncated to [lower, upper], as mpf at the working precision."""

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


# ---------------------------------------------------------------------------
# Running error bounds
# ---------------------------------------------------------------------------


_LOG2_SECOND_ORDER = math.log2(_SECOND_ORDER)


def _log2_sum(*exponents: float) -> float:
    """log2(sum of 2^e) without overflow (-inf terms count 0; an inf term gives inf)."""
    top = max(exponents)
    if top == math.inf or top == -math.inf:
        return top
    return top + math.log2(sum(2.0 ** (e - top) for e in exponents))


def _mag(x: mpmath.mpf) -> int:
    """mpmath.mag of a finite nonzero mpf: 2^(mag - 1) <= |x| < 2^mag."""
    _, _, exp, bits = x._mpf_
    return int(exp + bits)


class _Tracked:
    """An mpf x with a bound on its error: |x - exact| <= 2**lost * u * |x|, u = 2^-prec.

    ``lost`` is log2 K of the module docstring: the bits of the working precision that are
    not guaranteed (-inf: x is exact; inf: nothing is guaranteed).  Operations round to the
    working precision in force (``mpmath.workprec``) and combine the bounds; the bounds
    themselves are float64 sums of powers of two, whose own rounding the guard digits cover.
    """

    __slots__ = ("lost", "x")

    def __init__(self, x: mpmath.mpf, lost: float) -> None:
        if not x and lost != math.inf:
            lost = -math.inf  # a zero with a finite relative bound is exact by the contract
        elif lost > mpmath.mp.prec - _USABLE_BITS:
            lost = math.inf
        self.x, self.lost = x, lost

    @staticmethod
    def exact(x: mpmath.mpf | int) -> _Tracked:
        return _Tracked(mpmath.mpf(x), -math.inf)

    @staticmethod
    def leaf(x: mpmath.mpf) -> _Tracked:
        return _Tracked(x, math.log2(_LEAF_ULPS))

    def _plus(self, other: _Tracked, sign: int) -> _Tracked:
        """K_s = 1 + (K_x |x| + K_y |y|) / |s|, with |t| < 2^mag(t), |s| >= 2^(mag(s) - 1)."""
        s = self.x + other.x if sign > 0 else self.x - other.x
        if not s:  # a zero is exact only from exact operands, never from a cancellation
            exact = self.lost == -math.inf and other.lost == -math.inf
            return _Tracked(s, -math.inf if exact else math.inf)
        scale = _mag(s) - 1
        carried = [t.lost + _mag(t.x) - scale for t in (self, other) if t.x]
        return _Tracked(s, _log2_sum(0.0, *carried))

    def _times(self, other: _Tracked, value: mpmath.mpf) -> _Tracked:
        """K = 1 + (K_x + K_y)(1 + 2^-18); an exact zero factor gives an exact zero."""
        if (not self.x and self.lost == -math.inf) or (not other.x and other.lost == -math.inf):
            return _Tracked.exact(0)
        carried = _log2_sum(self.lost, other.lost) + _LOG2_SECOND_ORDER
        return _Tracked(value, _log2_sum(0.0, carried))

    def __neg__(self) -> _Tracked:
        return _Tracked(-self.x, self.lost)

    def __add__(self, other: _Tracked) -> _Tracked:
        return self._plus(other, 1)

    def __sub__(self, other: _Tracked) -> _Tracked:
        return self._plus(other, -1)

    def __mul__(self, other: _Tracked | int) -> _Tracked:
        o = other if isinstance(other, _Tracked) else _Tracked.exact(other)
        return self._times(o, self.x * o.x)

    __rmul__ = __mul__

    def __truediv__(self, other: _Tracked | int) -> _Tracked:
        o = other if isinstance(other, _Tracked) else _Tracked.exact(other)
        return self._times(o, self.x / o.x)

    def sqrt(self) -> _Tracked:
        """K = 1 + K_x / 2 (a nonpositive argument has no usable root)."""
        if not self.x > 0:
            return _Tracked(self.x, math.inf if self.x else self.lost)
        return _Tracked(mpmath.sqrt(self.x), _log2_sum(0.0, self.lost - 1.0))


# ---------------------------------------------------------------------------
# Leaves: exact decimals and the special functions at extended-precision arguments
# ---------------------------------------------------------------------------

_EXACT = decimal.Context(
    prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.Inexact]
)


def _bits_above_one(d: decimal.Decimal) -> int:
    """An upper bound of max(0, log2|d|) for a finite decimal."""
    return max(0, math.ceil((d.adjusted() + 1) * _LOG2_10)) if d else 0


def _power(d: decimal.Decimal, k: int) -> decimal.Decimal:
    """d^k exactly (d^0 = 1, also for d = 0)."""
    return _EXACT.power(d, k) if k else decimal.Decimal(1)


def _decimal_leaf(d: decimal.Decimal) -> _Tracked:
    """An exact decimal rounded to the working precision (0 stays exact)."""
    return _Tracked.leaf(to_mpf(d))


def _argument(d: decimal.Decimal, scale: decimal.Decimal = decimal.Decimal(1)) -> mpmath.mpf:
    """d * scale (exact decimals), rounded at prec + 2 log2|d scale| + 8 bits."""
    exact = _EXACT.multiply(d, scale)
    with mpmath.workprec(mpmath.mp.prec + 2 * _bits_above_one(exact) + 8):
        return to_mpf(exact)


def _erf_leaf(d: decimal.Decimal, complementary: bool) -> _Tracked:
    """erf(d / sqrt 2) or erfc(d / sqrt 2); exact at d = +-inf."""
    if d.is_infinite():
        limit = (0 if d > 0 else 2) if complementary else (1 if d > 0 else -1)
        return _Tracked.exact(limit)
    with mpmath.workprec(mpmath.mp.prec + 2 * _bits_above_one(d) + 8):
        x = to_mpf(d) / mpmath.sqrt(2)
    return _Tracked.leaf(mpmath.erfc(x) if complementary else mpmath.erf(x))


def _density_leaf(d: decimal.Decimal, inv_sqrt_2pi: mpmath.mpf) -> _Tracked:
    """phi(d) = exp(-d^2/2) / sqrt(2 pi); exactly 0 at d = +-inf."""
    if d.is_infinite():
        return _Tracked.exact(0)
    return _Tracked.leaf(
        mpmath.exp(_argument(_EXACT.multiply(d, d), decimal.Decimal("-0.5"))) * inv_sqrt_2pi
    )


def _mass(a: decimal.Decimal, b: decimal.Decimal) -> _Tracked:
    """Z = Phi(b) - Phi(a), from erfc beyond +-1 (a tail's mass never underflows to a
    difference of ones), from erf otherwise."""
    if a >= 1:
        return (_erf_leaf(a, True) - _erf_leaf(b, True)) / 2
    if b <= -1:
        return (_erf_leaf(b.copy_negate(), True) - _erf_leaf(a.copy_negate(), True)) / 2
    return (_erf_leaf(b, False) - _erf_leaf(a, False)) / 2


def _edge_differences(a: decimal.Decimal, b: decimal.Decimal) -> list[_Tracked]:
    """D_k = a^k phi(a) - b^k phi(b) for k = 0..3 (see the module docstring)."""
    with mpmath.workprec(mpmath.mp.prec + 8):
        inv_sqrt_2pi = 1 / mpmath.sqrt(2 * mpmath.pi)
    if a.is_infinite() or b.is_infinite():  # one term (or none) survives: no cancellation
        out = []
        for k in range(4):
            total = _Tracked.exact(0)
            if a.is_finite():
                total = _decimal_leaf(_power(a, k)) * _density_leaf(a, inv_sqrt_2pi)
            if b.is_finite():
                total = -(_decimal_leaf(_power(b, k)) * _density_leaf(b, inv_sqrt_2pi))
            out.append(total)
        return out
    p, q = (a, b) if a.copy_abs() <= b.copy_abs() else (b, a)
    y = _EXACT.subtract(_EXACT.multiply(p, p), _EXACT.multiply(q, q))
    rise = _Tracked.leaf(mpmath.expm1(_argument(y, decimal.Decimal("0.5"))))
    d0 = _density_leaf(p, inv_sqrt_2pi) * rise
    if p is a:
        d0 = -d0
    phi_q = _density_leaf(q, inv_sqrt_2pi)
    out = [d0]
    for k in range(1, 4):
        edge = _decimal_leaf(_EXACT.subtract(_power(a, k), _power(b, k)))
        out.append(_decimal_leaf(_power(p, k)) * d0 + edge * phi_q)
    return out


def _evaluate(a: decimal.Decimal, b: decimal.Decimal) -> dict[str, _Tracked] | None:
    """Every quantity at the working precision with its error bound; None when rounding
    noise has swamped the mass or the variance (they are positive)."""
    z = _mass(a, b)
    if not z.x > 0:
        return None
    t = [d / z for d in _edge_differences(a, b)]
    one = _Tracked.exact(1)
    var = one + t[1] - t[0] * t[0]
    if not var.x > 0:
        return None
    var2 = var * var
    excess = _Tracked.exact(0)  # (*) of the module docstring: no final "- 3"
    products: dict[tuple[int, ...], _Tracked] = {}
    for coefficient, factors in EXCESS_KURTOSIS_NUMERATOR:
        term = t[factors[0]]
        for n in range(2, len(factors) + 1):  # T_0 T_0 T_1 reuses T_0 T_0, and so on
            if factors[:n] not in products:
                products[factors[:n]] = term * t[factors[n - 1]]
            term = products[factors[:n]]
        excess = excess + coefficient * term
    std = var.sqrt()
    return {
        "mass": z,
        "mean": t[0],
        "variance": var,
        "std": std,
        "correction": one / std,
        "excess_kurtosis": excess / var2,
        "mu4": excess + 3 * var2,
    }


def _adaptive(lower: decimal.Decimal, upper: decimal.Decimal, digits: int) -> dict[str, mpmath.mpf]:
    """Evaluate at rising working precision until every bound leaves digits + guard."""
    need = (digits + GUARD_DIGITS) * _LOG2_10  # bits that must be guaranteed
    prec = math.ceil(need) + 64  # room for the usual losses (<= 62 bits for |cutoffs| <= 12)
    for _ in range(_MAX_ROUNDS):
        with mpmath.workprec(prec):
            values = _evaluate(lower, upper)
        lost = math.inf if values is None else max(v.lost for v in values.values())
        if values is not None and prec - lost >= need:
            return {name: v.x for name, v in values.items()}
        # cancellation does not depend on the precision: ask for what the bound says
        grown = math.ceil(need + lost) + 24 if math.isfinite(lost) else 2 * prec
        prec = max(grown, prec + prec // 2)
    raise InputError(
        f"interval [{bound_text(lower)}, {bound_text(upper)}]: cancellation too severe to "
        f"reach {digits} digits (accepted: intervals whose width and position need under "
        f"~{int(prec / _LOG2_10) // 2} working digits)"
    )


def truncnorm_moments(lower: Bound, upper: Bound, digits: int = 50) -> Moments:
    """All moments of N(0, 1) truncated to [lower, upper], accurate to ``digits`` digits.

    Each mpf value is within 10^-(digits + GUARD_DIGITS) of its exact value, relative
    (exact zeros are exact), and carries the working precision it was computed at; round
    it with :func:`derive.core.numbers.format_sig`.
    """
    digits = parse_digits(digits)
    a, b = parse_interval(lower, upper)
    v = _adaptive(a, b, digits)
    return Moments(
        lower=a,
        upper=b,
        digits=digits,
        mass=v["mass"],
        mean=v["mean"],
        variance=v["variance"],
        std=v["std"],
        correction=v["correction"],
        mu4=v["mu4"],
        excess_kurtosis=v["excess_kurtosis"],
    )


def symmetric_std(k: Bound, digits: int = 50) -> mpmath.mpf:
    """s(k): the std of N(0, 1) truncated to [-k, k] (k > 0; k = inf gives 1)."""
    kd = _positive_cutoff(k)
    return truncnorm_moments(kd.copy_negate(), kd, digits).std


def _positive_cutoff(k: Bound) -> decimal.Decimal:
    from ..core.numbers import parse_bound

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
    from ..core.numbers import parse_bound

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
    kd = mpf_to_decimal(k)
    values = _evaluate(kd.copy_negate(), kd)
    if values is None:  # pragma: no cover - k so small that s(k) is lost at this precision
        raise InputError(f"c: the cutoff {mpmath.nstr(k, 5)} is too small to resolve")
    return values["std"].x
