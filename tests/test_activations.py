"""Built-in activations and the safe expression parser."""

from __future__ import annotations

import mpmath
import pytest

from derive.core.errors import InputError
from derive.maths.activations import BUILTIN_NAMES, activation, builtin, parse_activation


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_numeric_and_symbolic_definitions_agree(name: str) -> None:
    """f and f' (mpmath) match the SymPy expression and its derivative to 25 digits."""
    import sympy as sp

    act = builtin(name)
    expr = act.sympy_expr()
    z = sp.Symbol("z", real=True)
    deriv = sp.diff(expr, z)
    with mpmath.workdps(30):
        for t in ("-3.25", "-0.5", "0.75", "2.5"):
            x = mpmath.mpf(t)
            assert mpmath.almosteq(
                act.f(x),
                mpmath.mpf(sp.N(expr.subs(z, sp.Rational(t)), 30)),
                rel_eps=mpmath.mpf(10) ** -25,
                abs_eps=mpmath.mpf(10) ** -25,
            )
            assert mpmath.almosteq(
                act.df(x),
                mpmath.mpf(sp.N(deriv.subs(z, sp.Rational(t)), 30)),
                rel_eps=mpmath.mpf(10) ** -25,
                abs_eps=mpmath.mpf(10) ** -25,
            )


def test_user_expression_is_parsed_into_one_variable() -> None:
    act = parse_activation("max(x, 0) + 0.5*tanh(x)^2 - sigmoid(-x)/pi")
    with mpmath.workdps(20):
        x = mpmath.mpf(1)
        expected = 1 + mpmath.tanh(1) ** 2 / 2 - 1 / (1 + mpmath.e) / mpmath.pi
        assert mpmath.almosteq(act.f(x), expected, rel_eps=mpmath.mpf(10) ** -18)
    with mpmath.workdps(20):
        assert act.shape.split_points(mpmath.mpf(-20), mpmath.mpf(20), 20) == [0]


def test_kink_of_user_expression_becomes_a_split_point() -> None:
    act = parse_activation("max(z, 1/2)")
    with mpmath.workdps(20):
        assert act.shape.split_points(mpmath.mpf(-20), mpmath.mpf(20), 20) == [0, 0.5]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "x.__class__",
        "lambda x: x",
        "import os",
        "'x'",
        "x[0]",
        "x + y",
        "exp(x",
        "x +",
        "",
        "   ",
        "3 + 4",
        "eval(x)",
        "x ** x",
        "2 ** 10 ** 10 ** 10",
        "x ** 1000",
        "exp(1000)*x",
        "1e999 * x",
        "1/0 + x",
        "x; x",
        "(" * 30 + "x" + ")" * 30,
        "x" * 201,
        "max(x)",
        "Symbol('y')",
        "x @ x",
    ],
)
def test_malicious_or_malformed_expression_fails_cleanly(text: str) -> None:
    with pytest.raises(InputError, match=r"^activation: ") as info:
        parse_activation(text)
    assert "\n" not in str(info.value)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InputError, match="not a string"):
        parse_activation(3)  # type: ignore[arg-type]


def test_unknown_name_and_bad_parameters_are_rejected() -> None:
    with pytest.raises(InputError, match="takes no parameter"):
        builtin("relu", "0.1")
    with pytest.raises(InputError, match=r"a: '-1' is out of range"):
        builtin("leaky_relu", "-1")
    with pytest.raises(InputError, match="not a built-in activation; did you mean 'silu'"):
        builtin("swishy")
    with pytest.raises(InputError, match="--param does not apply"):
        activation("x*tanh(x)", "1")
