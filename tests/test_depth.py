"""Depth predictions r and r^L (derive.maths.depth) and the `depth` CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import pytest

from derive.core.errors import InputError
from derive.core.numbers import format_sig
from derive.maths.depth import depth_table, truncated_uncorrected_r


def _rows(**kw: object) -> dict[str, object]:
    return {row.key: row for row in depth_table(**kw)}  # type: ignore[arg-type]


def test_article_numbers() -> None:
    rows = _rows(layers=24, cutoffs=("2",), digits=20)
    unc = rows["truncated_normal_uncorrected_k2"]
    assert mpmath.nstr(unc.r, 6) == "0.773741"  # type: ignore[attr-defined]
    assert mpmath.nstr(unc.r_layers, 5) == "0.0021198"  # type: ignore[attr-defined]
    assert rows["tf_he_normal"].r == 1  # type: ignore[attr-defined]
    with mpmath.workdps(30):
        sixth = rows["torch_default_linear"].r - mpmath.mpf(1) / 6  # type: ignore[attr-defined]
        assert abs(sixth) < mpmath.mpf(10) ** -20
    assert rows["xavier"].r == mpmath.mpf("0.5")  # type: ignore[attr-defined]


def test_any_cutoff_gives_s_of_k_squared() -> None:
    r = truncated_uncorrected_r("3", 20)
    assert mpmath.nstr(r, 10) == "0.9733369247"
    assert format_sig(truncated_uncorrected_r("inf", 20), 5) == "1.0000"


def test_leaky_relu_he_init_slightly_grows() -> None:
    rows = _rows(layers=10, activation="leaky_relu", param="0.01", digits=20)
    assert format_sig(rows["tf_he_normal"].r, 10) == "1.000100000"  # type: ignore[attr-defined]


def test_non_homogeneous_activation_is_rejected() -> None:
    with pytest.raises(InputError, match="not positively homogeneous"):
        depth_table(activation="tanh")
    with pytest.raises(InputError, match="layers"):
        depth_table(layers=0)


def test_cli_depth_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "derive", "depth", "--cutoff", "2", "--json", "--digits", "8"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rows = {r["case"]: r for r in json.loads(out.stdout)["rows"]}
    assert rows["truncated_normal_uncorrected_k2"]["r^L"] == "0.0021198188"
