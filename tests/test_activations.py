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


# the points of the pair tests: both signs, tails where exp over/underflows in float64
PAIR_POINTS = ("-800", "-40", "-3.25", "-0.5", "-1e-9", "0", "1e-9", "0.75", "2.5", "40", "800")


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_values_are_bit_for_bit_f_and_df_at_every_precision(name: str) -> None:
    """Activation.values (one call sharing subexpressions) returns exactly f(x) and f'(x)."""
    for param in (None, "0.3") if name in ("leaky_relu", "elu") else (None,):
        act = builtin(name, param)
        for dps in (16, 30, 57):
            with mpmath.workdps(dps):
                for t in PAIR_POINTS:
                    x = mpmath.mpf(t)
                    assert act.values(x) == (act.f(x), act.df(x)), (name, param, dps, t)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_float64_twin_agrees_with_the_mpmath_values(name: str) -> None:
    """pair64 gives f and f' to float64 accuracy: within 4e-16 max(|value|, 1) of the mpmath
    values at 40 digits (absolute below 1: f' = 1 - tanh^2 cancels in the tails, as it does
    in mpmath at 16 digits)."""
    act = builtin(name)
    assert act.pair64 is not None
    with mpmath.workdps(40):
        for t in PAIR_POINTS:
            x = mpmath.mpf(t)
            exact = act.values(x)
            for got, want in zip(act.pair64(float(x)), exact, strict=True):
                err = abs(mpmath.mpf(got) - want)
                assert err <= mpmath.mpf("4e-16") * max(abs(want), 1), (name, t, got, want)


def test_user_expressions_have_no_float64_twin() -> None:
    act = parse_activation("x*tanh(x)")
    assert act.pair is None and act.pair64 is None
    with mpmath.workdps(20):
        x = mpmath.mpf("0.3")
        assert act.values(x) == (act.f(x), act.df(x))


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


# ---------------------------------------------------------------------------
# Names: exact built-in names, the variable is x or z
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("relu6", "min(max(x, 0), 6)"),
        ("swish", "'silu'"),
        ("GELU", "'gelu'"),
        ("Gelu", "'gelu'"),
        ("relu ", "'relu'"),
        ("gelu_tan", "'gelu_tanh'"),
        ("sigmiod", "'sigmoid'"),
    ],
)
def test_unknown_name_is_an_error_naming_the_closest_built_in(name: str, closest: str) -> None:
    """Before: any bare name was read as the variable and gave the identity's gains."""
    with pytest.raises(InputError) as info:
        activation(name)
    message = str(info.value)
    assert f"{name!r} is not a built-in activation; did you mean " in message
    assert closest in message
    assert ", ".join(BUILTIN_NAMES) in message and "\n" not in message


@pytest.mark.parametrize("text", ["y*tanh(y)", "t", "x + z", "relu6*x", "2*swish"])
def test_the_variable_is_x_or_z_and_nothing_else(text: str) -> None:
    with pytest.raises(InputError, match=r"unknown name|second variable|not a built-in"):
        activation(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [("x*tanh(x)", "x*tanh(x)"), ("z*tanh(z)", "z*tanh(z)"), ("-x", "-x"), ("x", "x")],
)
def test_label_keeps_the_users_variable(text: str, label: str) -> None:
    assert activation(text).label == label


def test_built_in_used_as_a_function_says_so() -> None:
    with pytest.raises(InputError, match="built-in activations are names on their own"):
        activation("relu(x)")
    with pytest.raises(InputError, match="did you mean 'tanh'"):
        activation("tahn(x)")


# ---------------------------------------------------------------------------
# The real domain
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("log(x)", "log(x) in 'log(x)' is not real for x < 0"),
        ("sqrt(x)", "sqrt(x) in 'sqrt(x)' is not real for x < 0"),
        ("x^0.5", "sqrt(x) in 'x^0.5' is not real for x < 0"),
        ("log(1-x)", "log(1 - x) in 'log(1-x)' is not real for x > 1"),
        ("sqrt(x-1)", "sqrt(x - 1) in 'sqrt(x-1)' is not real for x < 1"),
        ("sqrt(x**2-2)", "is not real for -1.4142136 < x < 1.4142136"),
        ("log(sin(x))", "is not real for -3.1415927 < x < 0"),
        ("z*log(z)", "log(z) in 'z*log(z)' is not real for z < 0"),
        ("log(tanh(x)+1/2)", "is not real for x < -0.54930614"),
    ],
)
def test_expression_not_real_on_part_of_the_line_is_an_input_error_naming_where(
    text: str, where: str
) -> None:
    """Before: TypeError (cannot create mpf from mpc) from deep inside the quadrature."""
    with pytest.raises(InputError) as info:
        parse_activation(text)
    assert where in str(info.value)
    assert "accepted: expressions real on the whole line" in str(info.value)


@pytest.mark.parametrize("text", ["log(1+x**2)", "sqrt(1+x**2)", "log(2+sin(x))", "abs(x)^0.75"])
def test_expressions_real_everywhere_are_accepted(text: str) -> None:
    parse_activation(text)


# ---------------------------------------------------------------------------
# Kinks: real roots of the pieces' arguments, not only linear ones
# ---------------------------------------------------------------------------


def _points(text: str, reach: int = 20, dps: int = 40) -> list[mpmath.mpf]:
    act = parse_activation(text)
    with mpmath.workdps(dps):
        return act.shape.split_points(mpmath.mpf(-reach), mpmath.mpf(reach), dps)


def test_kinks_of_polynomial_arguments_are_exact_roots() -> None:
    assert _points("max(x**2, 1)") == [-1, 0, 1]
    assert _points("abs(x**2 - 1)") == [-1, 0, 1]
    with mpmath.workdps(60):
        r = _points("abs(x**3 - 2)", dps=50)
        assert abs(r[-1] - mpmath.cbrt(2)) < mpmath.mpf(10) ** -48


def test_kinks_of_transcendental_arguments_are_located_to_the_working_precision() -> None:
    """abs(sin(x)) has a kink at every k pi: all of them on the range, each to 45 digits."""
    points = _points("abs(sin(x))", reach=20, dps=50)
    with mpmath.workdps(60):
        expected = [k * mpmath.pi for k in range(-6, 7)]
        assert len(points) == len(expected)
        for p, e in zip(points, expected, strict=True):
            assert abs(p - e) < mpmath.mpf(10) ** -45


def test_a_triple_root_kink_is_found() -> None:
    """min(x, tanh(x)): x - tanh(x) ~ x^3/3 changes sign at 0 with a vanishing slope."""
    assert 0 in _points("min(x, tanh(x))")


# ---------------------------------------------------------------------------
# Exact zeros are proven, never guessed
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_declared_odd_built_ins_are_odd_and_no_other_is(name: str) -> None:
    import sympy as sp

    from derive.maths.activations import is_odd

    act = builtin(name)
    z = sp.Symbol("z", real=True)
    assert act.odd == is_odd(act.sympy_expr(), z)
    if act.odd:
        assert sp.simplify(act.sympy_expr().subs(z, -z) + act.sympy_expr()) == 0


@pytest.mark.parametrize(
    ("text", "odd"),
    [("x*abs(x)", True), ("sigmoid(x) - 1/2", True), ("sin(x)**3", True), ("x*sin(x)", False)],
)
def test_oddness_of_expressions(text: str, odd: bool) -> None:
    assert parse_activation(text).odd is odd
