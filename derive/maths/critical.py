"""The critical line: the weight variance that puts a network at the edge of chaos.

Mean-field signal propagation (Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli 2016, eq. 3;
Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep Information Propagation", section 2):
a wide network with weights N(0, sigma_w^2 / n) and biases N(0, sigma_b^2) carries the
pre-activations' second moment q through the length map

    q_l = T(q_{l-1}) = sigma_w^2 V(q_{l-1}) + sigma_b^2,     V(q) = E[f(sqrt(q) z)^2],

and two inputs' correlation c through the correlation map, whose slope at c = 1 is

    chi_1 = sigma_w^2 D(q*),    D(q) = E[f'(sqrt(q) z)^2]          (Schoenholz et al. section 2).

The critical point for a given sigma_b^2 solves q* = T(q*) and chi_1 = 1 together.  The second
equation gives sigma_w^2 = 1 / D(q*); put into the first, q* is a root of

    h(q) = V(q) / D(q) + sigma_b^2 - q = 0,                             (*)

one equation in one unknown.  Since V / D >= 0, h(q) > sigma_b^2 - q, so every root lies above
sigma_b^2.  Roots are bracketed by the sign changes of h (read to 8 digits) on the grid
q = 4^k, k = -10..10 (q in about [1e-6, 1e6]; from the last grid point below sigma_b^2 when
sigma_b^2 > 0), then refined by safeguarded Newton steps with

    h'(q) = (V' D - V D') / D^2 - 1,   V'(q) = E[x f f'] / q,
    D'(q) = (E[x^2 f'^2] / q - D) / (2 q),   x ~ N(0, q)

(d/dq E[g(x)] = E[x g'(x)] / (2 q), the heat equation, and Stein's lemma E[x k(x)] = q E[k'(x)]
for k = x f'^2), first on float64 quadrature rules to about 12 digits (the scan runs on such rules
too: derive.maths.gaussian_rule.Float64Rule), then by one Newton step at the working precision,
checked at a higher one: the Newton step seen there must be below 10^-(digits + 2) of the root
(else one more step at the working precision, up to MAX_FINE_STEPS, then an error).

Stability of q* (Schoenholz et al. section 3): the length map's slope there is

    T'(q*) = sigma_w^2 V'(q*) = chi_1 + sigma_w^2 E[f(x) f''(x)]    (Stein's lemma, x ~ N(0, q*)),

q* attracts when |T'(q*)| < 1, with depth scale xi_q = -1 / ln |T'(q*)|
(|q_l - q*| ~ e^(-l / xi_q)); it repels when T'(q*) > 1 (no depth scale: the second moment
leaves q*, and with it the network leaves the critical point).  The correlation depth scale is
xi_c = -1 / ln chi_c with chi_c the correlation map's slope at its stable fixed point c*; in
the ordered phase and on the critical line c* = 1 and chi_c = chi_1, so at chi_1 = 1 exactly
xi_c diverges (Schoenholz et al. section 3, the divergence of xi_c at the order-to-chaos
transition): it is reported as infinite, meaning that the correlation of two inputs
approaches 1 only polynomially in depth, not exponentially.

Special cases, derived rather than searched:

* sigma_b^2 = 0 and f(0) = 0: q* = 0 is a fixed point of T for every sigma_w^2, with
  chi_1 = sigma_w^2 D(0) (D(0) the mean of the one-sided f'(0)^2), so sigma_w^2 = 1 / D(0) is
  critical there (tanh: sigma_w^2 = 1, the end of the critical line).  T'(0) = 1 exactly, so
  q* = 0 is marginal: reported as "marginal" (T(q) < q for small q > 0: q_l -> 0 polynomially)
  or "unstable" (T(q) > q: the second moment leaves 0), from the sign of T(q) - q at q = 2^-16
  ("neutral" when it is zero to 10^-7 q there).
* the ReLU family (linear, relu, leaky_relu: f(x) = x f'(x)): V(q) = q D exactly, so
  h(q) = sigma_b^2 for every q.  With sigma_b^2 = 0 every q is a fixed point at
  sigma_w^2 = 1 / D (2 / (1 + a^2); "neutral"); with sigma_b^2 > 0 there is no critical point
  (at chi_1 = 1, T(q) = q + sigma_b^2: the second moment grows by sigma_b^2 per layer).

Where (*) has no root in the searched range the result says so ("none") instead of a number.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import mpmath

from ..core.errors import InputError
from ..core.numbers import parse_digits, to_mpf
from .activations import Activation, activation
from .gains import GUARD_DIGITS
from .gaussian_rule import SPAN, expectations
from .meanfield import (
    ROUGH_DIGITS,
    ROUGH_DPS,
    ROUGH_SPAN,
    VERIFY_DIGITS,
    StepFn,
    bracketed_newton,
    one_sided_derivative_square,
    parse_variance,
    slope_stability,
)

GRID_LOW = -20  # the scan grid: q = 2^k, k = GRID_LOW, GRID_LOW + 2, ..., GRID_HIGH
GRID_HIGH = 20
# the sign scan runs at the rough stage's precision, on its rules (one per factor 64 in q)
SCAN_DIGITS, SCAN_DPS, SCAN_SPAN = ROUGH_DIGITS, ROUGH_DPS, ROUGH_SPAN
DIRECTION_Q = "0.0000152587890625"  # 2^-16: where the sign of T(q) - q near q* = 0 is read
# ... on the scan's rules (V to 10^-(SCAN_DIGITS + 3)); |T(q) - q| below 10^-(SCAN_DIGITS + 1) q
# counts as zero (tanh: T(q) - q = -2 q^2 + ..., -3e-5 q there; GELU and ELU larger)
# a root's first solve: on float64 rules (gaussian_rule.Float64Rule) to START_DIGITS, until a
# Newton step moves less than 10^-START_RTOL_DIGITS (quadratic convergence: the root is then
# as good as those rules, ~1e-13); one Newton step at the working precision then lands within
# 10^-(digits + 2) of the root, which the check at the higher precision confirms
START_DIGITS = 12
START_RTOL_DIGITS = 7
MAX_FINE_STEPS = 3


@dataclass(frozen=True)
class CriticalPoint:
    """One solution of q* = T(q*), chi_1 = 1 (see the module docstring)."""

    weight_variance: mpmath.mpf  # sigma_w^2 = 1 / D(q*)
    q_star: mpmath.mpf | None  # None: every q is a fixed point (the ReLU family)
    slope: mpmath.mpf  # T'(q*)
    stability: str  # "stable", "marginal", "unstable", "neutral"
    xi_q: mpmath.mpf | None  # -1 / ln|T'(q*)|; inf when marginal or neutral; None if unstable
    xi_c: mpmath.mpf | None  # inf (chi_1 = 1); None when q* is unstable


@dataclass(frozen=True)
class Critical:
    label: str
    bias_variance: mpmath.mpf
    digits: int
    status: str  # "critical" (points found), "every q" (ReLU family, sigma_b^2 = 0), "none"
    points: tuple[CriticalPoint, ...]
    reason: str  # how the points were found, or why there are none


# --------------------------------------------------------------------------------------------
# The scan
# --------------------------------------------------------------------------------------------

_SCAN: dict[tuple[str, str, int], mpmath.mpf] = {}


def _ratio_minus_q(act: Activation, k: int) -> mpmath.mpf:
    """g(q) = V(q) / D(q) - q at q = 2^k, to SCAN_DIGITS (cached: pure in (activation, k))."""
    key = (act.name, act.label, k)
    if key not in _SCAN:
        if len(_SCAN) >= 4096:
            _SCAN.pop(next(iter(_SCAN)))
        with mpmath.workdps(SCAN_DPS):
            q = mpmath.mpf(2) ** k
            m = expectations(act, q, SCAN_DIGITS, SCAN_DPS, ("f2", "df2"), SCAN_SPAN)
            if not m["df2"] > 0:
                raise InputError(_no_derivative(act, q))
            _SCAN[key] = m["f2"] / m["df2"] - q
    return _SCAN[key]


def _ratio(act: Activation, lm: _Map) -> mpmath.mpf:
    if not lm.D > 0:
        raise InputError(_no_derivative(act, lm.q))
    return lm.V / lm.D


def _no_derivative(act: Activation, q: mpmath.mpf) -> str:
    return (
        f"activation {act.label}: E[f'(x)^2] = 0 at q = {mpmath.nstr(q, 6)}, so no finite "
        "weight variance gives chi_1 = 1 (accepted: activations with f' != 0)"
    )


def _grid(b2: mpmath.mpf) -> list[int]:
    """Exponents k of the scan grid q = 2^k (even k: factors of 4): from GRID_LOW, or for
    sigma_b^2 > 0 from the last grid point below sigma_b^2 (h > 0 there), to GRID_HIGH."""
    low = GRID_LOW
    if b2 > 0:
        with mpmath.workdps(SCAN_DPS):
            k = int(mpmath.floor(mpmath.log(b2, 2)))
            k -= k % 2
            while mpmath.mpf(2) ** k >= b2:
                k -= 2
        low = max(k, GRID_LOW - 400)
    return list(range(low, GRID_HIGH + 1, 2))


# --------------------------------------------------------------------------------------------
# Root refinement
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Map:
    """V(q) = E[f^2], D(q) = E[f'^2] and (where asked for) their q-derivatives
    (meanfield.length_map_at's formulas) at one q > 0."""

    q: mpmath.mpf
    V: mpmath.mpf
    D: mpmath.mpf
    dV: mpmath.mpf | None  # V'(q) = E[x f f'] / q
    dD: mpmath.mpf | None  # D'(q) = (E[x^2 f'^2] / q - D) / (2 q)


SLOPE_MOMENTS = ("f2", "df2", "xffp", "x2df2")  # h(q) and h'(q)
VALUE_MOMENTS = ("f2", "df2")  # h(q) alone
POINT_MOMENTS = ("f2", "df2", "xffp")  # h(q) and the slope T'(q*) = sigma_w^2 V'(q*)
_MAPS: dict[tuple[str, str, mpmath.mpf, int, int, int, tuple[str, ...]], _Map] = {}


def _length_map(
    act: Activation,
    q: mpmath.mpf,
    digits: int,
    dps: int,
    span: int = SPAN,
    which: tuple[str, ...] = SLOPE_MOMENTS,
) -> _Map:
    """The expectations ``which`` of _Map at q, to ``digits`` at ``dps`` (remembered for the
    last few: pure in its arguments, so a root's check and its point share one pass)."""
    key = (act.name, act.label, q, digits, dps, span, which)
    if key not in _MAPS:
        if len(_MAPS) >= 64:
            _MAPS.pop(next(iter(_MAPS)))
        m = expectations(act, q, digits, dps, which, span)
        with mpmath.workdps(dps):
            q = +q
            _MAPS[key] = _Map(
                q=q,
                V=m["f2"],
                D=m["df2"],
                dV=m["xffp"] / q if "xffp" in m else None,
                dD=(m["x2df2"] / q - m["df2"]) / (2 * q) if "x2df2" in m else None,
            )
    return _MAPS[key]


def _h(act: Activation, lm: _Map, b2: mpmath.mpf) -> mpmath.mpf:
    """h(q) of (*)."""
    return _ratio(act, lm) + b2 - lm.q


def _dh(lm: _Map) -> mpmath.mpf:
    """h'(q) (module docstring)."""
    assert lm.dV is not None and lm.dD is not None
    return (lm.dV * lm.D - lm.V * lm.dD) / (lm.D * lm.D) - 1


def _refine(
    act: Activation,
    b2: mpmath.mpf,
    lo: mpmath.mpf,
    hi: mpmath.mpf,
    lo_positive: bool,
    digits: int,
    dps: int,
) -> tuple[mpmath.mpf, _Map]:
    """The root of (*) in [lo, hi] and the map there at the check's precision.

    Safeguarded Newton steps on float64 rules to START_DIGITS (meanfield.bracketed_newton)
    give q0 and h'(q0) (~12 digits: a Newton step of relative size 1e-13 needs no more), then
    Newton steps q - h(q) / h'(q0) with h at (digits, dps), each followed by the check at
    (digits + VERIFY_DIGITS, dps + GUARD_DIGITS): the Newton step seen there, the root's
    distance at that precision, must be below 10^-(digits + 2) of the root (MAX_FINE_STEPS
    tries)."""

    def step_at(d: int, p: int, span: int) -> StepFn:
        def fn(q: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            lm = _length_map(act, q, d, p, span)
            return _h(act, lm, b2), _dh(lm)

        return fn

    what = f"critical point of {act.label} at sigma_b^2 = {mpmath.nstr(b2, 10)}"
    with mpmath.workdps(SCAN_DPS):
        q = bracketed_newton(
            step_at(START_DIGITS, SCAN_DPS, SCAN_SPAN),
            lo,
            hi,
            mpmath.sqrt(lo * hi),
            mpmath.mpf(10) ** -START_RTOL_DIGITS,
            what,
            lo_positive,
        )
        dh = step_at(START_DIGITS, SCAN_DPS, SCAN_SPAN)(q)[1]
    if dh == 0:
        raise InputError(f"{what}: h'(q) = 0 at the root (accepted: simple roots)")
    check_digits, check_dps = digits + VERIFY_DIGITS, dps + GUARD_DIGITS
    moved = mpmath.inf
    for _ in range(MAX_FINE_STEPS):
        with mpmath.workdps(dps):
            q = q - _h(act, _length_map(act, q, digits, dps, SPAN, VALUE_MOMENTS), b2) / dh
        with mpmath.workdps(check_dps):
            lm = _length_map(act, q, check_digits, check_dps, SPAN, POINT_MOMENTS)
            moved = abs(_h(act, lm, b2) / dh)
            if moved <= mpmath.mpf(10) ** -(digits + 2) * abs(q):
                return q, lm
    raise InputError(
        f"{what}: the solves at {dps} and {check_dps} working digits disagree "
        f"(a Newton step at {check_dps} digits moves {mpmath.nstr(q, digits)} by "
        f"{mpmath.nstr(moved, 3)})"
    )


def _point(lm: _Map, q_star: mpmath.mpf, weight_variance: mpmath.mpf, digits: int) -> CriticalPoint:
    assert lm.dV is not None
    slope = weight_variance * lm.dV
    stability, xi_q = slope_stability(slope, digits)
    xi_c = mpmath.inf if stability != "unstable" else None
    return CriticalPoint(weight_variance, q_star, slope, stability, xi_q, xi_c)


# --------------------------------------------------------------------------------------------
# The critical point(s) for one bias variance
# --------------------------------------------------------------------------------------------


def critical_point(
    name_or_expression: str | Activation,
    bias_variance: object,
    param: object = None,
    digits: object = 20,
) -> Critical:
    """Every (sigma_w^2, q*) with q* = T(q*) and chi_1 = 1 for this bias variance (module
    docstring), each with T'(q*), its stability and the depth scales xi_q, xi_c."""
    n = parse_digits(digits)
    act = (
        name_or_expression
        if isinstance(name_or_expression, Activation)
        else activation(name_or_expression, param)
    )
    b2_dec = parse_variance(bias_variance, "bias variance")
    dps = n + GUARD_DIGITS
    with mpmath.workdps(dps + GUARD_DIGITS):
        b2 = to_mpf(b2_dec)
        if act.homogeneous:
            return _homogeneous(act, b2, n, dps)
        points: list[CriticalPoint] = []
        notes: list[str] = []
        zero = _zero_point(act, b2, n, dps)
        if zero is not None:
            points.append(zero)
            notes.append("q* = 0 (sigma_b^2 = 0, f(0) = 0): sigma_w^2 = 1 / D(0)")
        grid = _grid(b2)
        with mpmath.workdps(SCAN_DPS):
            values = [(k, _ratio_minus_q(act, k) + b2) for k in grid]
            # zero to the scan's accuracy (V, D to 10^-(SCAN_DIGITS + 3)): no sign to read
            signed = [
                (k, v) for k, v in values if abs(v) > mpmath.mpf(10) ** -(SCAN_DIGITS - 2) * 2**k
            ]
        if not signed:
            return _every_q(act, b2, n, dps, "V(q) / D(q) = q on the whole grid")
        brackets = [
            (k0, k1, bool(v0 > 0))
            for (k0, v0), (k1, v1) in itertools.pairwise(signed)
            if (v0 > 0) != (v1 > 0)
        ]
        for k0, k1, lo_positive in brackets:
            with mpmath.workdps(dps + GUARD_DIGITS):
                lo, hi = mpmath.mpf(2) ** k0, mpmath.mpf(2) ** k1
                q_star, lm = _refine(act, b2, lo, hi, lo_positive, n, dps)
                points.append(_point(lm, q_star, 1 / lm.D, n))
        low_q = mpmath.nstr(mpmath.mpf(2) ** grid[0], 3)
        high_q = mpmath.nstr(mpmath.mpf(2) ** grid[-1], 3)
        grid_text = f"q = 4^k in [{low_q}, {high_q}]"
        if not points:
            sign, side = ("> 0", "T(q) > q") if signed[-1][1] > 0 else ("< 0", "T(q) < q")
            return Critical(
                act.label,
                b2,
                n,
                "none",
                (),
                f"h(q) = V(q)/D(q) + sigma_b^2 - q {sign} at every {grid_text}: at the weight "
                f"variance 1/D(q) that makes chi_1 = 1 there, {side}, so no q is a fixed point",
            )
        found = (
            f"{len(brackets)} sign change(s) of h(q) = V(q)/D(q) + sigma_b^2 - q on {grid_text}, "
            "each root solved at two precisions"
        )
        return Critical(act.label, b2, n, "critical", tuple(points), "; ".join([*notes, found]))


def _homogeneous(act: Activation, b2: mpmath.mpf, n: int, dps: int) -> Critical:
    """The ReLU family: f(x) = x f'(x), so V(q) = q D and (*) reads h(q) = sigma_b^2."""
    if b2 == 0:
        return _every_q(act, b2, n, dps, "f(x) = x f'(x): V(q) = q D(q) for every q")
    return Critical(
        act.label,
        b2,
        n,
        "none",
        (),
        "f(x) = x f'(x) gives V(q) = q D, so at chi_1 = 1 "
        "T(q) = q + sigma_b^2 and the second moment grows without bound "
        "(a critical point needs sigma_b^2 = 0)",
    )


def _every_q(act: Activation, b2: mpmath.mpf, n: int, dps: int, why: str) -> Critical:
    with mpmath.workdps(dps):
        d = expectations(act, mpmath.mpf(1), n + 2, dps, ("df2",))["df2"]
        point = CriticalPoint(
            weight_variance=1 / d,
            q_star=None,
            slope=mpmath.mpf(1),
            stability="neutral",
            xi_q=mpmath.inf,
            xi_c=mpmath.inf,
        )
    return Critical(
        act.label,
        b2,
        n,
        "every q",
        (point,),
        f"every q > 0 is a fixed point at sigma_w^2 = 1 / D ({why})",
    )


def _zero_point(act: Activation, b2: mpmath.mpf, n: int, dps: int) -> CriticalPoint | None:
    """q* = 0 when sigma_b^2 = 0 and f(0) = 0 (module docstring), else None."""
    if b2 != 0:
        return None
    with mpmath.workdps(dps):
        if act.f(mpmath.mpf(0)) != 0:
            return None
        d0 = one_sided_derivative_square(act, dps)
        if not d0 > 0:
            return None
        w2 = 1 / d0
    with mpmath.workdps(SCAN_DPS):
        q = mpmath.mpf(DIRECTION_Q)
        m = expectations(act, q, SCAN_DIGITS, SCAN_DPS, ("f2",), SCAN_SPAN)
        excess = m["f2"] / d0 - q  # T(q) - q at sigma_w^2 = 1 / D(0)
        tiny = abs(excess) <= mpmath.mpf(10) ** -(SCAN_DIGITS + 1) * q
    if tiny:
        stability, xi_q, xi_c = "neutral", mpmath.inf, mpmath.inf
    elif excess < 0:
        stability, xi_q, xi_c = "marginal", mpmath.inf, mpmath.inf
    else:
        stability, xi_q, xi_c = "unstable", None, None
    with mpmath.workdps(dps):
        return CriticalPoint(w2, mpmath.mpf(0), mpmath.mpf(1), stability, xi_q, xi_c)
