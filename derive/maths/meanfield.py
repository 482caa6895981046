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
in the chaotic phase (chi_1 > 1) c = 1 repels and c* < 1 solves C(c*) = c*, from Mehler's
series C(c) = (sigma_w^2 sum_n beta_n c^n + sigma_b^2) / q* (beta_n >= 0 the squared Hermite
coefficients of f at q*, computed once, :class:`MehlerSeries`), written near c = 1 as a sum of
positive terms in eps = 1 - c, so that the cost stays bounded as c* -> 1 next to the critical
line; at chi_1 = 1 (critical) xi_c diverges and is reported as infinite.  ``depth_scale`` keeps
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
10^-(digits + 2) of the root, c* is solved again there and c*, chi_c and ln chi_c must agree to
digits + 2.  A depth scale -1 / ln x with x near 1 (next to the critical line, or a q* near
marginal) loses log10(1 / |ln x|) digits to x's error, and a tiny C(0) = sigma_w^2 E[f]^2 / q*
(SELU at its designed fixed point) needs E[f] to that many more digits: the point is then
solved again with those digits (:func:`meanfield_point`), within a fixed budget of passes,
Hermite terms and quadrature work; what the budget cannot resolve is refused (InputError),
never printed.
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
from .gaussian_rule import MAX_HERMITE, SPAN, expectations, rule_for

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
MAX_PASSES = 4  # solves of one mean-field point at rising digits (conditioning, tiny C(0))
MAX_EXTRA_DIGITS = 150  # beyond the digits asked
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
    xi_c at (sigma_w^2, sigma_b^2) (module docstring); q* is the fixed point reached from q0.

    Next to the critical line or to a marginal q* a depth scale -1 / ln x (x = chi_1, chi_c,
    |T'(q*)|) amplifies the relative error of x by 1 / |ln x|: everything is then solved
    again with that many more digits (``conditioning_digits``), at most twice."""
    n = parse_digits(digits)
    act = _activation(name_or_expression, param)
    w2_dec = parse_variance(weight_variance, "weight variance", positive=True)
    b2_dec = parse_variance(bias_variance, "bias variance", positive=False)
    q0_dec = parse_bound(q0, "q0")
    if q0_dec.is_infinite() or not q0_dec > 0:
        raise InputError(f"q0: {q0!r} is out of range (accepted: a finite real > 0)")
    inner = n
    for _ in range(MAX_PASSES):
        point = _point(act, w2_dec, b2_dec, q0_dec, n, inner, with_correlation=False)
        need = n + conditioning_digits(point)
        if need > inner:  # the depth scales of this point need more digits of chi_1, T'(q*)
            inner = need
            point = _point(act, w2_dec, b2_dec, q0_dec, n, inner, with_correlation=False)
        if point.phase != "chaotic" or point.chi1 is None or point.q_star == 0:
            return point
        try:
            point = _point(act, w2_dec, b2_dec, q0_dec, n, inner, with_correlation=True)
        except NeedDigits as more:  # C(0) = sigma_w^2 E[f]^2 / q* is tiny: resolve E[f]
            if more.digits > n + MAX_EXTRA_DIGITS:
                raise InputError(
                    f"correlation fixed point of {act.label}: C(0) = sigma_w^2 E[f]^2 / q* "
                    f"is below {mpmath.nstr(more.bound, 3)} (zero to {inner} digits), so c* "
                    f"(next to 0) cannot be given to {n} digits (accepted: points with "
                    "sigma_b^2 > 0 or E[f] != 0, or an odd activation, whose c* is exactly 0)"
                ) from None
            inner = more.digits
            continue
        need = n + conditioning_digits(point)
        if need <= inner:
            return point
        inner = need  # chi_c is nearer 1 than chi_1 said: once more, with its digits
    raise InputError(  # pragma: no cover - the digits asked are bounded by 2 n + 2
        f"mean field of {act.label}: the depth scales need more than {inner} digits"
    )


class NeedDigits(InputError):
    """Raised inside :func:`meanfield_point`: solve the point again with ``digits`` digits
    (``bound``: what the quantity was known to be below)."""

    def __init__(self, digits: int, bound: mpmath.mpf) -> None:
        super().__init__(f"needs {digits} digits")
        self.digits, self.bound = digits, bound


def conditioning_digits(point: MeanField) -> int:
    """The digits a finite depth scale -1 / ln x loses to x's relative error: log10 of
    1 / |ln x| (the condition number), plus one, for x = chi_1 (xi_c of the ordered phase and
    ``depth_scale``), T'(q*) (xi_q of a stable q*) and chi_c (xi_c of the chaotic phase)."""
    xs: list[mpmath.mpf] = []
    if point.phase in ("ordered", "chaotic") and point.chi1 is not None:
        xs.append(point.chi1)
    if point.stability == "stable" and point.slope is not None:
        xs.append(point.slope)
    if point.phase == "chaotic" and point.chi_c is not None:
        xs.append(point.chi_c)
    worst = mpmath.mpf(1)
    with mpmath.workdps(30):
        for x in xs:
            size = abs(mpmath.log(abs(x))) if x else mpmath.inf
            if 0 < size < 1:
                worst = max(worst, 1 / size)
        lost = int(mpmath.ceil(mpmath.log10(worst)))
    return lost + 1 if lost > 0 else 0


def _point(
    act: Activation,
    w2_dec: decimal.Decimal,
    b2_dec: decimal.Decimal,
    q0_dec: decimal.Decimal,
    n: int,
    inner: int,
    *,
    with_correlation: bool,
) -> MeanField:
    """:func:`meanfield_point` computed at ``inner`` digits, judged (critical, marginal) and
    checked at the ``n`` digits asked; c* only ``with_correlation``."""
    dps = inner + GUARD_DIGITS
    with mpmath.workdps(dps + GUARD_DIGITS):
        w2, b2, start = to_mpf(w2_dec), to_mpf(b2_dec), to_mpf(q0_dec)
        sw, sb = mpmath.sqrt(w2), mpmath.sqrt(b2)
        verdict, low = weight_only_stability(act, min(dps, 20))
        kind, q = _find_fixed_point(act, w2, b2, start, inner, dps)
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
            lm = length_map(act, q, inner + 2, dps + GUARD_DIGITS)
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
        elif with_correlation:
            c_star, chi_c = correlation_fixed_point(act, q, w2, b2, n, inner, dps)
            xi_c = -1 / mpmath.log(chi_c)
        else:
            c_star = chi_c = xi_c = None
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
    tangency): refine it by Newton steps without a bracket.  At a double root each step
    halves the distance (and is itself that distance), so 4 (d + 4) steps reach
    10^-(d + 4) from the rough root; a root not reached in them is refused, not printed."""
    for d, p in ((n, dps), (n + VERIFY_DIGITS, dps + GUARD_DIGITS)):
        with mpmath.workdps(p):
            fn = step_at(d, p, SPAN)
            for _ in range(max(MAX_NEWTON, 4 * (d + 4))):
                value, deriv = fn(q)
                if value == 0:
                    break
                if deriv == 0:
                    raise InputError(
                        f"fixed point of the length map near q = {mpmath.nstr(q, 8)}: T'(q) = 1 "
                        "there (a tangency), so Newton's method cannot resolve it"
                    )
                new = q - value / deriv
                if abs(new - q) <= mpmath.mpf(10) ** -(d + 4) * abs(q):
                    q = new
                    break
                q = new
            else:
                raise InputError(
                    f"fixed point of the length map near q = {mpmath.nstr(q, 8)}: Newton's "
                    f"method did not reach {d} digits (a tangency: T'(q*) = 1 to the working "
                    "precision)"
                )
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
    al. section 2; the slope by Price's theorem, d/dc E[f(u1) f(u2)] = q E[f'(u1) f'(u2)]),
    by the product rule (GaussianRule.bivariate): kept as the reference the Mehler series
    is tested against (its cost grows like 1 / (1 - c))."""
    with mpmath.workdps(dps):
        if c == 0:
            m = expectations(act, q, digits, dps, ("f", "df"))
            return (w2 * m["f"] ** 2 + b2) / q, w2 * m["df"] ** 2
        ff, dd = rule_for(act, q, digits, dps).bivariate(q, c)
        return (w2 * ff + b2) / q, w2 * dd


HERMITE_START = 64  # Hermite terms of the first correlation solve, grown by 5/4 as needed


@dataclass(frozen=True)
class MehlerSeries:
    """The correlation map at q* from the Hermite coefficients a_n of f at q* (Mehler):

        C(c) = (sigma_w^2 sum_n beta_n c^n + sigma_b^2) / q*,   beta_n = a_n^2 >= 0,

    known for n <= N, with the Parseval tails T0 = E[f^2] - sum_(n<=N) beta_n and
    T1 = q* E[f'^2] - sum_(n<=N) n beta_n (both >= 0, measured on the same rule).
    With q* = sigma_w^2 E[f^2] + sigma_b^2 (C(1) = 1) and eps = 1 - c, every term of

        H(eps) = (1 - C(c)) / eps - 1 = s sum_n beta_n w_n - 1,   s = sigma_w^2 / q*,
        w_n = (1 - c^n) / eps = sum_(j<n) c^j,      C'(c) = s sum_n n beta_n c^(n-1)

    is positive (no cancellation as c -> 1, where the plain C(c) - c would cancel): c* solves
    H = 0, H(0+) = chi_1 - 1 > 0 in the chaotic phase, H(1) = -C(0) < 0, H decreasing.
    The truncated terms lie in intervals: sum_(n>N) beta_n w_n in [w_(N+1) T0, min(T1, T0 / eps)]
    (w_n <= n, w_n <= 1 / eps, w increasing), sum_(n>N) n beta_n c^(n-1) in [0, c^N T1];
    :meth:`at` returns their midpoints and half-widths.
    """

    beta: tuple[mpmath.mpf, ...]
    scale: mpmath.mpf  # sigma_w^2 / q*
    tail0: mpmath.mpf
    tail1: mpmath.mpf

    def at(
        self, eps: mpmath.mpf
    ) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf, mpmath.mpf, mpmath.mpf]:
        """H(eps), dH/deps, C'(1 - eps) and the half-widths of the truncation left in H and
        in C' (the tails taken at the midpoints of their intervals; dH is the derivative of
        the H returned, w_n' = (n c^(n-1) - w_n) / eps)."""
        c = 1 - eps
        power, w = mpmath.mpf(1), mpmath.mpf(0)  # c^(n-1) and w_(n-1) at step n
        sum_h = sum_c = mpmath.mpf(0)
        for n in range(1, len(self.beta)):
            w += power
            sum_h += self.beta[n] * w
            sum_c += n * self.beta[n] * power
            power *= c
        # now power = c^N and w = w_N
        top = len(self.beta)  # N + 1
        w_top = w + power
        low_h, d_low = w_top * self.tail0, self.tail0 * (top * power - w_top) / eps
        if self.tail1 <= self.tail0 / eps:
            high_h, d_high = self.tail1, mpmath.mpf(0)
        else:
            high_h, d_high = self.tail0 / eps, -self.tail0 / (eps * eps)
        if low_h > high_h:
            low_h, d_low = high_h, d_high
        high_c = power * self.tail1
        h = self.scale * (sum_h + (low_h + high_h) / 2) - 1
        dh = self.scale * ((sum_c - sum_h) / eps + (d_low + d_high) / 2)
        slope = self.scale * (sum_c + high_c / 2)
        return h, dh, slope, self.scale * (high_h - low_h) / 2, self.scale * high_c / 2

    def direct(self, c: mpmath.mpf, c0: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
        """C(c) - c and C'(c) - 1 summed as they stand (c < 1/2: no cancellation in C;
        the tail sum_(n>N) beta_n c^n in [0, c^(N+1) T0] taken at its midpoint)."""
        power = mpmath.mpf(1)
        value, slope = c0, mpmath.mpf(0)
        for n in range(1, len(self.beta)):
            slope += n * self.beta[n] * power
            power *= c
            value += self.scale * self.beta[n] * power
        value += self.scale * power * c * self.tail0 / 2
        return value - c, self.scale * slope - 1


def mehler_series(
    act: Activation, q: mpmath.mpf, w2: mpmath.mpf, count: int, digits: int, dps: int
) -> MehlerSeries:
    """The series of :class:`MehlerSeries` with ``count`` terms, expectations to ``digits``."""
    rule = rule_for(act, q, digits, dps)
    with mpmath.workdps(dps):
        m = rule.moments(q, ("f2", "df2"))
        a = rule.hermite_coefficients(q, count)
        if act.odd:  # f odd: f(sqrt(q) z) has no even Hermite component (proven, not measured)
            a = [mpmath.mpf(0) if k % 2 == 0 else v for k, v in enumerate(a)]
        beta = tuple(v * v for v in a)
        tail0 = m["f2"] - mpmath.fsum(beta)
        tail1 = q * m["df2"] - mpmath.fsum(k * b for k, b in enumerate(beta))
        zero = mpmath.mpf(0)
        return MehlerSeries(beta, w2 / q, max(tail0, zero), max(tail1, zero))


def _solve_mehler(
    series: MehlerSeries, c0: mpmath.mpf, digits: int, what: str
) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    """c* and chi_c from one series.  C(c) - c is convex, positive at 0 (C(0) = ``c0`` > 0)
    and negative just below 1 in the chaotic phase, so c* < 1/2 exactly when
    C(1/2) < 1/2: then Newton steps on C(c) - c from the linear model's root
    c0 / (1 - C'(0)) (they climb monotonically: the tangents of a convex function lie
    below it), in relative terms in c; else safeguarded Newton steps on H(eps) in (0, 1/2]
    (geometric bisection once the lower end is positive) from the quadratic model
    H ~ (chi_1 - 1) - eps C''(1) / 2.  Both to 10^-(digits + 4) relative.  Returns c*, chi_c
    and the truncation's relative uncertainty in c* and in chi_c (inf: too few terms, the
    tail could hold all of chi_1 - 1 or the steps did not settle)."""
    rtol = mpmath.mpf(10) ** -(digits + 4)
    half = mpmath.mpf(1) / 2
    if not c0 > 0:  # pragma: no cover - C(0) = 0 is exact (odd f) or refused before
        raise InputError(f"{what}: C(0) = {mpmath.nstr(c0, 3)} is not positive")
    if series.direct(half, c0)[0] < 0:
        c = c0 / (1 - series.scale * series.beta[1]) if len(series.beta) > 1 else c0
        if not 0 < c < half:
            c = c0
        for _ in range(MAX_NEWTON):
            value, dvalue = series.direct(c, c0)
            if not dvalue < 0:
                break
            step = value / dvalue
            c -= step
            if abs(step) <= rtol * abs(c):
                break
        else:
            raise InputError(f"{what}: did not converge in {MAX_NEWTON} Newton steps")
        _, _, slope, _, width_c = series.at(1 - c)
        # the tail's half-width s c^(N+1) T0 / 2 moves the root by that over 1 - C'(c*)
        width = series.scale * c ** len(series.beta) * series.tail0 / 2
        rel_c = width / (1 - slope) / c if slope < 1 and c > 0 else mpmath.inf
        return c, slope, rel_c, width_c / slope
    known = mpmath.fsum(k * b for k, b in enumerate(series.beta))
    h_near = series.scale * (known + series.tail1) - 1  # chi_1 - 1
    if not series.scale * series.tail1 < h_near:  # the tail could hold all of chi_1 - 1
        return mpmath.mpf(1), mpmath.mpf(1), mpmath.inf, mpmath.inf
    curvature = series.scale * mpmath.fsum(k * (k - 1) * b for k, b in enumerate(series.beta))
    lo, hi = mpmath.mpf(0), half
    eps = 2 * h_near / curvature if curvature > 0 else half / 2
    if not lo < eps < hi:
        eps = half / 2
    for _ in range(MAX_NEWTON):
        h, dh, _, _, _ = series.at(eps)
        if h == 0:
            break
        if h > 0:
            lo = eps
        else:
            hi = eps
        new = eps - h / dh if dh < 0 else hi + 1
        if not lo < new < hi:
            new = mpmath.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
        if abs(new - eps) <= rtol * eps:
            eps = new
            break
        eps = new
    else:  # the truncated series is too far from the whole one: more terms
        return mpmath.mpf(1), mpmath.mpf(1), mpmath.inf, mpmath.inf
    _, dh, slope, width_h, width_c = series.at(eps)
    rel_c = width_h / abs(dh) / (1 - eps) if dh else mpmath.inf  # |d eps| = |d H| / |H'|
    return 1 - eps, slope, rel_c, width_c / slope


def _mean_part(
    act: Activation,
    q: mpmath.mpf,
    w2: mpmath.mpf,
    bias_part: mpmath.mpf,
    n: int,
    inner: int,
    d: int,
    dps: int,
) -> mpmath.mpf:
    """sigma_w^2 E[f]^2 / q*, the mean's share of C(0), when it is known well enough for c*
    to n + 3 digits; else :class:`NeedDigits`.  E[f] at q* is uncertain by
    dE = 10^-(inner + 2) (sqrt(q* E[f'^2]) + sqrt(E[f^2])): q*'s own error (|dE[f]/dq| =
    |E[x f']| / (2 q) <= sqrt(E[f'^2] / q) / 2, the heat equation and Cauchy-Schwarz)
    and the quadrature's.  A tiny C(0) (SELU at its designed fixed point: E[f] ~ 1e-32)
    then asks for the digits that resolve it."""
    m = expectations(act, q, d + 2, dps, ("f", "f2", "df2"))
    mean = m["f"]
    spread = mpmath.mpf(10) ** -(inner + 2) * (mpmath.sqrt(q * m["df2"]) + mpmath.sqrt(m["f2"]))
    part = w2 * mean * mean / q
    error = w2 * (2 * abs(mean) + spread) * spread / q
    want = mpmath.mpf(10) ** -(n + 3) * (bias_part + part)
    if error <= want:
        return part
    if abs(mean) > 10 * spread:  # resolved, but not to n + 3 digits: the digits it asks
        more = int(mpmath.ceil(mpmath.log10(error / want))) + 2
        raise NeedDigits(inner + more, error)
    raise NeedDigits(2 * inner + 10, error)


def correlation_fixed_point(
    act: Activation,
    q: mpmath.mpf,
    w2: mpmath.mpf,
    b2: mpmath.mpf,
    n: int,
    inner: int,
    dps: int,
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """c* < 1 and chi_c = C'(c*) in the chaotic phase (chi_1 > 1), from Mehler's series of
    the correlation map (:class:`MehlerSeries`): the Hermite coefficients of f at q* are
    computed once, and c* is the root of a sum of positive terms, so the cost does not grow
    as c* -> 1 next to the critical line (the product rule's series needs ~1 / (1 - c)
    terms there).  c* = 0 exactly when C(0) = 0 is proven (an odd f without bias).

    The number of terms grows (x 5/4 from HERMITE_START, at most MAX_HERMITE, and the
    quadrature's work budget) until the truncation moves c* and chi_c by less than
    10^-(inner + 3) relative; solved at (inner, dps) and again at (inner + VERIFY_DIGITS,
    dps + GUARD_DIGITS), where c*, chi_c and ln chi_c (so xi_c) must agree to 10^-(n + 2)
    relative, or the point is refused."""
    what = f"correlation fixed point of {act.label}"
    if b2 == 0 and act.odd:  # E[f] = 0: C(0) = 0 and c* = 0, chi_c = sigma_w^2 E[f']^2
        with mpmath.workdps(dps):
            return mpmath.mpf(0), w2 * expectations(act, q, inner + 2, dps, ("df",))["df"] ** 2
    results = []
    count = HERMITE_START
    for d, p in ((inner, dps), (inner + VERIFY_DIGITS, dps + GUARD_DIGITS)):
        with mpmath.workdps(p):
            c0 = b2 / q
            if not act.odd:
                c0 += _mean_part(act, q, w2, c0, n, inner, d, p)
            tol = mpmath.mpf(10) ** -(d + 3)
            while True:
                series = mehler_series(act, q, w2, count, d + 2, p)
                c, chi_c, rel_c, rel_chi = _solve_mehler(series, c0, d, what)
                if rel_c <= tol and rel_chi <= tol:
                    break
                if count >= MAX_HERMITE:
                    raise InputError(
                        f"{what}: the Hermite series of f at q* = {mpmath.nstr(q, 8)} still "
                        f"moves c* = {mpmath.nstr(c, 12)} by {mpmath.nstr(rel_c, 2)} (relative) "
                        f"after {MAX_HERMITE} terms, short of {inner} digits (accepted: "
                        "activations smooth enough, or points farther from the critical line)"
                    )
                count = min(MAX_HERMITE, count * 5 // 4)
            results.append((c, chi_c))
    (c1, chi1), (c2, chi2) = results
    with mpmath.workdps(dps + GUARD_DIGITS):
        agree = mpmath.mpf(10) ** -(n + 2)
        gaps = (
            abs(c1 - c2) / c2,
            abs(chi1 - chi2) / chi2,
            abs(mpmath.log(chi1) - mpmath.log(chi2)) / abs(mpmath.log(chi2)),
        )
        if max(gaps) > agree:
            raise InputError(
                f"{what}: the solves at {dps} and {dps + GUARD_DIGITS} working digits disagree "
                f"(c* = {mpmath.nstr(c2, n)}, chi_c = {mpmath.nstr(chi2, n)}, relative gap "
                f"{mpmath.nstr(max(gaps), 3)})"
            )
        return +c2, +chi2


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
