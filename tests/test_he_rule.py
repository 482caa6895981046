"""derive.maths.he_rule: He's variance rule derived from the layer recursion with SymPy.

Every expected value is written out here in closed form and compared with
``sp.simplify(derived - expected) == 0`` (an exact symbolic identity, no tolerance).
"""

from __future__ import annotations

import pytest
import sympy as sp

from derive.maths.he_rule import (
    backward_condition,
    forward_condition,
    general_rule,
    n_in,
    n_out,
    rectifier_derivative_second_moment,
    rectifier_second_moment,
    sigma,
    slope,
    uniform_variance,
    variance_rule,
)


def _same(derived: sp.Expr, expected: sp.Expr) -> bool:
    return sp.simplify(derived - expected) == 0


def test_relu_second_moment_is_half_the_variance() -> None:
    """E[relu(y)^2] = sigma^2 / 2 for y ~ N(0, sigma^2) (He et al. 2015, eq. 7-8)."""
    assert _same(rectifier_second_moment().subs(slope, 0), sigma**2 / 2)


def test_leaky_relu_second_moment_is_1_plus_a_squared_times_half_the_variance() -> None:
    assert _same(rectifier_second_moment(), (1 + slope**2) * sigma**2 / 2)


def test_derivative_second_moment_is_1_plus_a_squared_over_2() -> None:
    """E[f'(y)^2] = P(y > 0) + a^2 P(y < 0) = (1 + a^2)/2 (He et al. eq. 11-13)."""
    assert _same(rectifier_derivative_second_moment(), (1 + slope**2) / 2)
    assert _same(rectifier_derivative_second_moment().subs(slope, 0), sp.Rational(1, 2))


def test_uniform_variance_is_L_squared_over_3() -> None:
    limit = sp.Symbol("L", positive=True)
    assert _same(uniform_variance(), limit**2 / 3)


def test_forward_condition_solves_to_2_over_n_in_for_relu() -> None:
    (v,) = sp.solve(forward_condition().subs(slope, 0), sp.Symbol("v", positive=True))
    assert _same(v, 2 / n_in)
    assert _same(general_rule("fan_in").subs(slope, 0), 2 / n_in)


def test_backward_condition_solves_to_2_over_n_out_for_relu() -> None:
    (v,) = sp.solve(backward_condition().subs(slope, 0), sp.Symbol("v", positive=True))
    assert _same(v, 2 / n_out)
    assert _same(general_rule("fan_out").subs(slope, 0), 2 / n_out)


def test_general_rule_is_2_over_1_plus_a_squared_times_fan() -> None:
    """He et al. eq. 15: (1 + a^2) n Var[w] / 2 = 1."""
    assert _same(general_rule("fan_in"), 2 / ((1 + slope**2) * n_in))
    assert _same(general_rule("fan_out"), 2 / ((1 + slope**2) * n_out))
    assert _same(general_rule("fan_avg"), 4 / ((1 + slope**2) * (n_in + n_out)))


@pytest.mark.parametrize(
    ("mode", "fan"), [("fan_in", n_in), ("fan_out", n_out), ("fan_avg", (n_in + n_out) / 2)]
)
def test_he_rule_for_relu_is_2_over_fan_with_uniform_limit_sqrt_6_over_fan(
    mode: str, fan: sp.Expr
) -> None:
    rule = variance_rule(0, mode)  # type: ignore[arg-type]
    assert _same(rule.variance, 2 / fan)
    assert _same(rule.std, sp.sqrt(2 / fan))
    assert _same(rule.uniform_limit, sp.sqrt(6 / fan))
    assert _same(rule.fan, fan)


@pytest.mark.parametrize("text", [0.01, "0.01", "1/100", sp.Rational(1, 100)])
def test_leaky_slope_001_gives_2_over_1_0001_n(text: object) -> None:
    """a = 0.01 exactly (decimal text, not the binary double nearest 0.01 when a string;
    a float 0.01 is rationalised by nsimplify to 1/100)."""
    rule = variance_rule(text, "fan_in")
    assert rule.slope == sp.Rational(1, 100)
    assert _same(rule.variance, 2 / ((1 + sp.Rational(1, 10000)) * n_in))
    assert _same(rule.variance, sp.Rational(20000, 10001) / n_in)


def test_linear_activation_gives_lecun_1_over_n() -> None:
    rule = variance_rule(1, "fan_in")
    assert _same(rule.variance, 1 / n_in)
    assert _same(rule.uniform_limit, sp.sqrt(3 / n_in))


def test_linear_fan_avg_gives_glorot_2_over_n_in_plus_n_out() -> None:
    """Glorot & Bengio 2010, eq. 12 and 16: Var = 2/(n_in + n_out), L = sqrt(6/(n_in + n_out))."""
    rule = variance_rule(1, "fan_avg")
    assert _same(rule.variance, 2 / (n_in + n_out))
    assert _same(rule.uniform_limit, sp.sqrt(6 / (n_in + n_out)))


def test_he_fan_avg_gives_4_over_n_in_plus_n_out() -> None:
    assert _same(variance_rule(0, "fan_avg").variance, 4 / (n_in + n_out))


def test_latex_is_available_for_variance_std_and_uniform_limit() -> None:
    latex = variance_rule(0, "fan_in").latex()
    assert latex == {
        "variance": "\\frac{2}{n_{in}}",
        "std": "\\frac{\\sqrt{2}}{\\sqrt{n_{in}}}",
        "uniform_limit": "\\frac{\\sqrt{6}}{\\sqrt{n_{in}}}",
    }


@pytest.mark.parametrize("bad", [-1, "-0.5", float("nan"), float("inf"), "abc", True])
def test_negative_or_non_numeric_slopes_are_refused_naming_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match="slope: ") as exc:
        variance_rule(bad)
    assert repr(bad) in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_fan_mode_is_refused_naming_the_modes() -> None:
    with pytest.raises(ValueError, match=r"mode: 'fan_x' is not one of fan_in, fan_out, fan_avg"):
        variance_rule(0, "fan_x")  # type: ignore[arg-type]
