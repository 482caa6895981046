"""derive.model.spec: validation of the generation spec, and the spec hash in every header."""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import pytest

from derive.core.errors import InputError
from derive.model.spec import KNOWN_OUTPUTS, Spec, load_spec, parse_spec
from tests.conftest import ROOT

D = decimal.Decimal
BASE: dict[str, Any] = {
    "digits": 30,
    "outputs": ["constants.json", "constants.py"],
    "symmetric": {"start": "1", "stop": "2", "step": "0.5"},
    "intervals": [["-1", "3"], ["2", "inf"], ["-inf", "-2"]],
}


def _with(**changes: Any) -> dict[str, Any]:
    table = {**BASE, **changes}
    return {k: v for k, v in table.items() if v is not None}


# ---------------------------------------------------------------------------
# Valid specs
# ---------------------------------------------------------------------------


def test_a_valid_spec_is_parsed_into_sorted_exact_intervals() -> None:
    spec = parse_spec(BASE)
    assert spec.digits == 30
    assert spec.outputs == ("constants.json", "constants.py")
    assert spec.symmetric_cutoffs == (D(1), D("1.5"), D(2))
    assert spec.intervals == tuple(sorted(spec.intervals))
    assert (D("-1.5"), D("1.5")) in spec.intervals  # the symmetric range joins the list
    assert (D("-Infinity"), D(-2)) in spec.intervals and (D(2), D("Infinity")) in spec.intervals
    assert len(spec.intervals) == 3 + 3


def test_defaults_are_50_digits_and_every_output() -> None:
    spec = parse_spec({})
    assert spec.digits == 50
    assert spec.outputs == tuple(sorted(KNOWN_OUTPUTS))
    assert spec.intervals == ()


def test_critical_bias_variances_default_to_the_issue_list_and_are_sorted_exact_and_unique() -> (
    None
):
    assert parse_spec({}).critical_bias_variances == tuple(
        D(v) for v in ("0", "0.01", "0.05", "0.1", "0.2")
    )
    assert parse_spec({}).critical_digits == 20
    spec = parse_spec({"critical_bias_variances": ["0.2", "0", "0.20", 1, "1e-2"]})
    assert spec.critical_bias_variances == (D(0), D("0.01"), D("0.2"), D(1))
    assert parse_spec({"critical_digits": 30}).critical_digits == 30
    assert parse_spec({"critical_bias_variances": []}).critical_bias_variances == ()


def test_the_repository_spec_in_pyproject_is_valid() -> None:
    spec = load_spec(ROOT / "pyproject.toml")
    assert (D(-2), D(2)) in spec.intervals  # TensorFlow's cutoff is tabulated
    assert 1 <= spec.digits <= 10000


def test_a_standalone_toml_file_and_a_tool_initref_table_give_the_same_spec(
    tmp_path: Path,
) -> None:
    body = 'digits = 20\noutputs = ["constants.py"]\nintervals = [["-2", "2"]]\n'
    standalone = tmp_path / "spec.toml"
    standalone.write_text(body)
    nested = tmp_path / "nested.toml"
    nested.write_text("[tool.initref]\n" + body)
    assert load_spec(standalone) == load_spec(nested)


# ---------------------------------------------------------------------------
# The spec hash
# ---------------------------------------------------------------------------


def _hash(table: dict[str, Any]) -> str:
    return parse_spec(table).hash


def test_spec_hash_is_16_hex_digits_and_stable() -> None:
    h = _hash(BASE)
    assert len(h) == 16 and int(h, 16) >= 0
    assert _hash(dict(BASE)) == h


@pytest.mark.parametrize(
    "same",
    [
        _with(intervals=[["2", "inf"], ["-inf", "-2"], ["-1", "3"]]),  # order
        _with(intervals=[["-1", "3"], ["2", "inf"], ["-inf", "-2"], ["-1", "3"]]),  # duplicate
        _with(intervals=[[-1, 3], ["2.0", "Infinity"], ["-inf", "-2.00"]]),  # spelling
        _with(outputs=["constants.py", "constants.json", "constants.py"]),  # order, duplicate
        _with(symmetric={"step": "0.50", "stop": "2.0", "start": "1"}),  # key order, zeros
        _with(intervals=[*BASE["intervals"], ["-1.5", "1.5"]]),  # already in the range
        _with(critical_bias_variances=["0.2", "0", "0.01", "0.05", "0.10", "0.1"]),  # defaults
        _with(critical_digits=20),  # the default
    ],
    ids=[
        "order",
        "duplicate",
        "spelling",
        "outputs-order",
        "symmetric-spelling",
        "overlap",
        "critical-default-list",
        "critical-default-digits",
    ],
)
def test_spec_hash_does_not_change_when_the_spec_means_the_same(same: dict[str, Any]) -> None:
    assert _hash(same) == _hash(BASE)


@pytest.mark.parametrize(
    "different",
    [
        _with(digits=31),
        _with(outputs=["constants.json"]),
        _with(intervals=[["-1", "3"], ["2", "inf"]]),
        _with(intervals=[*BASE["intervals"], ["8", "9"]]),
        _with(
            intervals=[["-1", "3.0000000000000000000000000000001"], ["2", "inf"], ["-inf", "-2"]]
        ),
        _with(symmetric={"start": "1", "stop": "2.5", "step": "0.5"}),
        _with(symmetric=None),
        _with(critical_bias_variances=["0", "0.05"]),
        _with(critical_digits=21),
    ],
    ids=[
        "digits",
        "outputs",
        "fewer",
        "more",
        "31st-digit",
        "range",
        "no-range",
        "critical-list",
        "critical-digits",
    ],
)
def test_spec_hash_changes_when_the_spec_changes(different: dict[str, Any]) -> None:
    assert _hash(different) != _hash(BASE)


def test_spec_hash_ignores_toml_layout_and_comments(tmp_path: Path) -> None:
    one = tmp_path / "one.toml"
    one.write_text('digits = 30\nintervals = [["-2", "2"]]\n')
    two = tmp_path / "two.toml"
    two.write_text('# a comment\nintervals = [\n  [ "-2" , "2" ],\n]\n\ndigits   =   30\n')
    assert load_spec(one).hash == load_spec(two).hash


# ---------------------------------------------------------------------------
# Bad specs: one-line InputError naming the value and what is accepted
# ---------------------------------------------------------------------------

BAD: list[tuple[str, Any, str]] = [
    (
        "unknown-key",
        {"digit": 30},
        "spec: unknown key 'digit' in [tool.initref] (accepted: digits, gain_digits, intervals, "
        "outputs, symmetric, critical_bias_variances, critical_digits)",
    ),
    (
        "critical-negative-bias-variance",
        {"critical_bias_variances": ["0", "-0.1"]},
        "spec: critical_bias_variances[1]: '-0.1' is out of range (accepted: a finite real >= 0 "
        "and <= 10000)",
    ),
    (
        "critical-infinite-bias-variance",
        {"critical_bias_variances": ["inf"]},
        "spec: critical_bias_variances[0]: 'inf' is out of range",
    ),
    (
        "critical-bias-variance-not-a-number",
        {"critical_bias_variances": ["0.05", "small"]},
        "spec: critical_bias_variances[1]: 'small' is not a number",
    ),
    (
        "critical-bias-variance-bool",
        {"critical_bias_variances": [True]},
        "spec: critical_bias_variances[0] = True has type bool",
    ),
    (
        "critical-bias-variances-not-a-list",
        {"critical_bias_variances": "0.05"},
        "spec: critical_bias_variances = '0.05' (accepted: a list of bias variances",
    ),
    (
        "critical-bias-variances-too-many",
        {"critical_bias_variances": [str(i) for i in range(101)]},
        "spec: critical_bias_variances has 101 values (accepted: <= 100)",
    ),
    (
        "critical-digits-out-of-range",
        {"critical_digits": 0},
        "spec: critical_digits: digits: 0 is out of range (accepted: 1..10000)",
    ),
    (
        "critical-digits-float",
        {"critical_digits": 20.5},
        "spec: critical_digits = 20.5 has type float (accepted: an integer 1..10000)",
    ),
    (
        "unknown-symmetric-key",
        {"symmetric": {"start": "1", "stop": "2", "step": "1", "end": 3}},
        "unknown key 'end' in [tool.initref.symmetric] (accepted: start, step, stop)",
    ),
    ("digits-str", {"digits": "50"}, "digits = '50' has type str (accepted: an integer 1..10000)"),
    ("digits-float", {"digits": 50.0}, "digits = 50.0 has type float (accepted: an integer"),
    ("digits-bool", {"digits": True}, "digits = True has type bool (accepted: an integer"),
    ("digits-0", {"digits": 0}, "digits: 0 is out of range (accepted: 1..10000)"),
    ("digits-10001", {"digits": 10001}, "digits: 10001 is out of range (accepted: 1..10000)"),
    (
        "reversed",
        {"intervals": [["3", "1"]]},
        "spec: intervals[0]: interval [3, 1]: lower must be < upper",
    ),
    ("empty", {"intervals": [["1", "1"]]}, "interval [1, 1]: lower must be < upper"),
    (
        "both-infinite",
        {"intervals": [["inf", "inf"]]},
        "intervals[0]: interval [inf, inf]: lower must be < upper",
    ),
    ("not-a-pair", {"intervals": [["1"]]}, "intervals[0] = ['1'] (accepted: a pair"),
    ("not-a-list", {"intervals": "x"}, "intervals = 'x' (accepted: a list of [lower, upper])"),
    (
        "bound-word",
        {"intervals": [["a", "1"]]},
        "intervals[0][0]: 'a' is not a number (accepted: a real number, inf or -inf)",
    ),
    ("bound-nan", {"intervals": [["0", "nan"]]}, "intervals[0][1]: 'nan' is NaN"),
    (
        "bound-bool",
        {"intervals": [[True, "1"]]},
        "intervals[0][0] = True has type bool (accepted: a number or a decimal string)",
    ),
    ("bound-table", {"intervals": [[{"x": 1}, "1"]]}, "intervals[0][0] = {'x': 1} has type dict"),
    ("unknown-output", {"outputs": ["x.py"]}, "unknown output 'x.py' (accepted: constants.json"),
    (
        "outputs-str",
        {"outputs": "constants.py"},
        "outputs = 'constants.py' (accepted: a list of file names)",
    ),
    (
        "step-0",
        {"symmetric": {"start": "1", "stop": "2", "step": "0"}},
        "symmetric.step = 0 is out of range (accepted: finite > 0)",
    ),
    (
        "step-missing",
        {"symmetric": {"start": "1", "stop": "2"}},
        "symmetric.step is missing (accepted keys: start, step, stop)",
    ),
    (
        "stop-below-start",
        {"symmetric": {"start": "3", "stop": "2", "step": "1"}},
        "symmetric.stop = 2 is below start = 3 (accepted: >= start)",
    ),
    (
        "too-many",
        {"symmetric": {"start": "0.00001", "stop": "2", "step": "0.00001"}},
        "symmetric range has 200000 cutoffs (accepted: <= 100000)",
    ),
    ("symmetric-not-table", {"symmetric": 5}, "[tool.initref.symmetric] must be a table"),
]


@pytest.mark.parametrize(
    ("table", "fragment"), [(t, f) for _, t, f in BAD], ids=[name for name, _, _ in BAD]
)
def test_bad_spec_raises_one_line_input_error_naming_the_value(table: Any, fragment: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_spec(table)
    message = str(exc.value)
    assert fragment in message, message
    assert "\n" not in message


def test_spec_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(InputError, match=r"spec: \[tool.initref\] must be a table, got list"):
        parse_spec([])


def test_missing_file_invalid_toml_and_pyproject_without_table_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(InputError, match=r"spec: cannot read '.*nope.toml'"):
        load_spec(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("digits = [\n")
    with pytest.raises(InputError, match=r"spec: '.*broken.toml' is not valid TOML"):
        load_spec(broken)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n')
    with pytest.raises(InputError, match=r"has no \[tool.initref\] table"):
        load_spec(pyproject)


def test_spec_is_a_frozen_value() -> None:
    spec = parse_spec(BASE)
    assert isinstance(spec, Spec)
    with pytest.raises(AttributeError):
        spec.digits = 3  # type: ignore[misc]
