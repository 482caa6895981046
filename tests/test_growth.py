"""Growth bounds at +-infinity decide, before integrating, whether E[f^2] and E[f'^2] exist."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from derive.maths.activations import BUILTIN_NAMES, builtin, parse_activation
from derive.maths.analysis import BUILTIN_SHAPE
from derive.maths.growth import compare, growth, integrable_against_gaussian, scale_bound

HALF = Fraction(1, 2)


def _z() -> Any:
    import sympy as sp

    return sp.Symbol("z", real=True)


def _square_integrable(text: str) -> tuple[bool | None, bool | None]:
    """(upper-bound verdict, lower-bound verdict) for f^2 phi at +inf."""
    act = parse_activation(text)
    g = act.shape.f_bounds[0]
    two = Fraction(2)
    return (
        integrable_against_gaussian(scale_bound(g.up, two), HALF),
        integrable_against_gaussian(scale_bound(g.low, two), HALF, lower=True),
    )


@pytest.mark.parametrize(
    "text",
    ["x**64", "exp(x**2/5)", "exp(x**2/4.01)", "x*exp(x**2/5)", "tanh(x)", "exp(x)", "sin(x)"],
)
def test_integrable_growth_is_recognised(text: str) -> None:
    assert _square_integrable(text)[0] is True


@pytest.mark.parametrize(
    "text", ["exp(x**2/4)", "exp(x**2)", "exp(x**3)", "exp(exp(x))", "exp(exp(exp(x)))"]
)
def test_divergence_is_proven_by_the_lower_bound(text: str) -> None:
    upper, lower = _square_integrable(text)
    assert upper is not True and lower is False


def test_a_cancelling_expression_is_not_claimed_finite() -> None:
    """cosh(x^3) - sinh(x^3) = e^(-x^3), but a bound cannot see the cancellation: it is
    refused as "cannot be shown finite", never integrated on a guess."""
    upper, lower = _square_integrable("cosh(x**3) - sinh(x**3)")
    assert upper is not True and lower is not False


def test_exact_coefficients_decide_the_borderline() -> None:
    """exp(x^2/4): 2 * 1/4 - 1/2 = 0 exactly (a Fraction), so f^2 phi ~ 1: divergent."""
    act = parse_activation("exp(x**2/4)")
    assert act.shape.f_bounds[0].up.terms == ((Fraction(2), Fraction(1, 4)),)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_built_in_growth_is_within_the_declared_bound(name: str) -> None:
    """BUILTIN_SHAPE declares |f| <= 2|z| and |f'| <= 2 for large |z|; the growth analysis
    of each built-in's SymPy definition must not exceed it on either side."""
    z = _z()
    act = builtin(name)
    expr = act.sympy_expr()
    import sympy as sp

    deriv = sp.diff(expr, z)
    for side, (f, df) in enumerate(((expr, deriv), (expr.subs(z, -z), deriv.subs(z, -z)))):
        for fn, declared in (
            (f, BUILTIN_SHAPE.f_bounds[side]),
            (df, BUILTIN_SHAPE.df_bounds[side]),
        ):
            found = growth(fn, z).up
            order = compare(found, declared.up)
            assert order < 0 or (order == 0 and found.c <= declared.up.c), (name, side, found)
