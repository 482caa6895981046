"""Gains as Gaussian expectations: closed forms, quadrature, known values, PyTorch's table."""

from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import pytest

from derive.maths.gains import gains, torch_gain

CLOSED = ("linear", "relu", "leaky_relu", "elu", "selu", "gelu")


def _agree(x: mpmath.mpf, y: mpmath.mpf, digits: int) -> bool:
    """|x - y| <= 10^-digits relative to max(|x|, 1e-300) (an exact 0 against a tiny y)."""
    with mpmath.workdps(digits + 20):
        return bool(abs(x - y) <= mpmath.mpf(10) ** (-digits) * max(abs(x), abs(y), 1))


@pytest.mark.parametrize("name", CLOSED)
def test_closed_form_agrees_with_quadrature_at_higher_precision(name: str) -> None:
    """SymPy's closed forms at 25 digits against 35-digit quadrature, to 25 digits."""
    closed = gains(name, digits=25, method="closed")
    quad = gains(name, digits=35, method="quadrature")
    assert closed.method == "closed form"
    for q in ("mean", "second_moment", "derivative_second_moment", "forward_gain"):
        assert _agree(getattr(closed, q), getattr(quad, q), 25), q


@pytest.mark.parametrize("name", ["silu", "tanh", "gelu_tanh"])
def test_quadrature_agrees_at_two_precisions(name: str) -> None:
    low, high = gains(name, digits=15), gains(name, digits=30)
    for q in ("mean", "second_moment", "derivative_second_moment"):
        assert _agree(getattr(low, q), getattr(high, q), 15), q


def test_relu_gain_is_sqrt2_and_the_variance_gain_is_not() -> None:
    g = gains("relu", digits=40)
    with mpmath.workdps(50):
        assert _agree(g.forward_gain, mpmath.sqrt(2), 40)
        assert _agree(g.backward_gain, mpmath.sqrt(2), 40)
        assert _agree(g.mean, 1 / mpmath.sqrt(2 * mpmath.pi), 40)
        assert _agree(g.variance_gain, 1 / mpmath.sqrt(0.5 - 1 / (2 * mpmath.pi)), 40)
    assert mpmath.nstr(g.variance_gain, 5) == "1.7129"


def test_leaky_relu_slope_001_gain_known_value() -> None:
    g = gains("leaky_relu", "0.01", digits=21)
    assert mpmath.nstr(g.forward_gain, 21) == "1.41414285699783534988"
    assert _agree(g.forward_gain, torch_gain("leaky_relu", None, 40), 21)


def test_selu_keeps_unit_second_moment_at_published_constants() -> None:
    """Klambauer et al. publish alpha, lambda to 32 digits; E[f^2] = 1 and E[f] = 0 to ~31."""
    g = gains("selu", digits=40)
    assert abs(g.second_moment - 1) < mpmath.mpf(10) ** -30
    assert abs(g.mean) < mpmath.mpf(10) ** -30


def test_gelu_closed_form_is_the_stein_lemma_result() -> None:
    g = gains("gelu", digits=30)
    with mpmath.workdps(40):
        assert _agree(g.second_moment, mpmath.mpf(1) / 3 + 1 / (2 * mpmath.sqrt(3) * mpmath.pi), 30)
    assert g.closed_forms is not None and "pi" in g.closed_forms["second_moment"]


def test_odd_activation_mean_is_exactly_zero() -> None:
    assert gains("tanh", digits=20).mean == 0


def test_torch_gains_beside_derived() -> None:
    """PyTorch's tanh 5/3 and selu 3/4 differ from the derived gains; gelu/silu have none."""
    assert torch_gain("gelu", None, 20) is None and torch_gain("silu", None, 20) is None
    assert abs(gains("tanh", digits=10).forward_gain - mpmath.mpf(5) / 3) > mpmath.mpf("0.07")
    assert abs(gains("selu", digits=10).forward_gain - mpmath.mpf(3) / 4) > mpmath.mpf("0.2")


def test_user_expression_matches_builtin() -> None:
    user = gains("x*(1 + erf(x/sqrt(2)))/2", digits=20)
    ref = gains("gelu", digits=20)
    assert _agree(user.second_moment, ref.second_moment, 20)
    assert user.label == "x*(erf(sqrt(2)*x/2) + 1)/2"  # the user's variable, not z


def test_constant_expression_is_rejected() -> None:
    from derive.core.errors import InputError

    with pytest.raises(InputError, match="does not depend on a variable"):
        gains("max(x, 0) - max(x, 0) + 1", digits=10)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], capture_output=True, text=True, check=False
    )


def test_cli_gain_json_keys() -> None:
    out = _cli("gain", "leaky_relu", "--param", "0.01", "--digits", "21", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    for key in (
        "mean",
        "second_moment",
        "variance",
        "derivative_second_moment",
        "forward_gain",
        "backward_gain",
    ):
        assert key in record
    assert record["forward_gain"] == "1.41414285699783534988"


@pytest.mark.parametrize(
    "args",
    [
        ("gain", "x+y"),
        ("gain", "relu", "--param", "2"),
        ("gain", "os.system('ls')"),
        ("gain", "tanh", "--digits", "0"),
    ],
)
def test_cli_gain_bad_input_is_one_line_exit_2(args: tuple[str, ...]) -> None:
    out = _cli(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("initref: error: ") and out.stderr.count("\n") == 1
