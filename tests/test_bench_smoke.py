"""Smoke test of `make bench` (bench/run.py): its --quick mode runs and writes valid JSON.

The full benchmark is not part of `make test`; this only proves that the script, its
subprocess sections, the target evaluation and the table still work (tiny n, one rep).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

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


# ---------------------------------------------------------------------------------------------
# The CUDA section (bench/bench_torch_cuda.py)
# ---------------------------------------------------------------------------------------------


def _cuda() -> bool:
    return bool(require("torch").cuda.is_available())


def test_cuda_section_runs_alone_and_skips_cleanly_without_a_gpu(tmp_path: Path) -> None:
    out = tmp_path / "cuda.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cuda", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text(), parse_constant=_reject_constant)
    assert data["meta"]["sections"] == ["torch_cuda"] and "torch_cuda_memory" not in data
    section = data["torch_cuda"]
    if _cuda():
        assert len(section["cases"]) == 8 and "== torch on CUDA (" in proc.stdout
    else:
        assert section["skipped"] == "no CUDA device"
        assert "== torch on CUDA: skipped: no CUDA device" in proc.stdout


def test_cuda_section_rehearsed_on_cpu_fills_its_table_and_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA section's loop on CPU tensors (batched path forced, perf_counter clock), so its
    code is exercised without a GPU; then run.py's targets and table read its output."""
    out = tmp_path / "rehearsal.json"
    script = ROOT / "bench" / "bench_torch_cuda.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--rehearse-on-cpu", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    section = json.loads(out.read_text(), parse_constant=_reject_constant)
    assert section["batched_path"] is True
    cases = section["cases"]
    assert [(c["dtype"], c["cutoff"]) for c in cases] == [
        (d, c) for d in ("float32", "bfloat16") for c in ("±2", "[3, 4]", "[8, 9]", "[2, inf)")
    ]
    for case in cases:
        assert case["generated"]["output_check"] == "ok", case
        assert case["ratio_generated_over"]["floor"] > 0
        # torch 2.13's trunc_normal_ draws uniform proposals on [a, b]: none on [2, inf)
        assert ("error" in case["trunc_normal_"]) == (case["cutoff"] == "[2, inf)"), case
    # as a GPU run would report them: n >= 2^24, memory and syncs measured
    for case in cases:
        case["n"] = 2**24
        case["memory"] = {"peak_extra_ratio": 0.25}
        case["syncs_per_call"] = 1.0
    for floor in section["floors"]:
        floor["n"] = 2**24
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    run = importlib.import_module("run")
    rows = {t["target"]: t for t in run.evaluate_targets({"torch_cuda": section})}
    cuda_rows = [t for name, t in rows.items() if name.startswith("cuda ")]
    assert len(cuda_rows) == 6 and all(t["measured"] is not None for t in cuda_rows), cuda_rows
    assert rows["cuda peak extra memory"]["pass"] is True
    assert rows["cuda syncs per steady-state call"]["pass"] is True
    text = run.report({"torch_cuda": section, "config": {}, "targets": []})
    assert "== torch on CUDA (CPU rehearsal" in text and "2^24 bfloat16" in text


# ---------------------------------------------------------------------------------------------
# The small-tensor and DTensor sections of PyTorch (bench/bench_torch_small.py, _dtensor.py)
# ---------------------------------------------------------------------------------------------


def test_quick_bench_times_small_tensors_and_dtensors_as_ratios(tmp_path: Path) -> None:
    require("torch")
    out = tmp_path / "torch_extra.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--only",
            "torch_small,torch_dtensor",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text(), parse_constant=_reject_constant)
    assert data["meta"]["sections"] == ["torch_small", "torch_dtensor"]
    small = data["torch_small"]["cases"]
    assert [(c["condition"], c["threads"], c["shape"]) for c in small] == [
        (cond, n, shape)
        for cond, n in (("idle", 1), ("idle", 2), ("contended", 2))
        for shape in ([64, 3, 3, 3], [256, 256])
    ]
    for case in small:
        assert all(r > 0 for r in case["ratio_over_trunc_normal_"].values()), case
    cases = data["torch_dtensor"]["cases"]
    assert [c["placement"] for c in cases] == ["Shard(0)", "Shard(1)"]
    for case in cases:
        assert not case["errors"], case
        assert all(r is not None and r > 0 for r in case["ratios"].values()), case
        assert case["drawn_over_local"] == 1.0  # 512 x 512 on 2 ranks: aligned tiles
    names = [t["target"] for t in data["targets"]]
    assert "torch small tensors vs trunc_normal_ (2 threads, cores busy)" in names
    assert "== torch DTensor, 2 gloo ranks on CPU" in proc.stdout
