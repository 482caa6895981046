"""A table of bad inputs and the exact way each is refused.

* Command line (``derive.cli.main`` in process, a few through ``python -m derive``): exit
  status 2 and ONE line on stderr, ``initref: error: ...``, naming the bad value.
* Spec files (``generate --spec FILE --out DIR``): the same, and nothing is written.  User
  text that reaches generated code (bounds) is validated as a number before rendering, so
  code (``1; import os``) or template syntax (``{{ 7*7 }}``) is refused.
* Python API (derive.maths.truncnorm, derive.maths.he_rule, derive.model.spec.parse_spec):
  ValueError
  (derive.core.errors.InputError is one) or TypeError with a message naming the value.
* Generated initializers (numpy_init, torch_init, tf_init): ValueError/TypeError naming the
  argument.
* Activation expressions for ``gain``: hostile strings are parsed by derive.maths.activations'
  own parser, never evaluated.
"""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from derive import cli
from derive.core.errors import InputError
from tests.conftest import ROOT, load_generated, require

NAN = math.nan
LONG = "x" * 10_000

# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

# (argv, fragment of the one-line message); every row exits with status 2
CLI_ROWS: list[tuple[list[str], str]] = [
    (["truncnorm", "2", "-2"], "interval [2, -2]: lower must be < upper"),
    (["truncnorm", "1", "1"], "interval [1, 1]: lower must be < upper"),
    (["truncnorm", "nan", "1"], "lower: 'nan' is NaN"),
    (["truncnorm", "0", "NaN"], "upper: 'NaN' is NaN"),
    (["truncnorm", "abc", "1"], "lower: 'abc' is not a number"),
    (["truncnorm", "0", "1; import os"], "upper: '1; import os' is not a number"),
    (["truncnorm", "-inf", "-inf"], "interval [-inf, -inf]"),
    (["truncnorm", "inf", "inf"], "interval [inf, inf]"),
    (["truncnorm", "1e999999999", "inf"], "lower: '1e999999999' is out of range"),
    (["truncnorm", "0", "1e-999999999"], "upper: '1e-999999999' is out of range"),
    (["truncnorm", "0", "1", "--digits", "0"], "digits: 0 is out of range (accepted: 1..10000)"),
    (["truncnorm", "0", "1", "--digits", "10001"], "digits: 10001 is out of range"),
    (["truncnorm", "0", "1", "--digits", "abc"], "digits: 'abc' is not an integer"),
    (["truncnorm", "0", "1", "--digits", "1.5"], "digits: '1.5' is not an integer"),
    (["truncnorm", "0"], "the following arguments are required: B"),
    (["he", "--slope", "-1"], "slope: '-1'"),
    (["he", "--slope", "nan"], "slope: 'nan'"),
    (["he", "--slope", "inf"], "slope: 'inf'"),
    (["he", "--slope", "1/0"], "slope: '1/0' divides by zero"),
    (["he", "--slope", "sqrt(2)"], "slope: 'sqrt(2)' is not a number"),
    (["he", "--slope", "1e-999999999"], "slope: '1e-999999999'"),
    (["he", "--mode", "fan_x"], "invalid choice: 'fan_x'"),
    (["bogus"], "invalid choice: 'bogus'"),
    ([], "the following arguments are required: command"),
    (["generate", "--spec", "/nonexistent/spec.toml"], "cannot read '/nonexistent/spec.toml'"),
]


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def _assert_one_line_error(status: int, err: str, fragment: str) -> None:
    assert status == 2
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("initref: error: "), err
    assert fragment in err, f"{fragment!r} not in {err!r}"


@pytest.mark.parametrize(("argv", "fragment"), CLI_ROWS, ids=[" ".join(a) for a, _ in CLI_ROWS])
def test_cli_refuses_bad_input_with_exit_2_and_one_line(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run_main(argv, capsys)
    _assert_one_line_error(status, err, fragment)
    assert out == ""


# A spec whose bounds are spelt unusually (signs, spaces, trailing zeros, underscores,
# exponents, case): as a table and as the TOML file that holds the same table.
ODD_SPELLINGS: dict[str, Any] = {
    "digits": 5,
    "outputs": ["constants.json", "constants.md", "constants.py"],
    "intervals": [["-2_5E-1_0", " +1.50 "], ["-0.000", "INFINITY"]],
}
ODD_SPELLINGS_TOML = """\
[tool.initref]
digits = 5
outputs = ["constants.json", "constants.md", "constants.py"]
intervals = [["-2_5E-1_0", " +1.50 "], ["-0.000", "INFINITY"]]
"""
_MODELS: dict[object, dict[str, Any]] = {}


@pytest.fixture
def build_each_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of validation and of the CLI's error path share one model per spec (building
    one computes the activation gains, seconds of CPU)."""
    from derive.model import tables

    real_build = tables.build_model

    def build_once(spec: Any, **_: Any) -> dict[str, Any]:
        if spec not in _MODELS:
            _MODELS[spec] = real_build(spec)
        return _MODELS[spec]

    monkeypatch.setattr(tables, "build_model", build_once)


@pytest.mark.usefixtures("build_each_model_once")
def test_cli_refuses_an_output_directory_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"keep")
    spec = tmp_path / "spec.toml"
    spec.write_text(ODD_SPELLINGS_TOML, "utf-8")
    status, _, err = _run_main(
        ["generate", "--spec", str(spec), "--out", str(not_a_dir / "sub")], capsys
    )
    _assert_one_line_error(status, err, f"--out: cannot write {str(not_a_dir / 'sub')!r}")
    assert not_a_dir.read_bytes() == b"keep"


def test_a_slope_that_is_python_code_is_never_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SymPy's nsimplify/sympify of a string runs eval(): the slope must be parsed instead."""
    monkeypatch.chdir(tmp_path)
    payload = "__import__('pathlib').Path('PWNED').touch()"
    status, _, err = _run_main(["he", "--slope", payload], capsys)
    _assert_one_line_error(status, err, "is not a number")
    assert not (tmp_path / "PWNED").exists(), "the slope was executed as Python code"


SUBPROCESS_ROWS: list[tuple[list[str], str]] = [
    (["truncnorm", "2", "-2"], "lower must be < upper"),
    (["he", "--slope", "x.__class__"], "slope: 'x.__class__' is not a number"),
    (["generate", "--spec", "/nonexistent/spec.toml"], "cannot read"),
]


@pytest.mark.parametrize(
    ("argv", "fragment"), SUBPROCESS_ROWS, ids=[" ".join(a) for a, _ in SUBPROCESS_ROWS]
)
def test_python_m_derive_exits_2_with_one_line_and_no_traceback(
    argv: list[str], fragment: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "derive", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    _assert_one_line_error(proc.returncode, proc.stderr, fragment)


# ---------------------------------------------------------------------------
# Spec files
# ---------------------------------------------------------------------------

HEAD = "[tool.initref]\n"
SPEC_ROWS: list[tuple[str, str, str]] = [
    ("digits-0", HEAD + "digits = 0\n", "digits: 0 is out of range (accepted: 1..10000)"),
    ("digits-big", HEAD + "digits = 10001\n", "digits: 10001 is out of range"),
    ("digits-str", HEAD + 'digits = "50"\n', "digits = '50' has type str"),
    ("digits-bool", HEAD + "digits = true\n", "digits = True has type bool"),
    ("digits-float", HEAD + "digits = inf\n", "digits = inf has type float"),
    ("unknown-key", HEAD + "foo = 1\n", "unknown key 'foo' in [tool.initref]"),
    ("jinja-key", HEAD + '"{{ 7*7 }}" = 1\n', "unknown key '{{ 7*7 }}'"),
    ("unknown-output", HEAD + 'outputs = ["evil.py"]\n', "unknown output 'evil.py'"),
    ("path-output", HEAD + 'outputs = ["../../x.py"]\n', "unknown output '../../x.py'"),
    ("outputs-str", HEAD + 'outputs = "constants.py"\n', "outputs = 'constants.py'"),
    ("reversed", HEAD + 'intervals = [["2", "1"]]\n', "intervals[0]: interval [2, 1]"),
    ("code-bound", HEAD + 'intervals = [["1; import os", "2"]]\n', "'1; import os' is not a"),
    ("jinja-bound", HEAD + 'intervals = [["0", "{{ 7*7 }}"]]\n', "'{{ 7*7 }}' is not a number"),
    ("nan-bound", HEAD + 'intervals = [["nan", "1"]]\n', "intervals[0][0]: 'nan' is NaN"),
    ("huge-bound", HEAD + 'intervals = [["0", "1e999999999"]]\n', "'1e999999999' is out of"),
    ("bool-bound", HEAD + "intervals = [[true, 1]]\n", "intervals[0][0] = True has type bool"),
    ("array-bound", HEAD + "intervals = [[[0], 1]]\n", "intervals[0][0] = [0] has type list"),
    ("one-bound", HEAD + 'intervals = [["0"]]\n', "intervals[0] = ['0'] (accepted: a pair"),
    ("intervals-str", HEAD + 'intervals = "x"\n', "intervals = 'x' (accepted: a list"),
    ("empty-tail", HEAD + 'intervals = [["inf", "inf"]]\n', "lower must be < upper"),
    (
        "symmetric-0",
        HEAD + 'symmetric = { start = "0", stop = "1", step = "0.5" }\n',
        "symmetric.start = 0 is out of range (accepted: finite > 0)",
    ),
    (
        "symmetric-inf",
        HEAD + 'symmetric = { start = "1", stop = "inf", step = "1" }\n',
        "symmetric.stop = Infinity is out of range",
    ),
    (
        "symmetric-missing",
        HEAD + 'symmetric = { start = "1", stop = "2" }\n',
        "symmetric.step is missing",
    ),
    (
        "symmetric-reversed",
        HEAD + 'symmetric = { start = "2", stop = "1", step = "1" }\n',
        "symmetric.stop = 1 is below start = 2",
    ),
    (
        "symmetric-huge",
        HEAD + 'symmetric = { start = "0.00001", stop = "6", step = "0.00001" }\n',
        "symmetric range has 600000 cutoffs (accepted: <= 100000)",
    ),
    (
        "symmetric-extra",
        HEAD + 'symmetric = { start = "1", stop = "2", step = "1", os = "x" }\n',
        "unknown key 'os' in [tool.initref.symmetric]",
    ),
    ("not-toml", HEAD + "digits = = 3\n", "is not valid TOML"),
    ("table-not-table", "[tool]\ninitref = 3\n", "[tool.initref] must be a table, got int"),
]


@pytest.mark.parametrize(
    ("toml_text", "fragment"), [r[1:] for r in SPEC_ROWS], ids=[r[0] for r in SPEC_ROWS]
)
def test_a_bad_spec_file_is_refused_before_anything_is_rendered_or_written(
    toml_text: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(toml_text, encoding="utf-8")
    out = tmp_path / "out"
    status, _, err = _run_main(["generate", "--spec", str(spec), "--out", str(out)], capsys)
    _assert_one_line_error(status, err, fragment)
    assert not out.exists()


def test_a_pyproject_without_a_tool_initref_table_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "pyproject.toml"
    spec.write_text('[project]\nname = "x"\n', encoding="utf-8")
    status, _, err = _run_main(["generate", "--spec", str(spec), "--out", str(tmp_path)], capsys)
    _assert_one_line_error(status, err, "has no [tool.initref] table")


@pytest.mark.usefixtures("build_each_model_once")
def test_accepted_bounds_reach_generated_code_only_in_canonical_form() -> None:
    """Spellings the validator accepts (signs, spaces, trailing zeros, underscores, exponents)
    appear in the output only as the canonical number, never as the user's text."""
    from derive.emit.render import render
    from derive.model import tables
    from derive.model.spec import parse_spec

    spec = parse_spec(ODD_SPELLINGS)
    # "-2_5E-1_0" is -25e-10: Decimal's grouping underscores, as Python literals allow
    assert [[str(v) for v in pair] for pair in spec.intervals] == [
        ["-2.5E-9", "1.50"],
        ["-0.000", "Infinity"],
    ]
    texts = render(tables.build_model(spec), spec.outputs)
    joined = "\n".join(texts.values())
    for raw in ("+1.50", "1.50", "2_5", "E-1_0", "INFINITY", '"-0.000"'):
        assert raw not in joined, raw
    assert '"lower": "-0.0000000025"' in joined and '"upper": "1.5"' in joined
    assert '"lower": "0"' in joined and '"upper": "inf"' in joined


# ---------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------


def _truncnorm(*args: Any, **kwargs: Any) -> Any:
    from derive.maths.truncnorm import truncnorm_moments

    return truncnorm_moments(*args, **kwargs)


def _symmetric_std(*args: Any) -> Any:
    from derive.maths.truncnorm import symmetric_std

    return symmetric_std(*args)


def _inverse(*args: Any) -> Any:
    from derive.maths.truncnorm import cutoff_for_post_truncation_units

    return cutoff_for_post_truncation_units(*args)


def _rule(*args: Any) -> Any:
    from derive.maths.he_rule import variance_rule

    return variance_rule(*args)


def _spec(table: object) -> Any:
    from derive.model.spec import parse_spec

    return parse_spec(table)


# (id, call, exception type, message fragment)
API_ROWS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("truncnorm-reversed", lambda: _truncnorm("1", "0"), InputError, "lower must be < upper"),
    ("truncnorm-nan", lambda: _truncnorm(NAN, 1), InputError, "lower: nan is NaN"),
    ("truncnorm-bool", lambda: _truncnorm(True, 2), InputError, "lower: True is not a number"),
    ("truncnorm-none", lambda: _truncnorm(None, 1), InputError, "lower: None has type NoneType"),
    ("truncnorm-list", lambda: _truncnorm([0], 1), InputError, "lower: [0] has type list"),
    ("truncnorm-digits-0", lambda: _truncnorm(0, 1, 0), InputError, "digits: 0 is out of range"),
    ("truncnorm-digits-bool", lambda: _truncnorm(0, 1, True), InputError, "digits: True"),
    ("truncnorm-digits-float", lambda: _truncnorm(0, 1, 2.5), InputError, "digits: 2.5"),
    ("truncnorm-huge", lambda: _truncnorm(0, 1e300), InputError, "upper: 1e+300 is out of range"),
    ("s-zero", lambda: _symmetric_std(0), InputError, "k: 0 must be > 0"),
    ("s-negative", lambda: _symmetric_std("-1"), InputError, "k: '-1' must be > 0"),
    ("s-nan", lambda: _symmetric_std("nan"), InputError, "k: 'nan' is NaN"),
    ("inverse-below-sqrt3", lambda: _inverse("1.7"), InputError, "c: '1.7' is out of range"),
    ("inverse-minus-inf", lambda: _inverse("-inf"), InputError, "c: '-inf' is out of range"),
    ("rule-negative", lambda: _rule(-1), ValueError, "slope: -1"),
    ("rule-nan", lambda: _rule(NAN), ValueError, "slope: nan"),
    ("rule-code", lambda: _rule("__import__('os')"), ValueError, "is not a number"),
    ("rule-none", lambda: _rule(None), TypeError, "slope: None has type NoneType"),
    ("rule-mode", lambda: _rule(0, "fan_x"), ValueError, "mode: 'fan_x'"),
    ("spec-not-table", lambda: _spec("digits = 3"), InputError, "must be a table, got str"),
    ("spec-digits", lambda: _spec({"digits": -3}), InputError, "digits: -3 is out of range"),
    ("spec-output", lambda: _spec({"outputs": ["a.py"]}), InputError, "unknown output 'a.py'"),
    (
        "spec-bound",
        lambda: _spec({"intervals": [["0", "{{ x }}"]]}),
        InputError,
        "'{{ x }}' is not a number",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "fragment"), [r[1:] for r in API_ROWS], ids=[r[0] for r in API_ROWS]
)
def test_python_api_refuses_bad_input_naming_the_value(
    call: Callable[[], Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as exc:
        call()
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------------------
# Generated initializers
# ---------------------------------------------------------------------------


@functools.cache
def _generated(name: str) -> Any:
    return load_generated(name)


def _module(name: str) -> Any:
    framework = {"numpy_init": "numpy", "torch_init": "torch", "tf_init": "tensorflow"}[name]
    require(framework)
    return _generated(name)


def _torch_empty(*shape: int, dtype: str = "float32") -> Any:
    import torch

    return torch.empty(*shape, dtype=getattr(torch, dtype))


def _np_vs(shape: tuple[int, ...] = (3, 4), **kw: Any) -> Callable[[Any], Any]:
    return lambda m: m.variance_scaling(shape, **kw)


def _np_tn(**kw: Any) -> Callable[[Any], Any]:
    return lambda m: m.truncated_normal((3,), **{"std": 1.0, **kw})


def _torch_vs(*shape: int, dtype: str = "float32", **kw: Any) -> Callable[[Any], Any]:
    return lambda m: m.variance_scaling_(_torch_empty(*(shape or (4, 3)), dtype=dtype), **kw)


def _torch_tn(**kw: Any) -> Callable[[Any], Any]:
    return lambda m: m.truncated_normal_(_torch_empty(4, 3), **{"std": 1.0, **kw})


def _tf_vs(**kw: Any) -> Callable[[Any], Any]:
    return lambda m: m.VarianceScaling(**kw)


def _tf_draw(shape: tuple[int, ...], dtype: str | None = None) -> Callable[[Any], Any]:
    return lambda m: m.VarianceScaling()(shape, dtype=dtype)


# (module, id, call(module), exception type, message fragment)
SNIPPET_ROWS: list[tuple[str, str, Callable[[Any], Any], type[Exception], str]] = [
    # an empty weight draws nothing (tests/test_empty_shapes.py); its std is undefined
    ("numpy_init", "zero-fan", lambda m: m.variance_scaling_std((0, 4)), ValueError, "fan_in is 0"),
    ("numpy_init", "scale-0", _np_vs(scale=0.0), ValueError, "scale: 0.0"),
    ("numpy_init", "scale-neg", _np_vs(scale=-1.0), ValueError, "scale: -1.0"),
    ("numpy_init", "mode", _np_vs(mode="fan_x"), ValueError, "mode: 'fan_x'"),
    ("numpy_init", "distribution", _np_vs(distribution="x"), ValueError, "distribution: 'x'"),
    ("numpy_init", "lower-eq-upper", _np_vs(lower=2.0, upper=2.0), ValueError, "lower, upper"),
    ("numpy_init", "lower-gt-upper", _np_tn(lower=3.0, upper=-3.0), ValueError, "lower, upper"),
    ("numpy_init", "nan-cutoff", _np_tn(lower=NAN), ValueError, "lower: nan"),
    ("numpy_init", "int-dtype", _np_tn(dtype="int32"), TypeError, "dtype"),
    ("numpy_init", "std-0", _np_tn(std=0.0), ValueError, "std: 0.0"),
    ("torch_init", "scale-0", _torch_vs(scale=0.0), ValueError, "scale: 0.0"),
    ("torch_init", "mode", _torch_vs(mode="fan_x"), ValueError, "mode: 'fan_x'"),
    ("torch_init", "distribution", _torch_vs(distribution="x"), ValueError, "distribution: 'x'"),
    ("torch_init", "lower-eq-upper", _torch_vs(lower=1.0, upper=1.0), ValueError, "lower, upper"),
    ("torch_init", "nan-cutoff", _torch_tn(upper=NAN), ValueError, "upper: nan"),
    ("torch_init", "int-dtype", _torch_vs(dtype="int32"), TypeError, "dtype torch.int32"),
    ("torch_init", "std-neg", _torch_tn(std=-1.0), ValueError, "std: -1.0"),
    ("tf_init", "zero-fan", lambda m: m.VarianceScaling().moments((0, 4)), ValueError, "fan_in=0"),
    ("tf_init", "scale-0", _tf_vs(scale=0.0), ValueError, "scale: 0.0"),
    ("tf_init", "mode", _tf_vs(mode="fan_x"), ValueError, "mode: 'fan_x'"),
    ("tf_init", "distribution", _tf_vs(distribution="x"), ValueError, "distribution: 'x'"),
    ("tf_init", "lower-eq-upper", _tf_vs(lower=1.0, upper=1.0), ValueError, "lower, upper"),
    ("tf_init", "nan-cutoff", _tf_vs(lower=NAN), ValueError, "lower: nan"),
    ("tf_init", "int-dtype", _tf_draw((3, 4), "int32"), TypeError, "dtype: int32"),
]


@pytest.mark.parametrize(
    ("module", "call", "error", "fragment"),
    [(r[0], *r[2:]) for r in SNIPPET_ROWS],
    ids=[f"{r[0]}-{r[1]}" for r in SNIPPET_ROWS],
)
def test_generated_initializers_refuse_bad_arguments_naming_them(
    module: str, call: Callable[[Any], Any], error: type[Exception], fragment: str
) -> None:
    mod = _module(module)
    with pytest.raises(error) as exc:
        call(mod)
    assert fragment in str(exc.value)


# ---------------------------------------------------------------------------
# Activation expressions (the `gain` command)
# ---------------------------------------------------------------------------

HOSTILE_EXPRESSIONS: list[tuple[str, str, str]] = [
    ("import", "__import__('os').system('x')", "unexpected character '_'"),
    ("dunder-attribute", "x.__class__", "unexpected character '.'"),
    ("lambda", "lambda x: x", "unexpected character ':'"),
    ("statement", "x; import os", "unexpected character ';'"),
    ("10k-characters", LONG, "too long"),
    ("second-variable", "x + y", "second variable 'y'"),
    ("jinja", "{{ 7*7 }}", "unexpected character '{'"),
    ("call-builtin", "open(x)", "unknown function 'open'"),
    ("indexing", "x[0]", "unexpected character '['"),
    ("huge-power", "x**99999", "exponent 99999 exceeds"),
    ("huge-number", "1e999999 * x", "out of range"),
    ("empty", "", "empty expression"),
]


def _activations() -> Any:
    import derive.maths.activations

    return derive.maths.activations


@pytest.mark.parametrize(
    ("text", "fragment"),
    [r[1:] for r in HOSTILE_EXPRESSIONS],
    ids=[r[0] for r in HOSTILE_EXPRESSIONS],
)
def test_hostile_activation_expressions_are_refused_by_the_parser(text: str, fragment: str) -> None:
    activations = _activations()
    with pytest.raises(InputError) as exc:
        activations.parse_activation(text)
    message = str(exc.value)
    assert fragment in message
    assert "\n" not in message and len(message) < 1000, "the message must stay one short line"


def _has_command(name: str) -> bool:
    parser = cli.build_parser()
    for action in parser._actions:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict) and name in choices:
            return True
    return False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [r[1:] for r in HOSTILE_EXPRESSIONS],
    ids=[r[0] for r in HOSTILE_EXPRESSIONS],
)
def test_gain_command_refuses_hostile_expressions_with_exit_2_and_one_line(
    text: str,
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = _run_main(["gain", text], capsys)
    _assert_one_line_error(status, err, fragment)
    assert len(err) < 1000
    assert out == ""
    assert list(tmp_path.iterdir()) == []
