"""`gain` answers or refuses every query in bounded time, with one line and exit status 2.

Each pathological expression runs in its own process under a generous timeout (300 s; they
take 1-15 s): the test proves termination and the one-line refusal, it is not a speed test.
Before: `gain "exp(exp(exp(x)))"` ran for more than 600 s; `gain "log(x)"` ended in a
TypeError traceback (exit 1); `gain -x` was read as an unknown option.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from derive import cli
from tests.conftest import ROOT

REFUSED: list[tuple[str, list[str], str]] = [
    ("tower", ["exp(exp(exp(x)))"], "E[f^2] is infinite: log|f| may grow faster than every"),
    ("double-exp", ["exp(exp(x))"], "E[f^2] is infinite"),
    ("gaussian-square", ["exp(x**2)"], "E[f^2] is infinite: log|f| may grow like x^2"),
    ("borderline", ["exp(x**2/4)"], "E[f^2] is infinite: log|f| may grow like 1/4*x^2"),
    ("cubic", ["exp(x**3)"], "E[f^2] is infinite"),
    ("cancelling", ["cosh(x**3)-sinh(x**3)"], "E[f^2] cannot be shown finite"),
    ("huge-constant", ["exp(exp(20*tanh(x)))"], "may exceed e^700"),
    ("pole", ["1/x"], "E[f^2] is infinite: |f| grows like |x|^-1.00 near x = 0"),
    ("sqrt-kink", ["sqrt(abs(x))"], "E[f'^2] is infinite: |f'| grows like |x|^-0.50"),
    ("log-singularity", ["log(abs(x))"], "E[f'^2] is infinite"),
    ("not-provably-zero", ["abs(x)-sqrt(2/pi)"], "E[f] could not be resolved to 20 digits"),
    ("dense-kinks", ["abs(sin(exp(x)))"], "could not be isolated in 20000 cells"),
    ("too-many-pieces", ["abs(sin(x**3))"], "pieces between kinks"),
    ("quadrature-digits", ["silu", "--digits", "301"], "301 digits by quadrature"),
    ("log-negative", ["log(x)"], "log(x) in 'log(x)' is not real for x < 0"),
    ("sqrt-negative", ["sqrt(x-1)"], "is not real for x < 1"),
    ("power-negative", ["x^0.5"], "is not real for x < 0"),
    ("log-right", ["log(1-x)"], "is not real for x > 1"),
]


@pytest.mark.parametrize(
    ("args", "fragment"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_pathological_query_refuses_in_bounded_time_with_one_line(
    args: list[str], fragment: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "derive", "gain", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stdout == ""
    assert out.stderr.startswith("initref: error: ") and out.stderr.count("\n") == 1, out.stderr
    assert fragment in out.stderr, out.stderr


@pytest.mark.parametrize("name", ["relu6", "swish", "GELU", "Gelu", "relu "])
def test_cli_unknown_name_exits_2_with_built_ins_and_a_suggestion(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: exit 0 with the identity's gains (forward_gain 1.000...)."""
    with pytest.raises(SystemExit) as info:
        cli.main(["gain", name])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "did you mean" in captured.err
    assert "linear, relu, leaky_relu, elu, selu, gelu, gelu_tanh, silu" in captured.err


@pytest.mark.parametrize(
    ("argv", "label"),
    [
        (["gain", "-x", "--json"], "-x"),
        (["gain", "--digits", "12", "-tanh(x)", "--json"], "-tanh(x)"),
        (["gain", "-0.5*x", "--json", "--method", "quadrature"], "-x/2"),
        (["gain", "--json", "--", "-x"], "-x"),
    ],
)
def test_gain_of_an_expression_starting_with_minus(
    argv: list[str], label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `gain -x` was read as an option ("the following arguments are required")."""
    assert cli.main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["activation"] == label
    assert record["mean"] == "0"  # odd, proven


def test_options_after_a_minus_expression_still_parse(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gain", "-tanh(x)", "--digits", "5", "--csv"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.startswith("activation,digits") and row.startswith("-tanh(x),5,quadrature,0,")
    with pytest.raises(SystemExit):
        cli.main(["gain", "-x", "--jsn"])  # a typo of an option stays an error
