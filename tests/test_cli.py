"""The command line, in process through derive.cli.main(argv) (one subprocess call for
``python -m derive --help``): answers, help, and bad input -> exit 2 with one line on
stderr naming the value, with the output directory left byte-identical."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from derive import cli
from tests.conftest import ROOT


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = cli.main(argv)
    except SystemExit as exc:
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_refused(status: int, err: str, *fragments: str) -> None:
    assert status == 2
    assert err.startswith("initref: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def _tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _subcommands() -> list[str]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------


def test_truncnorm_json_gives_s2_to_40_digits(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["truncnorm", "-2", "2", "--digits", "40", "--json"], capsys)
    assert status == 0
    record = json.loads(out)
    assert record["std"] == "0.8796256610342397504128414195777747983459"
    assert record["mean"] == "0"
    assert set(record) == {
        "lower",
        "upper",
        "digits",
        "mass",
        "mean",
        "variance",
        "std",
        "correction",
        "excess_kurtosis",
    }


def test_truncnorm_accepts_infinite_and_negative_bounds_in_any_spelling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, first, _ = _run(["truncnorm", "-inf", "-2", "--json", "--digits", "20"], capsys)
    _, second, _ = _run(["truncnorm", "--digits", "20", "-Infinity", "-2.0", "--json"], capsys)
    assert json.loads(first) == json.loads(second)
    assert json.loads(first)["lower"] == "-inf"
    assert json.loads(first)["mean"] == "-2.3732155328228408673"  # -phi(2)/Q(2)


def test_truncnorm_text_output_is_one_aligned_line_per_quantity(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(["truncnorm", "0", "inf", "--digits", "12"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "lower",
        "upper",
        "digits",
        "mass",
        "mean",
        "variance",
        "std",
        "correction",
        "excess_kurtosis",
    ]
    assert "mean             0.797884560803" in lines  # sqrt(2/pi)


def test_he_prints_the_derived_rule(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["he"], capsys)
    assert status == 0 and "Var[w]   = 2/n_in" in out and "sqrt(6)/sqrt(n_in)" in out
    status, out, _ = _run(["he", "--slope", "1", "--mode", "fan_avg", "--latex"], capsys)
    assert status == 0 and "variance: \\frac{2}{n_{in} + n_{out}}" in out


# ---------------------------------------------------------------------------
# Help
# ---------------------------------------------------------------------------


def test_there_is_help_for_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _subcommands()
    assert {"generate", "truncnorm", "he"} <= set(commands)
    for command in commands:
        status, out, err = _run([command, "--help"], capsys)
        assert status == 0 and err == "", command
        assert out.startswith(f"usage: initref {command} "), command
        assert "example: initref " + command in out, command


def test_python_m_derive_writes_all_its_output_before_its_hard_exit() -> None:
    """cli.run flushes stdout before os._exit: a piped JSON answer arrives whole."""
    done = subprocess.run(
        [sys.executable, "-m", "derive", "truncnorm", "-2", "2", "--digits", "40", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["std"] == "0.8796256610342397504128414195777747983459"


def test_python_m_derive_help_lists_every_subcommand_under_its_own_name() -> None:
    """``python -m derive`` calls itself that; the console script (and main()) ``initref``
    (tests/test_package.py runs the installed script)."""
    done = subprocess.run(
        [sys.executable, "-m", "derive", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: python -m derive ")
    assert (
        "  python -m derive truncnorm -2 2" in done.stdout
        and "initref truncnorm" not in done.stdout
    )
    for command in _subcommands():
        assert command in done.stdout


# ---------------------------------------------------------------------------
# Bad input: exit 2, one line naming the value
# ---------------------------------------------------------------------------

BAD_QUERIES = [
    (["truncnorm", "2", "-2"], ["interval [2, -2]", "lower must be < upper"]),
    (["truncnorm", "1", "1"], ["interval [1, 1]", "lower must be < upper"]),
    (["truncnorm", "nan", "1"], ["lower: 'nan' is NaN", "accepted: a real number"]),
    (["truncnorm", "-1", "NaN"], ["upper: 'NaN' is NaN"]),
    (["truncnorm", "one", "2"], ["lower: 'one' is not a number", "accepted: a real number"]),
    (["truncnorm", "0", "0x10"], ["upper: '0x10' is not a number"]),
    (["truncnorm", "0", "1", "--digits", "0"], ["digits: 0 is out of range", "accepted: 1..10000"]),
    (["truncnorm", "0", "1", "--digits", "-5"], ["digits: -5 is out of range"]),
    (
        ["truncnorm", "0", "1", "--digits", "10001"],
        ["digits: 10001 is out of range", "accepted: 1..10000"],
    ),
    (["truncnorm", "0", "1", "--digits", "ten"], ["digits: 'ten' is not an integer"]),
    (["he", "--slope", "-0.5"], ["slope: '-0.5'"]),
]


@pytest.mark.parametrize(
    ("argv", "fragments"), BAD_QUERIES, ids=[" ".join(argv) for argv, _ in BAD_QUERIES]
)
def test_bad_query_exits_2_with_one_line_naming_the_value(
    argv: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(argv, capsys)
    assert out == ""
    _assert_refused(status, err, *fragments)


BAD_SPECS = [
    (
        "unknown-key",
        'digits = 20\ncolour = "red"\n',
        [
            "unknown key 'colour'",
            "accepted: complex_radii, critical_bias_variances, critical_digits, digits",
        ],
    ),
    ("digits-type", 'digits = "20"\n', ["digits = '20' has type str", "accepted: an integer"]),
    ("digits-range", "digits = 0\n", ["digits: 0 is out of range", "accepted: 1..10000"]),
    ("interval-type", "intervals = [[true, 1]]\n", ["intervals[0][0] = True has type bool"]),
    ("reversed", 'intervals = [["3", "1"]]\n', ["interval [3, 1]", "lower must be < upper"]),
    ("nan", 'intervals = [["nan", "1"]]\n', ["intervals[0][0]: 'nan' is NaN"]),
    ("outputs", 'outputs = ["evil.sh"]\n', ["unknown output 'evil.sh'", "accepted: constants"]),
    ("not-toml", "digits = \n", ["is not valid TOML"]),
]


@pytest.mark.parametrize(
    ("body", "fragments"), [(b, f) for _, b, f in BAD_SPECS], ids=[name for name, _, _ in BAD_SPECS]
)
def test_bad_spec_file_exits_2_naming_the_value_and_leaves_the_output_untouched(
    body: str, fragments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(body, encoding="utf-8")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "constants.py").write_text("# an earlier generation\n")
    (out_dir / "keep.txt").write_bytes(b"\x00\x01 unrelated bytes")
    before = _tree(out_dir)
    status, out, err = _run(["generate", "--spec", str(spec), "--out", str(out_dir)], capsys)
    _assert_refused(status, err, *fragments)
    assert out == ""
    assert _tree(out_dir) == before
    assert sorted(p.name for p in out_dir.iterdir()) == ["constants.py", "keep.txt"]


def test_bad_spec_file_does_not_create_a_missing_output_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text("digits = 100000\n", encoding="utf-8")
    out_dir = tmp_path / "never"
    status, _, err = _run(["generate", "--spec", str(spec), "--out", str(out_dir)], capsys)
    _assert_refused(status, err, "digits: 100000 is out of range")
    assert not out_dir.exists()


# ---------------------------------------------------------------------------
# critical and meanfield (issue 13)
# ---------------------------------------------------------------------------


def test_critical_json_gives_the_tanh_critical_point_with_its_verdict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(["critical", "tanh", "--bias-variance", "0.05", "--json"], capsys)
    assert status == 0
    record = json.loads(out)
    assert record["activation"] == "tanh" and record["bias_variance"] == "0.05"
    assert record["digits"] == 20 and record["status"] == "critical"
    (point,) = record["points"]
    assert point["weight_variance"] == "1.7609546396067391316"
    assert point["stability"] == "stable" and point["xi_c"] == "inf"
    assert point["xi_q"].startswith("1.52109740734881")


def test_critical_csv_and_table_list_every_point(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(
        ["critical", "gelu", "--bias-variance", "0", "--digits", "12", "--csv"], capsys
    )
    assert status == 0
    header, row, *rest = out.splitlines()
    assert not rest
    assert header.split(",")[:4] == ["activation", "bias_variance", "digits", "status"]
    assert row.startswith("gelu,0,12,critical,4.00000000000,0,")
    assert row.endswith("unstable,none,none")  # xi_q, xi_c: not defined (JSON null)
    status, out, _ = _run(["critical", "relu", "--bias-variance", "0"], capsys)
    assert status == 0
    assert "every q" in out and "q_star           any" in out and "neutral" in out


def test_meanfield_json_reports_phase_and_depth_scales(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["meanfield", "tanh", "--weight-variance", "1.2", "--bias-variance", "0.05", "--json"]
    status, out, _ = _run(argv, capsys)
    assert status == 0
    record = json.loads(out)
    assert record["phase"] == "ordered" and record["stability"] == "stable"
    assert record["c_star"] == "1.00000000000000" and record["xi_c"].startswith("5.9445357560")


BAD_MEANFIELD_QUERIES = [
    (["critical", "tanh"], ["the following arguments are required: --bias-variance"]),
    (
        ["critical", "tanh", "--bias-variance", "-0.05"],
        ["--bias-variance: '-0.05' is out of range", "accepted: a finite real >= 0"],
    ),
    (["critical", "tanh", "--bias-variance", "nan"], ["--bias-variance: 'nan' is NaN"]),
    (
        ["critical", "relu", "--bias-variance", "0.05"],
        ["relu has no critical point at bias variance 0.05", "f(x) = x f'(x)"],
    ),
    (
        ["critical", "softplus", "--bias-variance", "0.1"],
        ["softplus has no critical point at bias variance 0.1", "T(q) > q"],
    ),
    (["critical", "exp(x^2)", "--bias-variance", "0.1"], ["diverges or converges too slowly"]),
    (["critical", "tanh", "--bias-variance", "0.1", "--digits", "0"], ["digits: 0 is out"]),
    (
        ["critical", "leaky_relu", "--param", "-1", "--bias-variance", "0"],
        ["a: '-1' is out of range"],
    ),
    (
        ["meanfield", "tanh", "--weight-variance", "0", "--bias-variance", "0"],
        ["--weight-variance: '0' is out of range", "accepted: a finite real > 0"],
    ),
    (
        ["meanfield", "tanh", "--weight-variance", "1", "--bias-variance", "-1"],
        ["--bias-variance: '-1' is out of range"],
    ),
    (
        ["meanfield", "tanh", "--weight-variance", "1", "--bias-variance", "0", "--q0", "0"],
        ["q0: '0' is out of range"],
    ),
]


@pytest.mark.parametrize(
    ("argv", "fragments"),
    BAD_MEANFIELD_QUERIES,
    ids=[" ".join(argv) for argv, _ in BAD_MEANFIELD_QUERIES],
)
def test_bad_mean_field_query_exits_2_with_one_line_naming_the_value(
    argv: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(argv, capsys)
    assert out == ""
    _assert_refused(status, err, *fragments)


# ---------------------------------------------------------------------------
# Abbreviated options, help texts, "none" in tables and CSV
# ---------------------------------------------------------------------------

# the commands whose negative positionals cli._allow_negative_positionals moves behind "--",
# with positive positionals (which argparse parses on its own) and a value for each option
ABBREVIATION_CASES = {
    "truncnorm": (["1", "2"], {"--digits": "7", "--json": None, "--csv": None}),
    "complex": (["2"], {"--digits": "7", "--json": None, "--csv": None}),
    "gain": (
        ["tanh"],
        {
            "--digits": "7",
            "--param": "0.1",
            "--method": "quadrature",
            "--json": None,
            "--csv": None,
        },
    ),
}


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    return parser.parse_args(cli._allow_negative_positionals(argv, parser))


@pytest.mark.parametrize("command", sorted(ABBREVIATION_CASES))
def test_every_unambiguous_prefix_of_an_option_parses_as_argparse_parses_it(command: str) -> None:
    """``truncnorm 1 2 --digit 5`` failed: the negative-positional handling knew only the full
    option names.  For every option and every prefix of it (from two letters), the parse
    equals argparse's own parse of the same line (positive positionals need no handling)."""
    parser = cli.build_parser()
    positionals, options = ABBREVIATION_CASES[command]
    for option, value in options.items():
        full = parser.parse_args([command, *positionals, option, *([value] if value else [])])
        for end in range(4, len(option) + 1):
            prefix = option[:end]
            if [o for o in options if o.startswith(prefix)] != [option]:
                continue  # ambiguous among this command's options
            argv = [command, *positionals, prefix, *([value] if value else [])]
            assert _parse(parser, argv) == parser.parse_args(argv) == full, argv
            assert _parse(parser, [*argv[:1], *argv[len(positionals) + 1 :], *positionals]) == full


def test_abbreviations_work_beside_negative_positionals(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["truncnorm", "1", "2", "--digit", "5"], capsys)
    assert status == 0 and "digits           5" in out and "mass             0.13591" in out
    status, out, _ = _run(["truncnorm", "-inf", "-1e-8", "--dig", "6", "--js"], capsys)
    assert status == 0 and json.loads(out)["digits"] == 6
    status, out, _ = _run(["gain", "-x", "--dig", "4", "--meth", "closed", "--js"], capsys)
    assert status == 0 and json.loads(out)["forward_gain"] == "1.000"
    status, out, _ = _run(["complex", "-1", "--dig", "5"], capsys)
    _assert_refused(status, _, "radius")  # parsed, then told why -1 is out of range


def test_an_ambiguous_prefix_is_refused_with_argparses_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With a second option starting like --digits, --dig matches both: argparse's own error,
    one line, exit 2, whether or not the line has negative positionals."""
    parser = cli.build_parser()
    parser.commands["truncnorm"].add_argument("--digest", help="a second --dig... option")
    for argv in (["truncnorm", "1", "2", "--dig", "5"], ["truncnorm", "-1", "2", "--dig", "5"]):
        with pytest.raises(SystemExit) as info:
            _parse(parser, argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1
        assert "ambiguous option: --dig could match --digits, --digest" in err


def test_every_argument_of_every_command_has_a_help_text() -> None:
    """Positionals (A, B, R, NAME), he --mode, gain --method had none."""
    parser = cli.build_parser()
    missing = []
    for name, p in [("initref", parser), *parser.commands.items()]:
        for action in p._actions:
            label = "/".join(action.option_strings) or str(action.metavar or action.dest)
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {label}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{name} {a.dest}" for a in action._choices_actions if not a.help]
    assert not missing, missing


def test_help_of_a_positional_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["truncnorm", "--help"], capsys)
    assert status == 0 and "lower cutoff" in " ".join(out.split())
    status, out, _ = _run(["gain", "--help"], capsys)
    assert status == 0 and "closed: SymPy's closed forms" in " ".join(out.split())


def test_a_missing_value_prints_none_in_tables_and_csv_and_null_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """torch has no calculate_gain for an expression: "none" (never Python's None), null in JSON."""
    base = ["gain", "x*tanh(x)", "--digits", "5"]
    status, out, _ = _run(base, capsys)
    assert status == 0 and "torch_calculate_gain      none" in out and "None" not in out
    status, out, _ = _run([*base, "--csv"], capsys)
    assert status == 0 and out.splitlines()[1].endswith(",none") and "None" not in out
    status, out, _ = _run([*base, "--json"], capsys)
    assert status == 0 and json.loads(out)["torch_calculate_gain"] is None
    argv = ["meanfield", "relu", "--weight-variance", "3", "--bias-variance", "0", "--csv"]
    status, out, _ = _run(argv, capsys)
    assert status == 0 and "divergent" in out and ",none," in out and "None" not in out
