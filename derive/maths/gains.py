"""Variance-preserving gains of an activation as Gaussian expectations, z ~ N(0, 1).

He et al. (2015, eq. 8-10) keep the second moment of the pre-activations through a layer:
``Var[y_l] = n Var[w] E[f(y_{l-1})^2]``, so with ``Var[w] = gain^2 / n`` and unit-variance
pre-activations the forward gain is ``E[f(z)^2]^(-1/2)``.  Backwards (eq. 11-14) the
gradient's second moment is multiplied by ``n Var[w] E[f'(z)^2]``, so the backward gain is
``E[f'(z)^2]^(-1/2)``.  ReLU: E[f^2] = E[f'^2] = 1/2, gain sqrt 2 (eq. 10).  The weights'
zero mean makes the *second moment* E[f^2] the relevant quantity, not Var[f]: the
variance-based ``1/sqrt(Var[f])`` is reported alongside to show how wrong it is when
E[f] != 0 (ReLU: 1/sqrt(1/2 - 1/(2 pi)) = 1.7128..., not sqrt 2).

Evaluation: closed forms from SymPy where they exist (ReLU family, ELU/SELU, GELU, and
polynomials through the Gaussian moments (k - 1)!!), otherwise mpmath tanh-sinh quadrature
on [-L, L] split at the activation's kinks and singular points (:mod:`derive.maths.analysis`),
L from the growth bounds (:mod:`derive.maths.growth`) and checked on the integrand.  Every
printed quantity, the cancelling ones (E[f] of SELU, E[f^2] - E[f]^2) included, is resolved
by :func:`resolve`: evaluations at rising working precision must agree to the requested
digits + 3 relative to the quantity itself.  A quantity is exactly 0 only when that is proven
(odd f, a closed form that is 0).  Precision is an argument; every evaluation runs inside
``mpmath.workdps``.
"""

from __future__ import annotations

import decimal
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import mpmath

from ..core.errors import InputError
from ..core.numbers import parse_digits, to_mpf
from .activations import Activation, activation
from .analysis import EvaluationError, SingularError
from .growth import LogBound, add_bounds, integrable_against_gaussian, scale_bound

Fn = Callable[[mpmath.mpf], mpmath.mpf]

GUARD_DIGITS = 10
QUANTITIES: tuple[str, ...] = (
    "mean",
    "second_moment",
    "variance",
    "derivative_second_moment",
    "forward_gain",
    "backward_gain",
    "variance_gain",
)


@dataclass(frozen=True)
class Gains:
    """Gaussian moments of one activation and the gains they give, as mpf."""

    label: str
    digits: int
    method: str  # "closed form" or "quadrature"
    mean: mpmath.mpf  # E[f(z)]
    second_moment: mpmath.mpf  # E[f(z)^2]
    variance: mpmath.mpf  # Var[f(z)]
    derivative_second_moment: mpmath.mpf  # E[f'(z)^2]
    forward_gain: mpmath.mpf  # E[f^2]^(-1/2)
    backward_gain: mpmath.mpf  # E[f'^2]^(-1/2)
    variance_gain: mpmath.mpf  # Var[f]^(-1/2): the wrong gain when E[f] != 0
    closed_forms: dict[str, str] | None = None

    def as_dict(self) -> dict[str, mpmath.mpf]:
        return {q: getattr(self, q) for q in QUANTITIES}


# --------------------------------------------------------------------------------------
# Resolving every printed quantity to the requested digits
# --------------------------------------------------------------------------------------

BASE_QUANTITIES: tuple[str, ...] = ("mean", "second_moment", "variance", "derivative_second_moment")
WHAT = {
    "mean": "E[f]",
    "second_moment": "E[f^2]",
    "variance": "Var[f] = E[f^2] - E[f]^2",
    "derivative_second_moment": "E[f'^2]",
}
MAX_RUNS = 8  # evaluations at rising precision before a quantity is refused


def agreeing_digits(a: mpmath.mpf, b: mpmath.mpf) -> float:
    """Significant digits to which a and b agree, relative to |b| (inf when equal)."""
    if a == b:
        return math.inf
    if b == 0:
        return 0.0
    return float(-mpmath.log10(abs(a - b) / abs(b)))


def resolve(
    compute: Callable[[int], dict[str, mpmath.mpf]],
    digits: int,
    cap: int,
    label: str,
    exact: frozenset[str] = frozenset(),
) -> tuple[dict[str, mpmath.mpf], int]:
    """Values of ``compute(dps)`` right to ``digits`` significant digits each.

    ``compute`` evaluates every quantity at working precision dps (quadrature, or closed
    forms in fixed-precision arithmetic), including the cancelling ones (E[f] of SELU, the
    variance E[f^2] - E[f]^2 of f = 1e12 + tanh).  Two runs at rising precision must agree
    to ``digits`` + 3 digits relative to each quantity itself; where they do not, the digits
    they do agree to measure what cancellation and quadrature cost, and the precision rises
    by the missing digits (plus a guard) until they agree or ``cap`` is reached (then the
    quantity is refused).  ``exact``: quantities known exactly (a proven 0), not checked.
    """
    target = digits + 3
    low = digits + GUARD_DIGITS
    previous = compute(low)
    high = low + GUARD_DIGITS
    worst_name, worst = "", 0.0
    history: list[tuple[int, float]] = []
    stalled = False
    for _ in range(MAX_RUNS):
        if high > cap:
            break
        current = compute(high)
        agreement = {q: agreeing_digits(previous[q], current[q]) for q in current if q not in exact}
        worst_name = min(agreement, key=lambda q: agreement[q]) if agreement else ""
        worst = agreement[worst_name] if agreement else math.inf
        if worst >= target:
            return current, high
        # cancellation: each extra working digit buys an agreeing digit; a quantity that is
        # noise around 0, or a divergent or non-converging integral, gains (almost) none
        if history and worst - history[-1][1] < (high - history[-1][0]) / 4:
            stalled = True
            break
        history.append((high, worst))
        needed = low + math.ceil(target - worst) + 3
        if needed <= high:
            low, previous, high = high, current, high + GUARD_DIGITS
        else:
            low = needed
            if low > cap:
                break
            previous = compute(low)
            high = low + GUARD_DIGITS
    why = (
        "more working digits do not make two evaluations agree more"
        if stalled
        else f"within {cap} working digits two evaluations agree to {max(worst, 0):.0f} digits"
    )
    raise InputError(
        f"activation {label}: {WHAT.get(worst_name, worst_name)} could not be resolved to "
        f"{digits} digits ({why}: the value is 0 or almost 0, or the integral diverges or "
        "converges too slowly; initref prints 0 only when it is proven, e.g. for odd f; "
        f"accepted: quantities resolved within {cap} working digits)"
    )


def _derived(mean: mpmath.mpf, m2: mpmath.mpf, d2: mpmath.mpf) -> dict[str, mpmath.mpf]:
    """The printed quantities from E[f], E[f^2], E[f'^2] at the working precision."""
    return {
        "mean": mean,
        "second_moment": m2,
        "variance": m2 - mean * mean,
        "derivative_second_moment": d2,
    }


def _finish(
    act: Activation,
    digits: int,
    method: str,
    values: dict[str, mpmath.mpf],
    dps: int,
    closed: dict[str, str] | None = None,
) -> Gains:
    with mpmath.workdps(dps):
        m2, d2, var = (
            values["second_moment"],
            values["derivative_second_moment"],
            values["variance"],
        )
        if not (m2 > 0 and d2 > 0):
            raise InputError(
                f"activation {act.label}: E[f^2] = {mpmath.nstr(m2, 5)}, "
                f"E[f'^2] = {mpmath.nstr(d2, 5)} (accepted: both > 0)"
            )
        if not var > 0:  # pragma: no cover - f' != 0 on a positive measure makes f non-constant
            raise InputError(
                f"activation {act.label}: Var[f] = {mpmath.nstr(var, 5)} (accepted: > 0)"
            )
        return Gains(
            label=act.label,
            digits=digits,
            method=method,
            mean=values["mean"],
            second_moment=m2,
            variance=var,
            derivative_second_moment=d2,
            forward_gain=1 / mpmath.sqrt(m2),
            backward_gain=1 / mpmath.sqrt(d2),
            variance_gain=1 / mpmath.sqrt(var),
            closed_forms=closed,
        )


# --------------------------------------------------------------------------------------
# Quadrature
# --------------------------------------------------------------------------------------

MAX_QUADRATURE_DIGITS = 300  # digits a quadrature may be asked for (closed forms: 10000)
MAX_QUADRATURE_DPS = 420  # working precision cap of quadrature, cancellation included
MAX_CUT = 4096  # the integration range [-L, L] never reaches beyond this
MAX_PIECES = 600  # pieces between split points
TAIL_CHECKS = (1, 1.25, 1.5, 2, 3)  # the integrand is checked at these multiples of L
SINGULAR_EXPONENT = -0.45  # |g| ~ |x - s|^alpha near a singular point must have alpha above


def _weight(scale: mpmath.mpf | None) -> Fraction:
    """The Gaussian's x^2 coefficient 1 / (2 s^2) (as a Fraction for the growth bounds)."""
    if scale is None:
        return Fraction(1, 2)
    return Fraction(1 / (2 * float(scale) ** 2)).limit_denominator(10**12)


def _bound(act: Activation, which: str, upper: bool = True) -> tuple[LogBound, LogBound]:
    """Upper (or lower) bounds of log|g| at +inf and -inf for the integrand g named by
    ``which``: "f", "f2" (f^2), "df2" (f'^2) or "xffp" (x f f')."""
    f_b = tuple(g.up if upper else g.low for g in act.shape.f_bounds)
    df_b = tuple(g.up if upper else g.low for g in act.shape.df_bounds)
    two = Fraction(2)
    if which == "f":
        return f_b[0], f_b[1]
    if which == "f2":
        return scale_bound(f_b[0], two), scale_bound(f_b[1], two)
    if which == "df2":
        return scale_bound(df_b[0], two), scale_bound(df_b[1], two)
    x = LogBound(k=Fraction(1))
    both = [add_bounds(add_bounds(f_b[i], df_b[i], upper), x, upper) for i in (0, 1)]
    return both[0], both[1]


def check_growth(act: Activation, which: str, scale: mpmath.mpf | None = None) -> None:
    """Refuse, before integrating, an expectation whose integrand may not decay: the upper
    bound of log|g| - x^2 / (2 s^2) must tend to -inf.  The message says "is infinite" when
    the lower bound proves it, "cannot be shown finite" otherwise."""
    w = _weight(scale)
    lows = _bound(act, which, upper=False)
    for side, bound, low in zip((1, -1), _bound(act, which), lows, strict=True):
        if bound.huge:
            raise InputError(
                f"activation {act.label}: {'f' if which in ('f', 'f2') else 'the integrand'} "
                f"may exceed e^700 as {act.variable} -> {'+' if side > 0 else '-'}inf "
                "(accepted: activations whose bound stays below e^700)"
            )
        if integrable_against_gaussian(bound, w) is True:
            continue
        diverges = integrable_against_gaussian(low, w, lower=True) is False
        name = {"f": "E[f]", "f2": "E[f^2]", "df2": "E[f'^2]", "xffp": "E[x f f']"}[which]
        fn = "f'" if which == "df2" else "f"
        v = act.variable
        grows = scale_bound(bound, Fraction(1, 2)) if which in ("f2", "df2") else bound
        raise InputError(
            f"activation {act.label}: {name} "
            f"{'is infinite' if diverges else 'cannot be shown finite'}: log|{fn}| may grow "
            f"{grows.text(v)} as {v} -> {'+' if side > 0 else '-'}inf (accepted: |f| and "
            f"|f'| growing slower than exp({v}^2/4), so that f^2 and f'^2 times the Gaussian "
            "density are integrable)"
        )


def _evaluate(act: Activation, g: Fn, x: mpmath.mpf) -> mpmath.mpf:
    try:
        return g(x)
    except EvaluationError as exc:
        raise _evaluation_input_error(act, exc) from None


def _evaluation_input_error(act: Activation, exc: EvaluationError) -> InputError:
    v = act.variable
    return InputError(
        f"activation {act.label}: cannot evaluate at {v} = {mpmath.nstr(exc.at, 8)} "
        f"({exc.why}; accepted: expressions real and finite on the integration range)"
    )


def integration_range(
    act: Activation, g: Fn, which: str, dps: int, scale: mpmath.mpf | None = None
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(L, S): the integrand g(x) exp(-x^2 / (2 s^2)) is below 10^-(dps + 5) S beyond |x| = L,
    S being its largest value on a grid over [-L, L].

    L comes from the growth bounds (the first L where the bound of log|g phi| falls below
    log S - (dps + 5) ln 10 and stays there at 1.5 L, 2 L, 4 L), then is checked on g itself
    at TAIL_CHECKS multiples of L on both sides and widened until the check passes: the
    tail beyond L then contributes below about 10^-(dps + 4) S, under the requested digits.
    """
    check_growth(act, which, scale)
    w = _weight(scale)
    bounds = _bound(act, which)
    s = 1.0 if scale is None else float(scale)
    logt = (dps + 5) * math.log(10)
    cut = s * (math.sqrt(2 * logt) + 2)
    with mpmath.workdps(20):
        grid = [mpmath.mpf(cut) * (i - 40) / 40 for i in range(81)]
        values = []
        for x in grid:
            try:
                values.append(abs(g(x)) * _density(x, w))
            except SingularError:  # a pole or log(0) on the grid: a split point, skipped
                continue
            except EvaluationError as exc:
                raise _evaluation_input_error(act, exc) from None
        size = max(values, default=mpmath.mpf(0))
        if size == 0:
            size = mpmath.mpf(1)
        log_size = float(mpmath.log(size))

    def below(x: float) -> bool:
        return all(
            b.at(x * m) - float(w) * (x * m) ** 2 <= log_size - logt
            for b in bounds
            for m in (1, 1.5, 2, 4)
        )

    while not below(cut):
        cut *= 1.1
        if cut > MAX_CUT * s:
            _refuse_tail(act, which)
    while True:
        with mpmath.workdps(20):
            threshold = size * mpmath.mpf(10) ** (-(dps + 5))
            ok = all(
                abs(_evaluate(act, g, sign * mpmath.mpf(cut * m)))
                * _density(mpmath.mpf(cut * m), w)
                <= threshold
                for m in TAIL_CHECKS
                for sign in (1, -1)
            )
        if ok:
            return mpmath.mpf(cut), size
        cut *= 1.2
        if cut > MAX_CUT * s:
            _refuse_tail(act, which)


def _refuse_tail(act: Activation, which: str) -> None:
    raise InputError(
        f"activation {act.label}: the integrand of {which} does not fall below the requested "
        f"digits before |{act.variable}| = {MAX_CUT} (accepted: tails decaying by then)"
    )


def _density(x: mpmath.mpf, w: Fraction) -> mpmath.mpf:
    return mpmath.exp(-mpmath.mpf(w.numerator) / w.denominator * x * x)


def check_singular_points(act: Activation, reach: float) -> None:
    """Refuse when f^2 or f'^2 is not integrable at a singular point (pole, infinite slope):
    |g(s +- t)| is sampled at t = 2^-16 ... 2^-48 and its local exponent alpha (the slope of
    log|g| against log t) must exceed SINGULAR_EXPONENT (~ -1/2: g^2 integrable)."""
    roots = act.shape.roots(reach, "singular")  # undecided cells too (a double root, |x|)
    if not roots:
        return
    v = act.variable
    with mpmath.workdps(80):
        for root in roots:
            s = root.at(80)
            if abs(s) > reach:
                continue
            for g, name in ((act.f, "f"), (act.df, "f'")):
                for side in (1, -1):
                    samples = []
                    for j in (32, 40, 48):
                        t = mpmath.ldexp(1, -j)
                        try:
                            samples.append((t, abs(g(s + side * t))))
                        except EvaluationError:
                            samples = []
                            break
                    if len(samples) < 3:
                        continue
                    (t1, g1), _, (t3, g3) = samples
                    if g1 == 0 or g3 == 0:
                        continue
                    alpha = float(mpmath.log(g3 / g1) / mpmath.log(t3 / t1))
                    if alpha <= SINGULAR_EXPONENT:
                        at = mpmath.nstr(s, 8)
                        dist = (
                            v if s == 0 else f"{v} {'-' if s > 0 else '+'} {mpmath.nstr(abs(s), 8)}"
                        )
                        raise InputError(
                            f"activation {act.label}: E[{name}^2] is infinite: |{name}| grows "
                            f"like |{dist}|^{alpha:.2f} near {v} = {at} (accepted: "
                            f"singularities where |{name}|^2 stays integrable, exponent > -1/2)"
                        )


def gaussian_expectation(
    g: Fn,
    act: Activation,
    dps: int,
    scale: mpmath.mpf | None = None,
    which: str = "f2",
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """E[g(s z)], z ~ N(0, 1) (s = ``scale``, default 1), by tanh-sinh quadrature at ``dps``.

    The integral of g(x) exp(-x^2 / (2 s^2)) / (s sqrt(2 pi)) over [-L, L]
    (:func:`integration_range`; ``which`` names g's growth: "f", "f2", "df2", "xffp") is
    split at the activation's split points, so that every piece is analytic, and scaled by
    the integrand's size so that mpmath's absolute error target is a relative one.
    Returns the value and the integrand's size.
    """
    cut, size = integration_range(act, g, which, dps, scale)
    return _integrate(g, act, dps, cut, size, scale)


def _integrate(
    g: Fn, act: Activation, dps: int, cut: mpmath.mpf, size: mpmath.mpf, scale: mpmath.mpf | None
) -> tuple[mpmath.mpf, mpmath.mpf]:
    with mpmath.workdps(dps):
        s = mpmath.mpf(1) if scale is None else +scale
        pts = [-cut, *act.shape.split_points(-cut, cut, dps), cut]
        if len(pts) > MAX_PIECES:
            raise InputError(
                f"activation {act.label}: {len(pts) - 1} pieces between kinks on "
                f"[-{mpmath.nstr(cut, 4)}, {mpmath.nstr(cut, 4)}] (accepted: at most {MAX_PIECES})"
            )
        unit = mpmath.ldexp(1, -int(mpmath.floor(mpmath.log(size, 2))))  # exact power of 2
        two_s2 = 2 * s * s

        def integrand(x: mpmath.mpf) -> mpmath.mpf:
            return g(x) * unit * mpmath.exp(-x * x / two_s2)

        try:
            pieces = _adaptive(integrand, pts, dps)
        except EvaluationError as exc:
            raise _evaluation_input_error(act, exc) from None
        norm = s * mpmath.sqrt(2 * mpmath.pi) * unit
        return mpmath.fsum(pieces) / norm, size


MAX_QUADS = 3000  # tanh-sinh runs per integral, bisections included


def _adaptive(g: Fn, pts: list[mpmath.mpf], dps: int) -> list[mpmath.mpf]:
    """Tanh-sinh on each piece between split points; a piece whose error estimate (mpmath's,
    absolute, on the integrand scaled to a largest value of about 1) exceeds 10^-(dps - 3) is
    bisected, up to MAX_QUADS runs: strongly oscillating pieces (cos(x^2) e^sin(x^2)) then
    converge instead of being refused.  What is left unconverged shows up as disagreement
    between working precisions (:func:`resolve`)."""
    tol = mpmath.mpf(10) ** (3 - dps)
    stack = list(itertools.pairwise(pts))[::-1]
    values: list[mpmath.mpf] = []
    runs = 0
    while stack:
        lo, hi = stack.pop()
        value, err = _quad(g, lo, hi)
        runs += 1
        if err <= tol or runs + len(stack) + 2 > MAX_QUADS:
            values.append(value)
        else:
            mid = (lo + hi) / 2
            stack += [(mid, hi), (lo, mid)]
    return values


def _quad(
    g: Callable[[mpmath.mpf], mpmath.mpf], lo: mpmath.mpf, hi: mpmath.mpf
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """Tanh-sinh on [lo, hi] with mpmath's error estimate; Gauss-Legendre when that estimate
    divides by zero (it does when two successive levels agree exactly, e.g. an integrand
    that is 0)."""
    try:
        value, err = mpmath.quad(g, [lo, hi], error=True)
    except ZeroDivisionError:
        value, err = mpmath.quad(g, [lo, hi], method="gauss-legendre", error=True)
    return value, err


def _memoized(g: Callable[[mpmath.mpf], mpmath.mpf]) -> Callable[[mpmath.mpf], mpmath.mpf]:
    """g with its values kept per (node, precision): a pure function, so a cache is exact."""
    seen: dict[tuple[mpmath.mpf, int], mpmath.mpf] = {}

    def cached(t: mpmath.mpf) -> mpmath.mpf:
        key = (t, mpmath.mp.prec)
        if key not in seen:
            seen[key] = g(t)
        return seen[key]

    return cached


def quadrature_gains(act: Activation, digits: int) -> Gains:
    """E[f], E[f^2], E[f'^2] by quadrature, each resolved to ``digits`` (:func:`resolve`).

    Before any integration: the growth bounds must make f^2 phi and f'^2 phi integrable
    (:func:`check_growth`), singular points must be square-integrable, and the digits
    within MAX_QUADRATURE_DIGITS (tanh-sinh costs grow ~5x per doubling of the digits).
    E[f] of an odd f is exactly 0 (proven symbolically), not integrated.
    """
    if digits > MAX_QUADRATURE_DIGITS:
        raise InputError(
            f"activation {act.label}: {digits} digits by quadrature (accepted: 1.."
            f"{MAX_QUADRATURE_DIGITS}; closed forms - linear, relu, leaky_relu, elu, selu, gelu, "
            "polynomials - up to 10000)"
        )
    for which in ("f2", "df2"):
        check_growth(act, which)
    f, df = _memoized(act.f), act.df
    square: Fn = lambda t: f(t) ** 2  # noqa: E731
    dsquare: Fn = lambda t: df(t) ** 2  # noqa: E731
    checked: set[float] = set()

    def run(dps: int) -> dict[str, mpmath.mpf]:
        cut_f, size_f = integration_range(act, f, "f", dps)
        cut_2, size_2 = integration_range(act, square, "f2", dps)
        cut_d, size_d = integration_range(act, dsquare, "df2", dps)
        reach = float(max(cut_f, cut_2, cut_d))
        if reach not in checked:
            check_singular_points(act, reach)
            checked.add(reach)
        cut = max(cut_f, cut_2)
        mean = mpmath.mpf(0) if act.odd else _integrate(f, act, dps, cut, size_f, None)[0]
        m2 = _integrate(square, act, dps, cut, size_2, None)[0]
        d2 = _integrate(dsquare, act, dps, cut_d, size_d, None)[0]
        with mpmath.workdps(dps):
            return _derived(mean, m2, d2)

    exact = frozenset({"mean"}) if act.odd else frozenset()
    values, dps = resolve(run, digits, MAX_QUADRATURE_DPS, act.label, exact)
    return _finish(act, digits, "quadrature", values, dps)


# --------------------------------------------------------------------------------------
# Closed forms (SymPy)
# --------------------------------------------------------------------------------------


HALF_LINE_KEYS: tuple[str, ...] = (
    "P",
    "Pz",
    "Pz2",
    "N1",
    "Nz",
    "Nz2",
    "Nexpm1",
    "Nexpm1_2",
    "Nexp2",
)


@cache
def _half_line(key: str) -> Any:
    """A half-line Gaussian integral the ReLU/ELU family needs, integrated by SymPy:
    "P<g>" is the integral of g(z) phi(z) over (0, oo), "N<g>" over (-oo, 0)."""
    import sympy as sp

    z = sp.Symbol("z", real=True)
    phi = sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi)
    integrands = {
        "1": sp.Integer(1),
        "z": z,
        "z2": z**2,
        "expm1": sp.exp(z) - 1,
        "expm1_2": (sp.exp(z) - 1) ** 2,
        "exp2": sp.exp(2 * z),
    }
    g = integrands[key[1:] or "1"]
    limits = (z, 0, sp.oo) if key[0] == "P" else (z, -sp.oo, 0)
    return sp.simplify(sp.integrate(g * phi, limits))


@cache
def _gelu_forms() -> tuple[Any, Any, Any]:
    """E[f], E[f^2], E[f'^2] for f = z Phi(z), by Stein's lemma E[z h(z)] = E[h'(z)].

    E[z Phi] = E[phi];  E[z^2 Phi^2] = E[Phi^2] + E[(Phi^2)''];
    E[(Phi + z phi)^2] = E[Phi^2] + 2 E[z Phi phi] + E[z^2 phi^2];
    E[Phi^2] = integral of Phi^2 dPhi = [Phi^3 / 3] = 1/3 (u = Phi(z), du = phi dz; SymPy
    checks d(Phi^3/3)/dz = Phi^2 phi).  Every remaining integrand is SymPy-integrable.
    """
    import sympy as sp

    z = sp.Symbol("z", real=True)
    phi = sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi)
    cdf = (1 + sp.erf(z / sp.sqrt(2))) / 2
    if sp.simplify(sp.diff(cdf**3 / 3, z) - cdf**2 * phi) != 0:  # pragma: no cover
        raise ArithmeticError("antiderivative of Phi^2 phi failed to verify")
    e_cdf2 = sp.limit(cdf**3 / 3, z, sp.oo) - sp.limit(cdf**3 / 3, z, -sp.oo)

    def expect(g: Any) -> Any:
        return sp.integrate(sp.expand(g) * phi, (z, -sp.oo, sp.oo))

    mean = expect(phi)  # = E[z Phi]
    second = e_cdf2 + expect(sp.diff(cdf**2, z, 2))
    deriv = e_cdf2 + 2 * expect(z * cdf * phi) + expect(z**2 * phi**2)
    return sp.nsimplify(sp.simplify(mean)), sp.simplify(second), sp.simplify(deriv)


def closed_forms(act: Activation) -> tuple[Any, Any, Any]:
    """SymPy expressions for E[f], E[f^2], E[f'^2] of a built-in with a closed form."""
    import sympy as sp

    if not act.closed_form:
        raise InputError(f"activation {act.label}: no closed form (accepted: {CLOSED_NAMES})")
    if act.name == "gelu":
        return _gelu_forms()
    one = sp.Integer(1)

    def i(key: str, coeff: Any = one) -> Any:
        return coeff * _half_line(key) if coeff != 0 else sp.Integer(0)

    if act.name == "linear":
        return sp.Integer(0), one, one
    if act.name in ("relu", "leaky_relu"):
        a = sp.Rational(str(act.param)) if act.name == "leaky_relu" else sp.Integer(0)
        return (
            sp.simplify(i("Pz") + i("Nz", a)),
            sp.simplify(i("Pz2") + i("Nz2", a**2)),
            sp.simplify(i("P") + i("N1", a**2)),
        )
    # elu / selu: z on (0, oo), alpha (e^z - 1) on (-oo, 0); derivative alpha e^z there
    if act.name == "elu":
        alpha, lam = sp.Rational(str(act.param)), one
    else:  # kept as symbols in the displayed form; substituted when evaluated
        alpha, lam = sp.Symbol("alpha", positive=True), sp.Symbol("lambda", positive=True)
    return (
        lam * (i("Pz") + i("Nexpm1", alpha)),
        lam**2 * (i("Pz2") + i("Nexpm1_2", alpha**2)),
        lam**2 * (i("P") + i("Nexp2", alpha**2)),
    )


CLOSED_NAMES = "linear, relu, leaky_relu, elu, selu, gelu, polynomials in x"


def polynomial_forms(act: Activation) -> tuple[Any, Any, Any]:
    """E[P], E[P^2], E[P'^2] of a polynomial P exactly: E[z^k] = (k - 1)!! for even k, 0 for
    odd k (the Gaussian moments)."""
    import sympy as sp

    z = sp.Symbol("z", real=True)
    poly = sp.Poly(act.expression, z)

    def expect(p: Any) -> Any:
        return sp.Add(
            *(c * sp.factorial2(k - 1) for (k,), c in p.terms() if k % 2 == 0), evaluate=True
        )

    return expect(poly), expect(poly**2), expect(poly.diff(z) ** 2)


CLOSED_FORM_EXTRA = 1000  # closed forms may raise the precision by max(digits, this)


def closed_form_gains(act: Activation, digits: int) -> Gains:
    """The closed forms (SymPy), every quantity resolved to ``digits`` (:func:`resolve`).

    Each form is evaluated in fixed-precision mpmath arithmetic at rising working precision
    until two evaluations agree: SELU's E[f] = -1.2e-32 (a near-cancellation of its
    published constants) and the variance of 1e-20 z + 1 come out right to the last digit.
    A form that is exactly 0 (SymPy) is printed as 0; no other value is.
    """
    import sympy as sp

    from .activations import SELU_ALPHA, SELU_LAMBDA

    forms = polynomial_forms(act) if act.polynomial else closed_forms(act)
    subs = {
        sp.Symbol("alpha", positive=True): sp.Rational(SELU_ALPHA),
        sp.Symbol("lambda", positive=True): sp.Rational(SELU_LAMBDA),
    }
    mean_e, m2_e, d2_e = (sp.sympify(e).subs(subs) for e in forms)
    var_e = m2_e - mean_e**2
    text = dict(
        zip(
            ("mean", "second_moment", "derivative_second_moment"),
            (sp.sstr(e) for e in forms),
            strict=True,
        )
    )
    exprs = {
        "mean": mean_e,
        "second_moment": m2_e,
        "variance": var_e,
        "derivative_second_moment": d2_e,
    }
    exact = frozenset(q for q, e in exprs.items() if e == 0 or (q == "mean" and act.odd))
    evaluators = {
        q: sp.lambdify((), e, modules="mpmath") for q, e in exprs.items() if q not in exact
    }

    def run(dps: int) -> dict[str, mpmath.mpf]:
        with mpmath.workdps(dps):
            values = {q: mpmath.mpf(fn()) for q, fn in evaluators.items()}
            values.update({q: mpmath.mpf(0) for q in exact})
            if "mean" in exact:
                values["variance"] = values["second_moment"]
            return values

    values, dps = resolve(run, digits, digits + max(digits, CLOSED_FORM_EXTRA), act.label, exact)
    return _finish(act, digits, "closed form", values, dps, text)


def gains(
    name_or_expression: str | Activation,
    param: object = None,
    digits: object = 30,
    method: str = "auto",
) -> Gains:
    """Gaussian moments and gains of an activation to ``digits`` significant digits.

    ``method``: "auto" (closed form when there is one - the ReLU family, ELU/SELU, GELU,
    polynomials - else quadrature), "closed" or "quadrature".
    """
    n = parse_digits(digits)
    act = (
        name_or_expression
        if isinstance(name_or_expression, Activation)
        else activation(name_or_expression, param)
    )
    if method not in ("auto", "closed", "quadrature"):
        raise InputError(f"method: {method!r} (accepted: auto, closed, quadrature)")
    has_closed = act.closed_form or act.polynomial
    if method == "closed" or (method == "auto" and has_closed):
        return closed_form_gains(act, n)
    return quadrature_gains(act, n)


# --------------------------------------------------------------------------------------
# PyTorch's torch.nn.init.calculate_gain, for comparison
# --------------------------------------------------------------------------------------

TORCH_GAIN_TEXT: dict[str, str] = {
    "linear": "1",
    "relu": "sqrt(2)",
    "leaky_relu": "sqrt(2 / (1 + a^2))",
    "tanh": "5/3",
    "selu": "3/4",
    "sigmoid": "1",
}


def torch_gain(name: str, param: decimal.Decimal | None, dps: int) -> mpmath.mpf | None:
    """``torch.nn.init.calculate_gain(name, param)``; None where PyTorch has no gain
    (it raises ValueError for gelu, silu, elu, mish, softplus).  Only relu and leaky_relu
    are derived (He eq. 10, 15); tanh 5/3, selu 3/4 and sigmoid 1 are heuristics."""
    with mpmath.workdps(dps):
        if name == "linear" or name == "sigmoid":
            return mpmath.mpf(1)
        if name == "relu":
            return mpmath.sqrt(2)
        if name == "leaky_relu":
            a = to_mpf(param if param is not None else decimal.Decimal("0.01"))
            return mpmath.sqrt(2 / (1 + a * a))
        if name == "tanh":
            return mpmath.mpf(5) / 3
        if name == "selu":
            return mpmath.mpf(3) / 4
    return None
