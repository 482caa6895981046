"""The complex-normal constants in the spec, the tables, generated/constants.* and the CLI."""

from __future__ import annotations

import ast
import decimal
import json
import math
import subprocess
import sys
from typing import Any

import mpmath
import pytest

from derive.core.errors import InputError
from derive.maths.complex_truncnorm import complex_truncnorm_moments
from derive.maths.snippets.complex_truncnorm64 import complex_truncnorm_std
from derive.model.spec import load_spec, parse_spec
from derive.model.tables import snippet_source
from tests.conftest import GENERATED, ROOT, load_generated

# --------------------------------------------------------------------------- spec


def test_spec_complex_radii_are_sorted_unique_decimals() -> None:
    spec = parse_spec({"complex_radii": ["2", "0.5", 2, "inf", "2.0"]})
    assert [str(r) for r in spec.complex_radii] == ["0.5", "2", "Infinity"]
    assert spec.canonical()["complex_radii"] == ["0.5", "2", "inf"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2", r"^spec: complex_radii = '2' \(accepted: a list of radii > 0"),
        (["0"], r"^spec: complex_radii\[0\] = '0' is out of range \(accepted: 1e-400 <= R"),
        (["1", "-2"], r"^spec: complex_radii\[1\] = '-2' is out of range"),
        (["x"], r"^spec: complex_radii\[0\]: 'x' is not a number"),
        ([True], r"^spec: complex_radii\[0\] = True has type bool"),
    ],
)
def test_bad_complex_radii_are_one_line_errors_naming_the_entry(raw: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_spec({"complex_radii": raw})
    assert "\n" not in str(info.value)


def test_repository_spec_tabulates_jax_radius_2_and_the_untruncated_law() -> None:
    spec = load_spec(ROOT / "pyproject.toml")
    assert decimal.Decimal(2) in spec.complex_radii
    assert decimal.Decimal("Infinity") in spec.complex_radii


# --------------------------------------------------------------------------- generated tables


def test_constants_json_complex_rows_match_a_fresh_derivation() -> None:
    data = json.loads((GENERATED / "constants.json").read_text("utf-8"))
    assert data["reference"]["jax_complex_literal"] == ".95311164380491208"
    rows = data["complex_truncnorm"]
    assert [r["radius"] for r in rows][:2] == ["0.5", "1"] and rows[-1]["radius"] == "inf"
    digits = data["digits"]
    for row in rows:
        m = complex_truncnorm_moments(row["radius"], digits + 5)
        for name, value in m.as_dict().items():
            with mpmath.workdps(digits + 10):
                exact = +value
                got = mpmath.mpf(row[name]["decimal"])
                assert abs(got - exact) <= abs(exact) * mpmath.mpf(10) ** (1 - digits), name
            assert float(row[name]["float64"]) == float(exact), (row["radius"], name)


def test_constants_py_complex_table_is_float64_of_the_decimals() -> None:
    c = load_generated("constants")
    row = c.COMPLEX_TRUNCNORM[2.0]
    assert row.correction == float(c.COMPLEX_TRUNCNORM_DECIMAL["2"]["correction"])
    assert row.jax_divisor != c.JAX_COMPLEX_LITERAL  # the literal is 13 digits right, not 17
    assert abs(row.jax_divisor / c.JAX_COMPLEX_LITERAL - 1) < 1e-13
    assert c.COMPLEX_TRUNCNORM[math.inf].std == 1.0


def test_constants_md_has_the_complex_table() -> None:
    text = (GENERATED / "constants.md").read_text("utf-8")
    assert "## Complex normal with its modulus truncated at R" in text
    assert "| 2 | 0.98168436111126581971 |" in text


# --------------------------------------------------------------------------- float64 snippet

SNIPPET_RADII = [
    *(10.0**e for e in range(-300, -9, 7)),
    *(k / 16 for k in range(1, 129)),  # 0.0625 .. 8 (the series/closed-form seam at 1)
    0.999999,
    1.000001,
    25.9,
    26.0,
    26.1,
    30.0,
    1e10,
    1e99,
]


def test_float64_snippet_is_within_2_ulps_of_the_30_digit_std() -> None:
    """Measured worst over the grid: 1 ulp."""
    bad = []
    for r in SNIPPET_RADII:
        exact = float(complex_truncnorm_moments(decimal.Decimal(r), 30).std)
        got = complex_truncnorm_std(r)
        if abs(got - exact) > 2 * math.ulp(exact):
            bad.append((r, got, exact))
    assert not bad, bad
    assert complex_truncnorm_std(math.inf) == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_float64_snippet_rejects_radii_that_are_not_positive(bad: float) -> None:
    with pytest.raises(ValueError, match=r"^radius: .* \(accepted: 0 < radius <= inf\)$"):
        complex_truncnorm_std(bad)


def test_complex_snippet_imports_only_math_and_is_embedded_verbatim() -> None:
    body = snippet_source("complex_truncnorm64")
    tree = ast.parse(body)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    carriers = [
        p for p in sorted(GENERATED.glob("*.py")) if "def complex_truncnorm_std" in p.read_text()
    ]
    for path in carriers:
        assert body in path.read_text(encoding="utf-8"), f"{path.name} embeds a stale snippet"


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_cli_complex_json_gives_30_digits_for_jax_radius() -> None:
    done = _cli("complex", "2", "--digits", "30", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["radius"] == "2" and record["digits"] == 30
    with mpmath.workdps(60):
        e4 = mpmath.exp(-4)
        assert mpmath.mpf(record["second_moment"]) == mpmath.mpf(
            mpmath.nstr((1 - 5 * e4) / (1 - e4), 30)
        )
        assert record["jax_variance_ratio"] == mpmath.nstr(1 / (1 - e4), 30)


def test_cli_complex_csv_has_a_header_and_one_row() -> None:
    done = _cli("complex", "inf", "--csv", "--digits", "5")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2
    assert lines[0].startswith("radius,digits,mass,second_moment,std,correction")
    assert lines[1] == "inf,5,1.0000,1.0000,1.0000,1.0000,2.0000,1.0000,1.0000"


@pytest.mark.parametrize("bad", [["-1"], ["0"], ["x"], ["nan"], ["2", "--digits", "0"], []])
def test_cli_complex_bad_input_is_one_line_and_exit_2(bad: list[str]) -> None:
    done = _cli("complex", *bad)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("initref: error: ")
