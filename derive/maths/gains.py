"""Variance-preserving gains of an activation as Gaussian expectations, z ~ N(0, 1).

He et al. (2015, eq. 8-10) keep the second moment of the pre-activations through a layer:
``Var[y_l] = n Var[w] E[f(y_{l-1})^2]``, so with ``Var[w] = gain^2 / n`` and unit-variance
pre-activations the forward gain is ``E[f(z)^2]^(-1/2)``.  Backwards (eq. 11-14) the
gradient's second moment is multiplied by ``n Var[w] E[f'(z)^2]``, so the backward gain is
``E[f'(z)^2]^(-1/2)``.  ReLU: E[f^2] = E[f'^2] = 1/2, gain sqrt 2 (eq. 10).  The weights'
zero mean makes the *second moment* E[f^2] the relevant quantity, not Var[f]: the
variance-based ``1/sqrt(Var[f])`` is reported alongside to show how wrong it is when
E[f] != 0 (ReLU: 1/sqrt(1/2 - 1/(2 pi)) = 1.7128..., not sqrt 2).

Evaluation: closed forms from SymPy where they exist (ReLU family, ELU/SELU, GELU), each
expectation being the integral of the piece times the normal density; otherwise mpmath
tanh-sinh quadrature split at the activation's breakpoints, run at two working precisions
and accepted only when both agree to the requested digits plus a guard.  Precision is an
argument; every evaluation runs inside ``mpmath.workdps``.
"""

from __future__ import annotations

import decimal
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import mpmath

from derive.core.errors import InputError
from derive.core.numbers import parse_digits, to_mpf
from derive.maths.activations import Activation, activation

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
# Quadrature
# --------------------------------------------------------------------------------------


def gaussian_expectation(
    g: Callable[[mpmath.mpf], mpmath.mpf],
    breakpoints: tuple[decimal.Decimal, ...],
    dps: int,
    scale: mpmath.mpf | None = None,
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """E[g(s z)], z ~ N(0, 1) (s = ``scale``, default 1), by tanh-sinh quadrature at ``dps``.

    The integral of g(x) exp(-x^2 / (2 s^2)) / (s sqrt(2 pi)) is split at the breakpoints,
    where g may have a kink or a jump, so that every piece is analytic.  Returns the value
    and the largest piece's magnitude (the scale against which cancellation is judged).
    """
    with mpmath.workdps(dps):
        s = mpmath.mpf(1) if scale is None else +scale
        # beyond |z| = L the density is below 10^-(dps + 5) e^-(2L): the tail is negligible
        # for integrands growing slower than e^(2|z|) (two precisions, two L, must agree)
        cut = s * (mpmath.sqrt(2 * (dps + 5) * mpmath.log(10)) + 2)
        inner = sorted({x for x in (s * to_mpf(b) for b in breakpoints) if -cut < x < cut})
        pts = [-cut, *inner, cut]
        norm = s * mpmath.sqrt(2 * mpmath.pi)

        def integrand(x: mpmath.mpf) -> mpmath.mpf:
            return g(x) * mpmath.exp(-x * x / (2 * s * s))

        pieces = [_quad(integrand, lo, hi) for lo, hi in itertools.pairwise(pts)]
        return mpmath.fsum(pieces) / norm, max(abs(p) for p in pieces) / norm


def _quad(g: Callable[[mpmath.mpf], mpmath.mpf], lo: mpmath.mpf, hi: mpmath.mpf) -> mpmath.mpf:
    """Tanh-sinh on [lo, hi]; Gauss-Legendre when mpmath's error estimate divides by zero
    (it does when two successive levels agree exactly, e.g. an integrand that is 0)."""
    try:
        return mpmath.quad(g, [lo, hi])
    except ZeroDivisionError:
        return mpmath.quad(g, [lo, hi], method="gauss-legendre")


def _converged_expectation(
    g: Callable[[mpmath.mpf], mpmath.mpf],
    act: Activation,
    digits: int,
    what: str,
    scale: mpmath.mpf | None = None,
) -> tuple[mpmath.mpf, int]:
    """E[g] to ``digits`` digits: runs at two working precisions must agree to ``digits`` + 3
    relative to the largest piece (so that an exact zero, e.g. E[tanh], is accepted)."""
    dps = digits + GUARD_DIGITS
    previous, _ = gaussian_expectation(g, act.breakpoints, dps, scale)
    for _ in range(4):
        dps2 = dps + GUARD_DIGITS
        value, size = gaussian_expectation(g, act.breakpoints, dps2, scale)
        with mpmath.workdps(dps2):
            if abs(value - previous) <= size * mpmath.mpf(10) ** (-(digits + 3)):
                return value, dps2
        previous, dps = value, dps2 + dps // 2
    raise InputError(
        f"activation {act.label}: {what} did not converge to {digits} digits "
        "(accepted: activations smooth between breakpoints with Gaussian-integrable growth)"
    )


def _snap_zero(x: mpmath.mpf, size: mpmath.mpf, digits: int) -> mpmath.mpf:
    """Zero to the requested digits (relative to ``size``) is reported as exactly 0."""
    return mpmath.mpf(0) if abs(x) <= size * mpmath.mpf(10) ** (-(digits + 2)) else x


def _finish(
    act: Activation,
    digits: int,
    method: str,
    mean: mpmath.mpf,
    m2: mpmath.mpf,
    d2: mpmath.mpf,
    dps: int,
    closed: dict[str, str] | None = None,
) -> Gains:
    with mpmath.workdps(dps):
        if not (m2 > 0 and d2 > 0):
            raise InputError(
                f"activation {act.label}: E[f^2] = {mpmath.nstr(m2, 5)}, "
                f"E[f'^2] = {mpmath.nstr(d2, 5)} (accepted: both > 0)"
            )
        mean = _snap_zero(mean, mpmath.sqrt(m2), digits)
        var = m2 - mean * mean
        return Gains(
            label=act.label,
            digits=digits,
            method=method,
            mean=mean,
            second_moment=m2,
            variance=var,
            derivative_second_moment=d2,
            forward_gain=1 / mpmath.sqrt(m2),
            backward_gain=1 / mpmath.sqrt(d2),
            variance_gain=1 / mpmath.sqrt(var) if var > 0 else mpmath.inf,
            closed_forms=closed,
        )


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
    """E[f], E[f^2], E[f'^2] by quadrature (see :func:`_converged_expectation`)."""
    f, df = _memoized(act.f), act.df
    # E[f] and E[f^2] integrate over the same tanh-sinh nodes: f is evaluated once per node
    mean, p1 = _converged_expectation(f, act, digits, "E[f]")
    m2, p2 = _converged_expectation(lambda t: f(t) ** 2, act, digits, "E[f^2]")
    d2, p3 = _converged_expectation(lambda t: df(t) ** 2, act, digits, "E[f'^2]")
    return _finish(act, digits, "quadrature", mean, m2, d2, max(p1, p2, p3))


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


CLOSED_NAMES = "linear, relu, leaky_relu, elu, selu, gelu"


def closed_form_gains(act: Activation, digits: int) -> Gains:
    """Evaluate the closed forms to ``digits`` (+ guard) with SymPy's arbitrary-precision N."""
    import sympy as sp

    from derive.maths.activations import SELU_ALPHA, SELU_LAMBDA

    forms = closed_forms(act)
    text = dict(
        zip(
            ("mean", "second_moment", "derivative_second_moment"),
            (sp.sstr(e) for e in forms),
            strict=True,
        )
    )
    subs = {
        sp.Symbol("alpha", positive=True): sp.Rational(SELU_ALPHA),
        sp.Symbol("lambda", positive=True): sp.Rational(SELU_LAMBDA),
    }
    dps = digits + GUARD_DIGITS
    with mpmath.workdps(dps):
        mean, m2, d2 = (
            mpmath.mpf(sp.N(e.subs(subs), dps + 5)) if e != 0 else mpmath.mpf(0) for e in forms
        )
    return _finish(act, digits, "closed form", mean, m2, d2, dps, text)


def gains(
    name_or_expression: str | Activation,
    param: object = None,
    digits: object = 30,
    method: str = "auto",
) -> Gains:
    """Gaussian moments and gains of an activation to ``digits`` significant digits.

    ``method``: "auto" (closed form when there is one, else quadrature), "closed" or
    "quadrature".
    """
    n = parse_digits(digits)
    act = (
        name_or_expression
        if isinstance(name_or_expression, Activation)
        else activation(name_or_expression, param)
    )
    if method not in ("auto", "closed", "quadrature"):
        raise InputError(f"method: {method!r} (accepted: auto, closed, quadrature)")
    if method == "closed" or (method == "auto" and act.closed_form):
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
