"""Mean-field signal propagation at any point (sigma_w^2, sigma_b^2) (Poole et al. 2016;
Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep Information Propagation").

For a wide network with weights N(0, sigma_w^2 / n) and biases N(0, sigma_b^2), the
pre-activations' second moment q follows the length map (Poole et al. eq. 3; Schoenholz et al.
section 2)::

    q_l = T(q_{l-1}) = sigma_w^2 V(q_{l-1}) + sigma_b^2,    V(q) = E[f(sqrt(q) z)^2]

and the correlation c of two inputs the correlation map (same sources)::

    C(c) = (sigma_w^2 E[f(u1) f(u2)] + sigma_b^2) / q*,  (u1, u2) ~ N(0, q* [[1, c], [c, 1]])

Its fixed point q* is the one the iteration reaches from q_0 (T is increasing for every
built-in).  At q* (Schoenholz et al. sections 2-3)::

    chi_1 = sigma_w^2 E[f'(x)^2] = C'(1)               x ~ N(0, q*)
    slope = T'(q*) = sigma_w^2 E[x f(x) f'(x)] / q*
          = chi_1 + sigma_w^2 E[f(x) f''(x)]           (Stein's lemma)
    xi_q  = -1 / ln |T'(q*)|                             (|q_l - q*| ~ exp(-l / xi_q))
    chi_c = C'(c*) = sigma_w^2 E[f'(u1) f'(u2)] at c*  (Price's theorem: dE[f f]/dc = q E[f' f'])
    xi_c  = -1 / ln chi_c                                (|c_l - c*| ~ exp(-l / xi_c))

with c* the stable fixed point of C: c* = 1 and chi_c = chi_1 in the ordered phase (chi_1 < 1);
in the chaotic phase (chi_1 > 1) c = 1 repels and c* < 1 solves C(c*) = c*, found by Newton
steps from c = 0 (C is increasing and convex on [0, 1], C(0) >= 0, so they climb monotonically
to c*); at chi_1 = 1 (critical) xi_c diverges and is reported as infinite.  ``depth_scale`` keeps
this module's earlier quantity 1 / |ln chi_1| (for chi_1 > 1: the depth over which nearby inputs
separate by a factor e).

Weight variance alone (sigma_b = 0): every q > 0 is the fixed point of sigma_w^2 =
q / V(q), and it is stable exactly when the elasticity e(q) = q V'(q) / V(q) is below 1.
For the ReLU family e = 1 (every q is a neutral fixed point at He's sigma_w^2); for GELU
and SiLU e(q) > 1 for all q > 0 (V(q)/q rises from f'(0)^2 = 1/4 to the ReLU value 1/2),
so no weight variance alone keeps the second moment stably: a fixed point exists for each
sigma_w but it repels, and the second moment drifts to 0 or grows without bound.

The expectations come from :mod:`derive.maths.gaussian_rule` (nodes fixed in x, shared by every
q); every root is checked at a higher precision: for q* the Newton step seen there must be below
10^-(digits + 2) of the root, c* is solved again there and must agree to digits + 2.
``second_moment_map`` and its companions below are the plain one-q-at-a-time mpmath
quadratures kept as the independent reference.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass

import mpmath

from ..core.errors import InputError
from ..core.numbers import parse_bound, parse_digits, to_mpf
from .activations import Activation, activation
from .gains import GUARD_DIGITS, gaussian_expectation
from .gaussian_rule import SPAN, expectations, rule_for

ELASTICITY_GRID: tuple[str, ...] = (
    "0.01",
    "0.0316",
    "0.1",
    "0.316",
    "1",
    "3.16",
    "10",
    "31.6",
    "100",
)
Q_MIN = "1e-6"
Q_MAX = "1e6"
MAX_VARIANCE = decimal.Decimal(10000)
VERIFY_DIGITS = 5  # the check solve: digits + VERIFY_DIGITS at dps + GUARD_DIGITS
MAX_NEWTON = 60
ROUGH_DIGITS = 6  # the first, cheap stage of every root solve (and the critical scan)
ROUGH_DPS = 16
ROUGH_SPAN = 64  # its rules serve a factor of ROUGH_SPAN in q each
StepFn = Callable[[mpmath.mpf], tuple[mpmath.mpf, mpmath.mpf]]
StepAt = Callable[[int, int, int], StepFn]  # (digits, dps, span) -> (value, derivative)


@dataclass(frozen=True)
class LengthMap:
    """V(q) = E[f^2], D(q) = E[f'^2], their q-derivatives and E[f], E[f'] at one q > 0."""

    q: mpmath.mpf
    V: mpmath.mpf
    D: mpmath.mpf
    dV: mpmath.mpf  # V'(q) = E[x f f'] / q
    dD: mpmath.mpf  # D'(q) = (E[x^2 f'^2] / q - D) / (2 q)
    mean_f: mpmath.mpf
    mean_df: mpmath.mpf


_LENGTH_MAPS: dict[tuple[str, str, mpmath.mpf, int, int, int], LengthMap] = {}


def length_map(
    act: Activation, q: mpmath.mpf, digits: int, dps: int, span: int = SPAN
) -> LengthMap:
    """:func:`length_map_at`, remembered for the last few (activation, q, precision): a pure
    function, so the memo is exact (a root's check and the caller's values share one pass)."""
    key = (act.name, act.label, q, digits, dps, span)
    if key not in _LENGTH_MAPS:
        if len(_LENGTH_MAPS) >= 64:
            _LENGTH_MAPS.pop(next(iter(_LENGTH_MAPS)))
        _LENGTH_MAPS[key] = length_map_at(act, q, digits, dps, span)
    return _LENGTH_MAPS[key]


def length_map_at(
    act: Activation, q: mpmath.mpf, digits: int, dps: int, span: int = SPAN
) -> LengthMap:
    """The length map's ingredients at q > 0, x ~ N(0, q).

    d/dq E[g(x)] = E[x g'(x)] / (2 q) (the heat equation for the Gaussian), so
    V'(q) = E[x f f'] / q; with Stein's lemma E[x k(x)] = q E[k'(x)] for k = x f'^2,
    D'(q) = E[x (f'^2)'] / (2 q) = (E[x^2 f'^2] / q - E[f'^2]) / (2 q).
    """
    m = expectations(act, q, digits, dps, span=span)
    with mpmath.workdps(dps):
        q = +q
        return LengthMap(
            q=q,
            V=m["f2"],
            D=m["df2"],
            dV=m["xffp"] / q,
            dD=(m["x2df2"] / q - m["df2"]) / (2 * q),
            mean_f=m["f"],
            mean_df=m["df"],
        )


def one_sided_derivative_square(act: Activation, dps: int) -> mpmath.mpf:
    """D(0) = lim_{q -> 0} E[f'(sqrt(q) z)^2]: the mean of f'(0-)^2 and f'(0+)^2."""
    with mpmath.workdps(dps):
        eps = mpmath.mpf(10) ** (-dps)
        return (act.df(eps) ** 2 + act.df(-eps) ** 2) / 2


def slope_stability(slope: mpmath.mpf, digits: int) -> tuple[str, mpmath.mpf | None]:
    """The verdict on a fixed point of a map with this slope, and its depth scale.

    |slope| < 1: "stable", xi = -1 / ln |slope| (0 for slope 0); |slope| = 1 to ``digits``
    digits: "marginal", xi = inf (the approach, if any, is slower than exponential);
    |slope| > 1: "unstable", no depth scale (None).
    """
    tol = mpmath.mpf(10) ** (-digits)
    size = abs(slope)
    if abs(size - 1) <= tol:
        return "marginal", mpmath.inf
    if size < 1:
        return "stable", (mpmath.mpf(0) if size == 0 else -1 / mpmath.log(size))
    return "unstable", None


# --------------------------------------------------------------------------------------------
# Roots: safeguarded Newton, then the same at a higher precision
# --------------------------------------------------------------------------------------------


def bracketed_newton(
    fn: StepFn,
    lo: mpmath.mpf,
    hi: mpmath.mpf,
    start: mpmath.mpf,
    rtol: mpmath.mpf,
    what: str,
    lo_positive: bool | None = None,
) -> mpmath.mpf:
    """A root of fn (value, derivative) in [lo, hi], where fn(lo) and fn(hi) differ in sign:
    Newton steps kept inside the shrinking bracket, bisection (geometric when lo > 0) whenever a
    step would leave it.  Stops when a step moves less than ``rtol`` relative.  The sign of
    fn(lo) is computed unless given (``lo_positive``)."""
    f_lo = fn(lo)[0] if lo_positive is None else mpmath.mpf(1 if lo_positive else -1)
    q = start
    for _ in range(MAX_NEWTON):
        value, deriv = fn(q)
        if value == 0:
            return q
        if (value > 0) == (f_lo > 0):
            lo, f_lo = q, value
        else:
            hi = q
        candidate = q - value / deriv if deriv != 0 else lo - 1
        if not lo < candidate < hi:
            candidate = mpmath.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
        if abs(candidate - q) <= rtol * abs(q):
            return candidate
        q = candidate
    raise InputError(f"{what}: the root did not converge in {MAX_NEWTON} Newton steps")


def polish(
    fn: StepFn, lo: mpmath.mpf, hi: mpmath.mpf, start: mpmath.mpf, rtol: mpmath.mpf, what: str
) -> mpmath.mpf:
    """Plain Newton steps from a start already close to the root, stopping after a step that
    moves less than ``rtol`` relative, or one of relative size r with r <= r_prev^1.5 (the
    quadratic regime, shown by the step before) and r^2 <= rtol / 1000 (the error left after it
    is of order r^2); a step that leaves [lo, hi] or moves more than 10^-3 relative hands over
    to :func:`bracketed_newton`."""
    q = start
    previous: mpmath.mpf | None = None
    for _ in range(8):
        value, deriv = fn(q)
        if value == 0:
            return q
        new = q - value / deriv if deriv != 0 else lo - 1
        if not lo < new < hi or abs(new - q) > abs(q) / 1000:
            break
        r = abs(new - q) / abs(q)
        if r <= rtol or (previous is not None and r <= previous**1.5 and r * r <= rtol / 1000):
            return new
        previous, q = r, new
    return bracketed_newton(fn, lo, hi, start, rtol, what)


def solve_root(
    step_at: StepAt,
    lo: mpmath.mpf,
    hi: mpmath.mpf,
    digits: int,
    dps: int,
    what: str,
    lo_positive: bool | None = None,
) -> mpmath.mpf:
    """The root in [lo, hi] (lo > 0) to ``digits`` digits: a rough solve (ROUGH_DIGITS), Newton
    steps at (digits, dps) to 10^-(digits + 4), and a check at (digits + VERIFY_DIGITS,
    dps + GUARD_DIGITS): the Newton step there, the root's distance as that precision sees it,
    must be below 10^-(digits + 2) of the root.  ``step_at(d, p, span)`` gives
    the function (value, derivative) with expectations to d digits at p working digits on rules
    of that span."""
    with mpmath.workdps(ROUGH_DPS):
        rough = bracketed_newton(
            step_at(ROUGH_DIGITS, ROUGH_DPS, ROUGH_SPAN),
            lo,
            hi,
            mpmath.sqrt(lo * hi),
            mpmath.mpf(10) ** -(ROUGH_DIGITS - 1),
            what,
            lo_positive,
        )
    with mpmath.workdps(dps):
        root = polish(
            step_at(digits, dps, SPAN), lo, hi, rough, mpmath.mpf(10) ** -(digits + 4), what
        )
    # the check: one Newton step at the higher precision must move the root by less than
    # 10^-(digits + 2) of it (the step is the distance to the root seen at that precision)
    check_dps = dps + GUARD_DIGITS
    with mpmath.workdps(check_dps):
        value, deriv = step_at(digits + VERIFY_DIGITS, check_dps, SPAN)(root)
        moved = abs(value / deriv) if deriv != 0 else mpmath.inf
        if moved > mpmath.mpf(10) ** -(digits + 2) * abs(root):
            raise InputError(
                f"{what}: the solves at {dps} and {check_dps} working digits disagree "
                f"(a Newton step at {check_dps} digits moves {mpmath.nstr(root, digits)} by "
                f"{mpmath.nstr(moved, 3)})"
            )
    return root


# --------------------------------------------------------------------------------------------
# The point (sigma_w^2, sigma_b^2)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeanField:
    label: str
    weight_variance: mpmath.mpf  # sigma_w^2
    bias_variance: mpmath.mpf  # sigma_b^2
    sigma_w: mpmath.mpf
    sigma_b: mpmath.mpf
    digits: int
    fixed_point: str  # "finite", "zero", "divergent", "every q"
    q_star: mpmath.mpf  # 0, finite, or inf ("every q": the q_0 it was asked from)
    chi1: mpmath.mpf | None  # None when q* is infinite
    slope: mpmath.mpf | None  # T'(q*)
    stability: str  # of q*: "stable", "marginal", "unstable", "neutral", "undefined"
    xi_q: mpmath.mpf | None  # -1 / ln |T'(q*)|; inf when marginal or neutral
    phase: str  # "ordered", "critical", "chaotic", "undefined"
    c_star: mpmath.mpf | None  # stable fixed point of the correlation map (None: no signal)
    chi_c: mpmath.mpf | None  # C'(c*)
    xi_c: mpmath.mpf | None  # -1 / ln chi_c; inf at chi_1 = 1
    depth_scale: mpmath.mpf | None  # 1 / |ln chi_1|; inf at chi_1 = 1
    weight_only: str  # "stable", "marginal", "none": see weight_only_stability
    min_elasticity: mpmath.mpf


def meanfield_point(
    name_or_expression: str | Activation,
    weight_variance: object,
    bias_variance: object = 0,
    param: object = None,
    digits: object = 15,
    q0: object = 1,
) -> MeanField:
    """q*, chi_1, T'(q*) and its stability, the phase, c*, chi_c and the depth scales xi_q,
    xi_c at (sigma_w^2, sigma_b^2) (module docstring); q* is the fixed point reached from q0."""
    n = parse_digits(digits)
    act = _activation(name_or_expression, param)
    w2_dec = parse_variance(weight_variance, "weight variance", positive=True)
    b2_dec = parse_variance(bias_variance, "bias variance", positive=False)
    q0_dec = parse_bound(q0, "q0")
    if q0_dec.is_infinite() or not q0_dec > 0:
        raise InputError(f"q0: {q0!r} is out of range (accepted: a finite real > 0)")
    dps = n + GUARD_DIGITS
    with mpmath.workdps(dps + GUARD_DIGITS):
        w2, b2, start = to_mpf(w2_dec), to_mpf(b2_dec), to_mpf(q0_dec)
        sw, sb = mpmath.sqrt(w2), mpmath.sqrt(b2)
        verdict, low = weight_only_stability(act, min(dps, 20))
        kind, q = _find_fixed_point(act, w2, b2, start, n, dps)
        common = {
            "label": act.label,
            "weight_variance": w2,
            "bias_variance": b2,
            "sigma_w": sw,
            "sigma_b": sb,
            "digits": n,
            "weight_only": verdict,
            "min_elasticity": low,
        }
        if kind == "divergent":
            return MeanField(
                fixed_point=kind,
                q_star=q,
                chi1=None,
                slope=None,
                stability="undefined",
                xi_q=None,
                phase="undefined",
                c_star=None,
                chi_c=None,
                xi_c=None,
                depth_scale=None,
                **common,
            )
        if q == 0:
            d0 = one_sided_derivative_square(act, dps)
            chi1 = w2 * d0
            slope = chi1  # T'(0) = sigma_w^2 V'(0) = sigma_w^2 D(0) when f(0) = 0
            lm = None
        else:
            lm = length_map(act, q, n + 2, dps + GUARD_DIGITS)
            chi1 = w2 * lm.D
            slope = w2 * lm.dV
        if kind == "every q":
            stability, xi_q = "neutral", mpmath.inf
        else:
            stability, xi_q = slope_stability(slope, n)
        tol = mpmath.mpf(10) ** (-n)
        if abs(chi1 - 1) <= tol:
            phase, depth = "critical", mpmath.inf
        else:
            phase = "ordered" if chi1 < 1 else "chaotic"
            depth = 1 / abs(mpmath.log(chi1))
        c_star: mpmath.mpf | None
        chi_c: mpmath.mpf | None
        xi_c: mpmath.mpf | None
        if lm is None:  # q* = 0: no signal, no correlation
            c_star = chi_c = xi_c = None
        elif phase == "critical":
            c_star, chi_c, xi_c = mpmath.mpf(1), mpmath.mpf(1), mpmath.inf
        elif phase == "ordered":
            c_star, chi_c, xi_c = mpmath.mpf(1), chi1, -1 / mpmath.log(chi1)
        else:
            c_star, chi_c = correlation_fixed_point(act, lm, w2, b2, n, dps)
            xi_c = -1 / mpmath.log(chi_c)
        return MeanField(
            fixed_point=kind,
            q_star=q,
            chi1=chi1,
            slope=slope,
            stability=stability,
            xi_q=xi_q,
            phase=phase,
            c_star=c_star,
            chi_c=chi_c,
            xi_c=xi_c,
            depth_scale=depth,
            **common,
        )


def meanfield(
    name_or_expression: str | Activation,
    sigma_w: object,
    sigma_b: object = 0,
    param: object = None,
    digits: object = 15,
    q0: object = 1,
) -> MeanField:
    """:func:`meanfield_point` with the weight and bias *standard deviations* sigma_w > 0,
    sigma_b >= 0 (their squares are taken exactly, in decimal)."""
    values = {}
    for label, v in (("sigma_w", sigma_w), ("sigma_b", sigma_b)):
        d = parse_bound(v, label)
        if d.is_infinite() or d < 0 or (label == "sigma_w" and d == 0) or d * d > MAX_VARIANCE:
            low = ">= 0" if label == "sigma_b" else "> 0"
            raise InputError(
                f"{label}: {v!r} is out of range (accepted: a finite real {low}, "
                f"square <= {MAX_VARIANCE})"
            )
        values[label] = d
    exact = decimal.Context(prec=10000)  # a square of a decimal, exactly
    w2 = exact.multiply(values["sigma_w"], values["sigma_w"])
    b2 = exact.multiply(values["sigma_b"], values["sigma_b"])
    return meanfield_point(name_or_expression, w2, b2, param, digits, q0)


def _activation(name_or_expression: str | Activation, param: object) -> Activation:
    if isinstance(name_or_expression, Activation):
        return name_or_expression
    return activation(name_or_expression, param)


def parse_variance(value: object, name: str, *, positive: bool = False) -> decimal.Decimal:
    """A variance as an exact Decimal: finite, >= 0 (> 0 when ``positive``), <= 1e4."""
    d = parse_bound(value, name)
    low_ok = d > 0 if positive else d >= 0
    if d.is_infinite() or not low_ok or d > MAX_VARIANCE:
        low = "> 0" if positive else ">= 0"
        raise InputError(
            f"{name}: {value!r} is out of range (accepted: a finite real {low} and "
            f"<= {MAX_VARIANCE})"
        )
    return d


def _find_fixed_point(
    act: Activation, w2: mpmath.mpf, b2: mpmath.mpf, q0: mpmath.mpf, n: int, dps: int
) -> tuple[str, mpmath.mpf]:
    """The fixed point the iteration q -> T(q) reaches from q0 (T increasing): the first
    root of g(q) = T(q) - q in the direction of motion, bracketed by doubling/halving
    within [Q_MIN, Q_MAX]; beyond them the second moment is reported as vanishing or
    divergent.  For the ReLU family V(q) = q V(1) exactly and q* is solved directly."""
    tol = mpmath.mpf(10) ** (-(n + 2))
    if act.homogeneous:
        c = w2 * length_map(act, mpmath.mpf(1), n + 2, dps).V
        if abs(c - 1) <= tol:
            return ("every q", q0) if b2 == 0 else ("divergent", mpmath.inf)
        if c > 1:
            return "divergent", mpmath.inf
        return ("zero", mpmath.mpf(0)) if b2 == 0 else ("finite", b2 / (1 - c))

    def step_at(d: int, p: int, span: int) -> StepFn:
        def fn(q: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            lm = length_map(act, q, d, p, span)
            return w2 * lm.V + b2 - q, w2 * lm.dV - 1

        return fn

    rough = step_at(ROUGH_DIGITS, ROUGH_DPS, ROUGH_SPAN)
    with mpmath.workdps(ROUGH_DPS):
        g0, _ = rough(q0)
        if abs(g0) <= mpmath.mpf(10) ** -(ROUGH_DIGITS - 2) * q0:
            lo, hi = q0 / 2, q0 * 2
            if (rough(lo)[0] > 0) == (rough(hi)[0] > 0):
                return "finite", solve_point_near(step_at, q0, n, dps)
        else:
            step = mpmath.mpf(2) if g0 > 0 else mpmath.mpf(1) / 2
            lo = q0
            q_min, q_max = mpmath.mpf(Q_MIN), mpmath.mpf(Q_MAX)
            while True:
                hi = lo * step
                if not q_min <= hi <= q_max:
                    return ("divergent", mpmath.inf) if g0 > 0 else ("zero", mpmath.mpf(0))
                if (rough(hi)[0] > 0) != (g0 > 0):
                    break
                lo = hi
            lo, hi = min(lo, hi), max(lo, hi)
    what = f"fixed point of the length map of {act.label}"
    return "finite", solve_root(step_at, lo, hi, n, dps, what)


def solve_point_near(step_at: StepAt, q: mpmath.mpf, n: int, dps: int) -> mpmath.mpf:
    """q itself is a root to the rough precision and g does not change sign around it (a
    tangency): refine it by Newton steps without a bracket."""
    for d, p in ((n, dps), (n + VERIFY_DIGITS, dps + GUARD_DIGITS)):
        with mpmath.workdps(p):
            fn = step_at(d, p, SPAN)
            for _ in range(MAX_NEWTON):
                value, deriv = fn(q)
                if value == 0 or deriv == 0:
                    break
                new = q - value / deriv
                if abs(new - q) <= mpmath.mpf(10) ** -(d + 4) * abs(q):
                    q = new
                    break
                q = new
    return q


# --------------------------------------------------------------------------------------------
# The correlation map's fixed point in the chaotic phase
# --------------------------------------------------------------------------------------------


def correlation_map(
    act: Activation,
    q: mpmath.mpf,
    c: mpmath.mpf,
    w2: mpmath.mpf,
    b2: mpmath.mpf,
    digits: int,
    dps: int,
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """C(c) = (sigma_w^2 E[f(u1) f(u2)] + sigma_b^2) / q and its slope C'(c) = chi_c(c) =
    sigma_w^2 E[f'(u1) f'(u2)], (u1, u2) ~ N(0, q [[1, c], [c, 1]]), 0 <= c < 1 (Schoenholz et
    al. section 2; the slope by Price's theorem, d/dc E[f(u1) f(u2)] = q E[f'(u1) f'(u2)])."""
    with mpmath.workdps(dps):
        if c == 0:
            m = expectations(act, q, digits, dps, ("f", "df"))
            return (w2 * m["f"] ** 2 + b2) / q, w2 * m["df"] ** 2
        ff, dd = rule_for(act, q, digits, dps).bivariate(q, c)
        return (w2 * ff + b2) / q, w2 * dd


def correlation_fixed_point(
    act: Activation, lm: LengthMap, w2: mpmath.mpf, b2: mpmath.mpf, n: int, dps: int
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """c* < 1 and chi_c = C'(c*) in the chaotic phase (chi_1 > 1): Newton steps from c = 0 on
    C(c) - c (convex, positive at 0, zero at c* and at 1), first to ROUGH_DIGITS, then at the
    working precision to 10^-(n + 4) (a step of relative size r <= r_prev^1.5 with
    r^2 <= 10^-(n + 7) ends it: the quadratic regime); c* = 0 exactly when C(0) = 0 (an odd f
    without bias).  The check: at (n + VERIFY_DIGITS, dps + GUARD_DIGITS) the Newton step from
    c* must be below 10^-(n + 2); chi_c is C'(c*) from that evaluation."""
    q = lm.q
    what = f"correlation fixed point of {act.label}"
    with mpmath.workdps(dps):
        c0 = (w2 * lm.mean_f**2 + b2) / q
        if abs(c0) <= mpmath.mpf(10) ** -(n + 2):
            return mpmath.mpf(0), w2 * lm.mean_df**2

    def step(c: mpmath.mpf, d: int, p: int) -> tuple[mpmath.mpf, mpmath.mpf]:
        """The Newton step (C(c) - c) / (1 - C'(c)) and C'(c)."""
        value, slope = correlation_map(act, q, c, w2, b2, d + 2, p)
        if not slope < 1:  # left of c* (and at it) the slope is below 1 (convexity)
            raise InputError(
                f"{what}: C'(c) = {mpmath.nstr(slope, 6)} >= 1 at c = {mpmath.nstr(c, 8)}"
            )
        return (value - c) / (1 - slope), slope

    c = mpmath.mpf(0)
    for d, p in ((ROUGH_DIGITS, ROUGH_DPS), (n, dps)):
        with mpmath.workdps(p):
            c, previous = +c, None
            tol = mpmath.mpf(10) ** -(d + 4)
            for _ in range(MAX_NEWTON):
                delta, _ = step(c, d, p)
                c += delta
                r = abs(delta)
                if r <= tol or (
                    previous is not None and r <= previous**1.5 and r * r <= tol / 1000
                ):
                    break
                previous = r
            else:
                raise InputError(f"{what}: did not converge in {MAX_NEWTON} Newton steps")
            if not 0 <= c < 1:
                raise InputError(f"{what}: Newton left [0, 1) (c = {mpmath.nstr(c, 8)})")
    check_dps = dps + GUARD_DIGITS
    with mpmath.workdps(check_dps):
        delta, chi_c = step(c, n + VERIFY_DIGITS, check_dps)
        if abs(delta) > mpmath.mpf(10) ** -(n + 2):
            raise InputError(
                f"{what}: the solves at {dps} and {check_dps} working digits disagree "
                f"(a Newton step moves c* = {mpmath.nstr(c, n)} by {mpmath.nstr(delta, 3)})"
            )
        return +c, chi_c


# --------------------------------------------------------------------------------------------
# Weight variance alone
# --------------------------------------------------------------------------------------------


def elasticity(act: Activation, q: mpmath.mpf, dps: int) -> mpmath.mpf:
    """e(q) = q V'(q) / V(q): the length map's slope at q when q is its fixed point."""
    lm = length_map(act, q, max(dps - GUARD_DIGITS, 5), dps)
    with mpmath.workdps(dps):
        return q * lm.dV / lm.V


def weight_only_stability(act: Activation, dps: int) -> tuple[str, mpmath.mpf]:
    """Can a weight variance alone (sigma_b = 0) hold the second moment at a stable q* > 0?

    On the grid ELASTICITY_GRID (q from 0.01 to 100): "stable" if e(q) < 1 somewhere,
    "marginal" if e(q) = 1 everywhere (to 10^-(dps/2)), otherwise "none".
    Returns the verdict and the smallest elasticity seen.
    """
    with mpmath.workdps(dps):
        es = [elasticity(act, to_mpf_text(q), dps) for q in ELASTICITY_GRID]
        tol = mpmath.mpf(10) ** (-(dps // 2))
        low = min(es)
        if low < 1 - tol:
            return "stable", low
        if all(abs(e - 1) <= tol for e in es):
            return "marginal", low
        return "none", low


def to_mpf_text(text: str) -> mpmath.mpf:
    return to_mpf(decimal.Decimal(text))


# --------------------------------------------------------------------------------------------
# Reference quadratures, one q at a time (mpmath.quad via derive.maths.gains)
# --------------------------------------------------------------------------------------------


def second_moment_map(act: Activation, q: mpmath.mpf, dps: int) -> mpmath.mpf:
    """V(q) = E[f(sqrt(q) z)^2]; V(0) = f(0)^2."""
    with mpmath.workdps(dps):
        if q == 0:
            return act.f(mpmath.mpf(0)) ** 2
        return gaussian_expectation(lambda x: act.f(x) ** 2, act, dps, mpmath.sqrt(q), "f2")[0]


def second_moment_map_derivative(act: Activation, q: mpmath.mpf, dps: int) -> mpmath.mpf:
    """V'(q) = E[x f(x) f'(x)] / q, x ~ N(0, q) (differentiation under the integral)."""
    with mpmath.workdps(dps):
        value, _ = gaussian_expectation(
            lambda x: x * act.f(x) * act.df(x), act, dps, mpmath.sqrt(q), "xffp"
        )
        return value / q


def derivative_second_moment(act: Activation, q: mpmath.mpf, dps: int) -> mpmath.mpf:
    """E[f'(sqrt(q) z)^2]; at q = 0 the mean of the one-sided limits of f'(0)^2."""
    with mpmath.workdps(dps):
        if q == 0:
            return one_sided_derivative_square(act, dps)
        return gaussian_expectation(lambda x: act.df(x) ** 2, act, dps, mpmath.sqrt(q), "df2")[0]
