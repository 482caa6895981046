"""Mean-field signal propagation (Poole et al. 2016; Schoenholz et al. 2017).

For a wide network with weights N(0, sigma_w^2 / n) and biases N(0, sigma_b^2), the
pre-activations' second moment q follows the length map (Poole et al. eq. 3)::

    q_l = T(q_{l-1}) = sigma_w^2 V(q_{l-1}) + sigma_b^2,    V(q) = E[f(sqrt(q) z)^2]

Its fixed point q* is reached from q_0 when T is increasing (it is for every built-in).
At q* (Schoenholz et al. eq. 4-5, 9)::

    chi_1 = sigma_w^2 E[f'(sqrt(q*) z)^2]                   (correlation map slope at c = 1)
    slope = T'(q*) = sigma_w^2 E[x f(x) f'(x)] / q*,  x ~ N(0, q*)
          = chi_1 + sigma_w^2 E[f(x) f''(x)]              (by Stein's lemma, their xi_q)
    depth scale xi_c = -1 / ln chi_1  (ordered phase, chi_1 < 1; chi_1 > 1 is chaotic and
    1 / ln chi_1 is the depth over which nearby inputs separate by e; chi_1 = 1 critical)

Weight variance alone (sigma_b = 0): every q > 0 is the fixed point of sigma_w^2 =
q / V(q), and it is stable exactly when the elasticity e(q) = q V'(q) / V(q) is below 1.
For the ReLU family e = 1 (every q is a neutral fixed point at He's sigma_w^2); for GELU
and SiLU e(q) > 1 for all q > 0 (V(q)/q rises from f'(0)^2 = 1/4 to the ReLU value 1/2),
so no weight variance alone keeps the second moment stably: a fixed point exists for each
sigma_w but it repels, and the second moment drifts to 0 or grows without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath

from derive.core.errors import InputError
from derive.core.numbers import parse_bound, parse_digits, to_mpf
from derive.maths.activations import Activation, activation
from derive.maths.gains import GUARD_DIGITS, gaussian_expectation

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


@dataclass(frozen=True)
class MeanField:
    label: str
    sigma_w: mpmath.mpf
    sigma_b: mpmath.mpf
    digits: int
    fixed_point: str  # "finite", "zero", "divergent", "every q"
    q_star: mpmath.mpf  # 0, finite, or inf
    chi1: mpmath.mpf | None  # None when q* is infinite
    slope: mpmath.mpf | None  # T'(q*)
    depth_scale: mpmath.mpf | None  # 1 / |ln chi_1|; inf at chi_1 = 1
    phase: str  # "ordered", "critical", "chaotic", "undefined"
    weight_only: str  # "stable", "marginal", "none": see weight_only_stability
    min_elasticity: mpmath.mpf


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
            eps = mpmath.mpf(10) ** (-dps)
            return (act.df(eps) ** 2 + act.df(-eps) ** 2) / 2
        return gaussian_expectation(lambda x: act.df(x) ** 2, act, dps, mpmath.sqrt(q), "df2")[0]


def elasticity(act: Activation, q: mpmath.mpf, dps: int) -> mpmath.mpf:
    """e(q) = q V'(q) / V(q): the length map's slope at q when q is its fixed point."""
    with mpmath.workdps(dps):
        return q * second_moment_map_derivative(act, q, dps) / second_moment_map(act, q, dps)


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
    import decimal

    return to_mpf(decimal.Decimal(text))


def _find_fixed_point(
    act: Activation, w2: mpmath.mpf, b2: mpmath.mpf, q0: mpmath.mpf, dps: int
) -> tuple[str, mpmath.mpf]:
    """The fixed point the iteration q -> T(q) reaches from q0 (T increasing): the first
    root of g(q) = T(q) - q in the direction of motion, bracketed by doubling/halving
    within [Q_MIN, Q_MAX]; beyond them the second moment is reported as vanishing or
    divergent.  For the ReLU family V(q) = q V(1) exactly and q* is solved directly."""
    tol = mpmath.mpf(10) ** (-(dps - GUARD_DIGITS + 2))
    if act.homogeneous:
        c = w2 * second_moment_map(act, mpmath.mpf(1), dps)
        if abs(c - 1) <= tol:
            return ("every q", q0) if b2 == 0 else ("divergent", mpmath.inf)
        if c > 1:
            return "divergent", mpmath.inf
        return ("zero", mpmath.mpf(0)) if b2 == 0 else ("finite", b2 / (1 - c))

    def g(q: mpmath.mpf) -> mpmath.mpf:
        return w2 * second_moment_map(act, q, dps) + b2 - q

    g0 = g(q0)
    if abs(g0) <= tol * q0:
        return "finite", q0
    step = mpmath.mpf(2) if g0 > 0 else mpmath.mpf(1) / 2
    lo = q0
    while to_mpf_text(Q_MIN) <= lo * step <= to_mpf_text(Q_MAX):
        hi = lo * step
        g_hi = g(hi)
        if (g_hi > 0) != (g0 > 0) or g_hi == 0:
            a, b = (lo, hi) if lo < hi else (hi, lo)
            root = mpmath.findroot(g, (a, b), solver="anderson", tol=tol**2)
            return "finite", +root
        lo = hi
    return ("divergent", mpmath.inf) if g0 > 0 else ("zero", mpmath.mpf(0))


def meanfield(
    name_or_expression: str | Activation,
    sigma_w: object,
    sigma_b: object = 0,
    param: object = None,
    digits: object = 15,
    q0: object = 1,
) -> MeanField:
    """Length-map fixed point, chi_1, slope and depth scale (see the module docstring)."""
    n = parse_digits(digits)
    act = (
        name_or_expression
        if isinstance(name_or_expression, Activation)
        else activation(name_or_expression, param)
    )
    values = {}
    for label, v in (("sigma_w", sigma_w), ("sigma_b", sigma_b), ("q0", q0)):
        d = parse_bound(v, label)
        if d.is_infinite() or d < 0 or (label != "sigma_b" and d == 0):
            low = ">= 0" if label == "sigma_b" else "> 0"
            raise InputError(f"{label}: {v!r} is out of range (accepted: a finite real {low})")
        values[label] = d
    dps = n + GUARD_DIGITS
    with mpmath.workdps(dps):
        sw, sb, start = (to_mpf(values[k]) for k in ("sigma_w", "sigma_b", "q0"))
        w2, b2 = sw * sw, sb * sb
        kind, q = _find_fixed_point(act, w2, b2, start, dps)
        verdict, low = weight_only_stability(act, min(dps, 20))
        if kind == "divergent":
            return MeanField(
                act.label, sw, sb, n, kind, q, None, None, None, "undefined", verdict, low
            )
        chi1 = w2 * derivative_second_moment(act, q, dps)
        slope = chi1 if q == 0 else w2 * second_moment_map_derivative(act, q, dps)
        tol = mpmath.mpf(10) ** (-n)
        if abs(chi1 - 1) <= tol:
            phase, depth = "critical", mpmath.inf
        else:
            phase = "ordered" if chi1 < 1 else "chaotic"
            depth = 1 / abs(mpmath.log(chi1))
        return MeanField(act.label, sw, sb, n, kind, q, chi1, slope, depth, phase, verdict, low)
