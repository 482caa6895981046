"""derive.model.spec: validation of the generation spec, and the spec hash in every header."""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import pytest

from derive.core.errors import InputError
from derive.core.resources import default_spec_file
from derive.model.spec import (
    DEFAULT_SOURCE,
    KNOWN_OUTPUTS,
    Spec,
    load_default_spec,
    load_spec,
    parse_spec,
    shown_path,
)
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
        "spec: unknown key 'digit' in [tool.initref] (accepted: complex_radii, "
        "critical_bias_variances, critical_digits, digits, gain_digits, intervals, outputs, "
        "symmetric)",
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
    (
        "digits-float",
        {"digits": 50.5},
        "digits = 50.5 has type float (accepted: an integer 1..10000)",
    ),
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
        "intervals[0][0] = True has type bool (accepted: a decimal string or an integer)",
    ),
    (
        "bound-float",
        {"intervals": [[0.1, "3"]]},
        'spec: intervals[0][0]: 0.1 is a float (inexact); write "0.1" (accepted: a decimal '
        "string or an integer)",
    ),
    ("bound-float-inf", {"intervals": [["2", float("inf")]]}, 'inf is a float; write "inf"'),
    ("bound-float-nan", {"intervals": [["2", float("nan")]]}, "intervals[0][1]: 'nan' is NaN"),
    (
        "symmetric-float",
        {"symmetric": {"start": "1", "stop": 2.5, "step": "0.5"}},
        'symmetric.stop: 2.5 is a float (inexact); write "2.5"',
    ),
    ("symmetric-bool", {"symmetric": {"start": True, "stop": "2", "step": "1"}}, "has type bool"),
    (
        "symmetric-stop-off-the-grid",
        {"symmetric": {"start": "0.5", "stop": "6", "step": "0.4"}},
        "symmetric.stop = 6 is not start + n*step (start = 0.5, step = 0.4: the last cutoff "
        "would be 5.7; accepted: stop - start a multiple of step)",
    ),
    (
        "digits-float-integral",
        {"digits": 40.0},
        "digits = 40.0 has type float (accepted: an integer 1..10000; write digits = 40)",
    ),
    ("gain-digits-float", {"gain_digits": 2.5}, "gain_digits = 2.5 has type float (accepted: an"),
    (
        "output-typo",
        {"outputs": ["constant.json"]},
        "unknown output 'constant.json' (did you mean 'constants.json'? accepted:",
    ),
    ("output-case", {"outputs": ["Numpy_init.py"]}, "did you mean 'numpy_init.py'?"),
    ("output-not-str", {"outputs": [3]}, "outputs[0] = 3 has type int (accepted: a non-empty list"),
    ("outputs-empty", {"outputs": []}, "outputs = [] (accepted: a non-empty list of"),
    ("bound-table", {"intervals": [[{"x": 1}, "1"]]}, "intervals[0][0] = {'x': 1} has type dict"),
    (
        "unknown-output",
        {"outputs": ["x.py"]},
        "unknown output 'x.py' (accepted: constants.json",
    ),
    (
        "outputs-str",
        {"outputs": "constants.py"},
        "outputs = 'constants.py' (accepted: a non-empty list of constants.json, ",
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


# ---------------------------------------------------------------------------
# Numbers in TOML files: decimal strings or integers, never floats
# ---------------------------------------------------------------------------

# (TOML, fragment of the message, the TOML the message says to write: accepted)
TOML_FLOATS: list[tuple[str, str, str | None]] = [
    (
        "intervals = [[0.1, 3]]",
        'intervals[0][0]: 0.1 is a TOML float (inexact); write "0.1"',
        'intervals = [["0.1", 3]]',
    ),
    (
        'intervals = [["-1", 2.50]]',
        'intervals[0][1]: 2.50 is a TOML float (inexact); write "2.50"',
        'intervals = [["-1", "2.50"]]',
    ),
    (
        'intervals = [["2", inf]]',
        'intervals[0][1]: inf is a TOML float; write "inf"',
        'intervals = [["2", "inf"]]',
    ),
    ('intervals = [[-inf, "2"]]', 'intervals[0][0]: -inf is a TOML float; write "-inf"', None),
    # the float's own spelling, not the double's repr (that would be 0.1)
    (
        'intervals = [[1e-1, "3"]]',
        'intervals[0][0]: 1e-1 is a TOML float (inexact); write "1e-1"',
        'intervals = [["1e-1", "3"]]',
    ),
    (
        'intervals = [[1_000.5, "2e3"]]',
        'write "1_000.5"',
        'intervals = [["1_000.5", "2e3"]]',
    ),
    ('symmetric = { start = 0.5, stop = "6", step = "0.25" }', "symmetric.start: 0.5 is a", None),
    ('symmetric = { start = "0.5", stop = "6", step = 0.25 }', "symmetric.step: 0.25 is a", None),
    (
        "digits = 50.0",
        "digits = 50.0 has type float (accepted: an integer 1..10000; write digits = 50)",
        "digits = 50",
    ),
    ("gain_digits = 2.5e1", "gain_digits = 2.5e1 has type float (accepted: an integer", None),
    # a float that is no bound at all: that error first
    ("intervals = [[nan, 1]]", "intervals[0][0]: 'nan' is NaN", None),
    ("intervals = [[1e-500, 1]]", "intervals[0][0]: '1e-500' is out of range", None),
]


@pytest.mark.parametrize(
    ("body", "fragment", "fixed"), TOML_FLOATS, ids=[body for body, _, _ in TOML_FLOATS]
)
def test_a_toml_float_is_refused_with_the_decimal_string_to_write(
    tmp_path: Path, body: str, fragment: str, fixed: str | None
) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_spec(path)
    message = str(exc.value)
    assert message.startswith("spec: ") and fragment in message, message
    assert "\n" not in message
    if fixed is not None:  # what the message says to write is accepted
        path.write_text(fixed + "\n", encoding="utf-8")
        load_spec(path)


def test_the_string_the_message_suggests_is_the_exact_decimal() -> None:
    spec = parse_spec({"intervals": [["0.1", "3"]]})
    assert spec.intervals == ((D("0.1"), D(3)),)  # one tenth, not 0.1000000000000000055511...


def test_integers_are_exact_bounds_equal_to_their_strings(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text("intervals = [[-2, 2], [3, 4]]\nsymmetric = {start = 1, stop = 3, step = 1}\n")
    as_strings = parse_spec(
        {
            "intervals": [["-2", "2"], ["3", "4"]],
            "symmetric": {"start": "1", "stop": "3", "step": "1"},
        }
    )
    assert load_spec(path) == as_strings and load_spec(path).hash == as_strings.hash


def test_a_file_with_both_tool_initref_and_top_level_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text('digits = 20\n[tool.initref]\nintervals = [["-2", "2"]]\n')
    with pytest.raises(
        InputError, match=r"has both \[tool.initref\] and the top-level key 'digits'"
    ):
        load_spec(path)


# ---------------------------------------------------------------------------
# The default spec and where a spec came from (provenance)
# ---------------------------------------------------------------------------


def test_the_packaged_default_spec_is_the_repository_pyproject(root: Path) -> None:
    default = load_default_spec()
    assert default == load_spec(root / "pyproject.toml")
    assert default_spec_file().read_bytes() == (root / "pyproject.toml").read_bytes()
    assert default.source == DEFAULT_SOURCE
    assert (default.source.name, default.source.command) == (
        "pyproject.toml [tool.initref]",
        "initref generate",
    )


def test_a_spec_file_is_named_relative_to_the_working_directory_or_by_its_name(
    tmp_path: Path,
) -> None:
    inside = tmp_path / "specs" / "my spec.toml"
    assert shown_path(inside, cwd=tmp_path) == "specs/my spec.toml"
    assert shown_path(Path("specs/../specs/a.toml"), cwd=tmp_path) == "specs/a.toml"
    assert shown_path(inside, cwd=tmp_path / "elsewhere") == "my spec.toml"  # no ../, no /tmp
    assert shown_path(Path("../up.toml"), cwd=tmp_path) == "up.toml"


def test_a_spec_file_records_its_name_and_the_command_that_reads_it(tmp_path: Path) -> None:
    nested = tmp_path / "pyproject.toml"
    nested.write_text('[tool.initref]\nintervals = [["-2", "2"]]\n')
    standalone = tmp_path / "my spec.toml"
    standalone.write_text('intervals = [["-2", "2"]]\n')
    a = load_spec(nested, shown="sub/pyproject.toml")
    b = load_spec(standalone, shown="my spec.toml")
    assert a == b and a.hash == b.hash  # where it came from is not part of the spec
    assert a.source.name == "sub/pyproject.toml [tool.initref]"
    assert a.source.command == "initref generate --spec sub/pyproject.toml"
    assert b.source.name == "my spec.toml"
    assert b.source.command == "initref generate --spec 'my spec.toml'"
