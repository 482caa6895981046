"""Smoke test of `make bench` (bench/run.py): its --quick mode runs and writes valid JSON.

The full benchmark is not part of `make test`; this only proves that the script, its
subprocess sections, the target evaluation and the table still work (tiny n, one rep).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "run.py"


def _reject_constant(name: str) -> object:
    raise ValueError(f"non-standard JSON constant {name} in the results")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict[str, object]]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "numpy,generator", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    return text, proc.stdout, json.loads(text, parse_constant=_reject_constant)


def test_quick_bench_writes_strict_json_with_sorted_keys(quick_run: tuple[str, str, dict]) -> None:
    text, _, data = quick_run
    assert text == json.dumps(data, sort_keys=True, indent=1, allow_nan=False) + "\n"
    assert data["meta"]["mode"] == "quick"
    assert data["meta"]["sections"] == ["numpy", "generator"]
    assert set(data["meta"]["OPENBLAS_CORETYPE"]) == {"present", "value"}
    assert data["meta"]["versions"]["numpy"]


def test_quick_bench_times_every_numpy_case_against_its_floor(
    quick_run: tuple[str, str, dict],
) -> None:
    _, _, data = quick_run
    cases = data["numpy"]["cases"]
    assert len(cases) == 7 * 2  # seven cutoffs, float32 and float64, one tiny n
    generated_present = (ROOT / "generated" / "numpy_init.py").exists()
    for case in cases:
        assert case["floor"]["median_s"] > 0
        assert case["scipy_truncnorm_rvs"]["median_s"] > 0
        assert "median_s" in case["naive_redraw"] or "skipped" in case["naive_redraw"]
        if generated_present:  # the bench must match the generated sampler's signature
            assert case["generated"]["median_s"] > 0, case["generated"]
            assert case["generated"]["output_check"] == "ok", case
            assert case["ratio_generated_over"]["floor"] > 0
    memory = data["numpy_memory"]["memory"]
    assert any(m["name"].startswith("calibration") and "peak_extra_ratio" in m for m in memory)


def test_quick_bench_times_the_generator_and_reports_targets(
    quick_run: tuple[str, str, dict],
) -> None:
    _, stdout, data = quick_run
    gen = data["generator"]
    for key in ("generate_process", "cli_truncnorm_-2_2", "scipy_oneliner_std_-2_2"):
        assert gen[key]["median_s"] > 0, gen[key]
    assert [r["intervals"] for r in gen["intervals_growth"]] == data["config"]["interval_counts"]
    assert all(r["median_s"] > 0 for r in gen["digits_growth"])
    names = [t["target"] for t in data["targets"]]
    assert "make generate (python -m derive generate)" in names
    assert "== targets" in stdout and "== generator" in stdout


def test_quick_bench_times_orthogonal_against_each_framework(tmp_path: Path) -> None:
    out = tmp_path / "orthogonal.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "orthogonal", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text(), parse_constant=_reject_constant)
    assert data["meta"]["sections"] == ["orthogonal_numpy", "orthogonal_torch", "orthogonal_tf"]
    refs = {
        "orthogonal_numpy": "recipe",
        "orthogonal_torch": "torch_orthogonal_",
        "orthogonal_tf": "keras_Orthogonal",
    }
    for section, ref in refs.items():
        assert section + "_memory" not in data
        cases = data[section]["cases"]
        assert [c["shape"] for c in cases] == [[64, 64], [64, 64], [128, 128], [128, 128], [32, 96]]
        for case in cases:
            assert case["generated"]["output_check"] == "ok", case
            assert case["ratio_generated_over"][ref] > 0
    assert "orthogonal vs torch_orthogonal_" in proc.stdout
