"""He's variance rule derived from the layer recursion (He, Zhang, Ren & Sun 2015).

Forward pass (He et al. eq. 7-10): for y_l = W_l x_l with n_l inputs per unit,
``Var[y_l] = n_l Var[w_l] E[x_l^2]`` and ``x_l = f(y_{l-1})``.  For y ~ N(0, sigma^2) and
the leaky rectifier f(y) = max(y, 0) + a min(y, 0), SymPy integrates
``E[f(y)^2] = (1 + a^2) sigma^2 / 2``; keeping Var[y_l] = Var[y_{l-1}] gives
``Var[w] = 2 / ((1 + a^2) n_in)`` (eq. 10, 15).  Backward pass (eq. 11-14):
``Var[dx_l] = n_out Var[w_l] E[f'(y)^2] Var[dx_{l+1}]`` with ``E[f'(y)^2] = (1 + a^2)/2``
gives the same rule with n_out.  a = 1 is the linear case (LeCun: 1/n); Glorot & Bengio
(2010, eq. 12) average the two fans, n = (n_in + n_out)/2.  A uniform law on [-L, L] has
variance L^2/3 (integrated here too), so the equivalent limit is L = sqrt(3 Var[w]).
"""

from __future__ import annotations

import decimal
import fractions
import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

import sympy as sp

from ..core.errors import InputError
from ..core.numbers import parse_bound

Mode = Literal["fan_in", "fan_out", "fan_avg"]
MODES: tuple[Mode, ...] = ("fan_in", "fan_out", "fan_avg")

y = sp.Symbol("y", real=True)
u = sp.Symbol("u", real=True)
sigma = sp.Symbol("sigma", positive=True)
slope = sp.Symbol("a", nonnegative=True)
limit = sp.Symbol("L", positive=True)
var_w = sp.Symbol("v", positive=True)  # Var[w]
n_in, n_out, n = sp.symbols("n_in n_out n", positive=True)


def gaussian_density(var: sp.Symbol = y, std: sp.Expr = sigma) -> sp.Expr:
    """Density of N(0, std^2)."""
    return sp.exp(-(var**2) / (2 * std**2)) / (std * sp.sqrt(2 * sp.pi))


@cache
def rectifier_second_moment() -> sp.Expr:
    """E[f(y)^2] for the leaky rectifier with slope a, y ~ N(0, sigma^2): integrated."""
    p = gaussian_density()
    positive = sp.integrate(y**2 * p, (y, 0, sp.oo))
    negative = sp.integrate((slope * y) ** 2 * p, (y, -sp.oo, 0))
    return sp.factor(sp.simplify(positive + negative))


@cache
def rectifier_derivative_second_moment() -> sp.Expr:
    """E[f'(y)^2] = P(y > 0) * 1 + P(y < 0) * a^2, integrated."""
    p = gaussian_density()
    return sp.factor(
        sp.simplify(sp.integrate(p, (y, 0, sp.oo)) + slope**2 * sp.integrate(p, (y, -sp.oo, 0)))
    )


@cache
def uniform_variance() -> sp.Expr:
    """Var of U(-L, L) = integral of u^2 / (2L) over [-L, L] = L^2 / 3."""
    return sp.integrate(u**2 / (2 * limit), (u, -limit, limit))


@cache
def forward_condition() -> sp.Equality:
    """Var[y_l] = Var[y_{l-1}] with Var[y_l] = n_in Var[w] E[f(y_{l-1})^2] (He eq. 7-10)."""
    return sp.Eq(n_in * var_w * rectifier_second_moment(), sigma**2)


@cache
def backward_condition() -> sp.Equality:
    """Var[dx_l] = Var[dx_{l+1}] with Var[dx_l] = n_out Var[w] E[f'(y)^2] Var[dx_{l+1}]
    (He eq. 11-14); the gradient variance is divided out."""
    return sp.Eq(n_out * var_w * rectifier_derivative_second_moment(), 1)


def _solve_for_variance(condition: sp.Equality) -> sp.Expr:
    (solution,) = sp.solve(condition, var_w)
    return sp.simplify(solution)


@dataclass(frozen=True)
class VarianceRule:
    """Var[w], std and the uniform limit for one slope and fan mode."""

    slope: sp.Expr
    mode: Mode
    fan: sp.Expr
    variance: sp.Expr
    std: sp.Expr
    uniform_limit: sp.Expr

    def latex(self) -> dict[str, str]:
        return {
            "variance": sp.latex(self.variance),
            "std": sp.latex(self.std),
            "uniform_limit": sp.latex(self.uniform_limit),
        }


@cache
def general_rule(mode: Mode = "fan_in") -> sp.Expr:
    """Var[w] as a function of the slope a and the fan symbol(s), derived from the recursion."""
    if mode == "fan_in":
        return _solve_for_variance(forward_condition())
    if mode == "fan_out":
        return _solve_for_variance(backward_condition())
    if mode == "fan_avg":
        # Glorot & Bengio: satisfy both conditions on average, n = (n_in + n_out) / 2
        return _solve_for_variance(forward_condition()).subs(n_in, (n_in + n_out) / 2)
    raise ValueError(f"mode: {mode!r} is not one of {', '.join(MODES)}")


_FRACTION = re.compile(r"\s*(\d{1,100})\s*/\s*(\d{1,100})\s*")


def _slope_value(value: object) -> sp.Expr:
    """An exact SymPy number from a slope; text is parsed as a decimal or ``p/q``, never
    evaluated (``sp.nsimplify`` of a string runs ``eval``)."""
    if isinstance(value, bool):
        raise ValueError(f"slope: {value!r} must be a real number >= 0")
    if isinstance(value, str):
        fraction = _FRACTION.fullmatch(value)
        if fraction:
            if int(fraction[2]) == 0:
                raise ValueError(f"slope: {value!r} divides by zero (accepted: a real number >= 0)")
            return sp.Rational(int(fraction[1]), int(fraction[2]))
        try:
            d: decimal.Decimal | None = parse_bound(value, "slope")
        except InputError:
            d = None
        if d is None or not d.is_finite() or d < 0:
            raise ValueError(
                f"slope: {value!r} is not a number >= 0 "
                "(accepted: a decimal or p/q, 0 or between 1e-400 and 1e100)"
            )
        return sp.Rational(*d.as_integer_ratio())
    if isinstance(value, sp.Basic):
        if value.free_symbols:
            raise ValueError(f"slope: {value!r} must be a number, not an expression in symbols")
        return value
    if not isinstance(value, int | float | decimal.Decimal | fractions.Fraction):
        raise TypeError(
            f"slope: {value!r} has type {type(value).__name__} (accepted: a real number >= 0)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"slope: {value!r} must be a real number >= 0")
    return sp.nsimplify(value)


def variance_rule(leaky_slope: object = 0, mode: Mode = "fan_in") -> VarianceRule:
    """The derived rule for a given slope (0: ReLU/He, 1: linear/LeCun) and fan mode."""
    a_value = _slope_value(leaky_slope)
    if not a_value.is_real or a_value.is_negative or not a_value.is_finite:
        raise ValueError(f"slope: {leaky_slope!r} must be a real number >= 0")
    variance = sp.simplify(general_rule(mode).subs(slope, a_value))
    (lim,) = sp.solve(sp.Eq(uniform_variance(), variance), limit)
    fan = {"fan_in": n_in, "fan_out": n_out, "fan_avg": (n_in + n_out) / 2}[mode]
    return VarianceRule(
        slope=a_value,
        mode=mode,
        fan=fan,
        variance=variance,
        std=sp.sqrt(variance),
        uniform_limit=sp.simplify(lim),
    )
