"""make bench, orthogonal sections (issue 13): the generated orthogonal initializers against the
frameworks' own, one subprocess per framework (sections orthogonal_numpy, orthogonal_torch,
orthogonal_tf; ``--only orthogonal`` runs the three).

* PyTorch: ``torch_init.orthogonal_`` against ``torch.nn.init.orthogonal_`` (same draws, same
  QR: the outputs are compared bit for bit in tests/test_orthogonal.py).
* Keras: ``tf_init.Orthogonal`` against ``keras.initializers.Orthogonal`` (idem).
* NumPy has no orthogonal initializer of its own: ``numpy_init.orthogonal`` against SciPy's
  ``scipy.stats.ortho_group.rvs`` (float64, square only) and against the textbook recipe
  (draw, ``np.linalg.qr``, ``q *= sign(diag(r))``) in the same dtype.

The two sides of a case are timed alternately (ours, theirs, ours, ...; orthogonal_reps
rounds) after one warm-up call each, so that load on the machine falls on both; the median of
each side is reported.  When a warm-up call takes over orthogonal_single_call_s, the warm-up
calls are the (single) measurement.  A case whose predicted time (the
previous size's time times (n'/n)^3, QR's cost) exceeds max_orthogonal_call_s is not run and
is reported as skipped with that prediction.  Every output is checked cheaply: for a random
x, ||W x|| / ||x|| must be 1 within 1e-4 (orthonormal columns; W^T for wide W).
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import error_text, load_generated, log


def _cases(cfg: dict[str, Any]) -> list[tuple[tuple[int, int], str]]:
    """(shape, dtype) pairs: every size in float32, sizes up to orthogonal_float64_max in
    float64, and the wide shapes in float32."""
    out = []
    for n in cfg["orthogonal_sizes"]:
        out.append(((n, n), "float32"))
        if n <= cfg["orthogonal_float64_max"]:
            out.append(((n, n), "float64"))
    out += [(tuple(s), "float32") for s in cfg["orthogonal_wide"]]
    return out


def isometry_check(w: Any) -> str:
    """'ok' when ||W x|| = ||x|| within 1e-4 for one random x (W^T x for wide W)."""
    import numpy as np

    a = np.asarray(w, dtype=np.float64)
    a = a.reshape(a.shape[0], -1)
    if a.shape[0] < a.shape[1]:
        a = a.T
    x = np.random.default_rng(0).standard_normal(a.shape[1])
    ratio = float(np.linalg.norm(a @ x) / np.linalg.norm(x))
    return "ok" if abs(ratio - 1.0) <= 1e-4 else f"FAILED: ||Wx||/||x|| = {ratio!r}"


def paired_time(
    fns: dict[str, Callable[[], Any]], cfg: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Time the functions alternately after one warm-up call each; returns {name: entry}."""
    out: dict[str, dict[str, Any]] = {}
    warm: dict[str, float] = {}
    for name, fn in fns.items():
        try:
            t0 = time.perf_counter()
            fn()
            warm[name] = time.perf_counter() - t0
        except Exception as exc:
            out[name] = {"error": error_text(exc)}
    live = {k: f for k, f in fns.items() if k in warm}
    if not live:
        return out
    if max(warm.values()) > cfg["orthogonal_single_call_s"]:
        note = f"single call, no separate warm-up (one call > {cfg['orthogonal_single_call_s']} s)"
        for name in live:
            out[name] = {"median_s": warm[name], "reps": 1, "times_s": [warm[name]], "note": note}
        return out
    times: dict[str, list[float]] = {k: [] for k in live}
    cpu: dict[str, list[float]] = {k: [] for k in live}
    for _ in range(cfg["orthogonal_reps"]):
        for name, fn in live.items():
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            del result
    for name in live:
        out[name] = {
            "median_s": statistics.median(times[name]),
            "min_s": min(times[name]),
            "reps": len(times[name]),
            "times_s": times[name],
            "warmup_s": warm[name],
            "cpu_median_s": statistics.median(cpu[name]),
        }
    return out


def _run(
    framework: str,
    cfg: dict[str, Any],
    make: Callable[[tuple[int, int], str], dict[str, Callable[[], Any]]],
    to_numpy: Callable[[Any], Any],
) -> list[dict[str, Any]]:
    """Time every case; the first entry of make()'s dict is the generated initializer."""
    cases: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], tuple[float, int]] = {}  # (dtype, name) -> (time, n)
    for shape, dtype in _cases(cfg):
        n = max(shape)
        case: dict[str, Any] = {"shape": list(shape), "dtype": dtype}
        try:
            fns = make(shape, dtype)
        except Exception as exc:
            case["generated"] = {"error": error_text(exc)}
            cases.append(case)
            continue
        runnable = {}
        for name, fn in fns.items():
            prior = seen.get((dtype, name)) if shape[0] == shape[1] else None
            predicted = prior[0] * (n / prior[1]) ** 3 if prior and prior[1] < n else None
            if predicted is not None and predicted > cfg["max_orthogonal_call_s"]:
                case[name] = {
                    "skipped": f"predicted {predicted:.0f} s > max_orthogonal_call_s",
                    "predicted_s": predicted,
                }
            else:
                runnable[name] = fn
        log(f"{framework} orthogonal {shape} {dtype}: {', '.join(runnable) or 'skipped'}")
        for name, entry in paired_time(runnable, cfg).items():
            case[name] = entry
            if "median_s" in entry and shape[0] == shape[1]:
                seen[(dtype, name)] = (entry["median_s"], n)
        if "median_s" in case.get("generated", {}):
            try:
                case["generated"]["output_check"] = isometry_check(to_numpy(fns["generated"]()))
            except Exception as exc:
                case["generated"]["output_check"] = f"FAILED: {error_text(exc)}"
        gen = case.get("generated", {}).get("median_s")
        case["ratio_generated_over"] = {
            name: gen / entry["median_s"]
            for name, entry in case.items()
            if isinstance(entry, dict) and name != "generated" and gen and entry.get("median_s")
        }
        cases.append(case)
    return cases


def section_orthogonal_numpy(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    mod, why = load_generated("numpy_init")
    rng = np.random.default_rng(20240913)

    def recipe(shape: tuple[int, int], dtype: str) -> Any:
        rows, cols = shape
        a = rng.standard_normal((max(shape), min(shape)), dtype=dtype)
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diagonal(r))
        return q if rows >= cols else q.T

    def make(shape: tuple[int, int], dtype: str) -> dict[str, Callable[[], Any]]:
        if mod is None:
            raise RuntimeError(why)
        fns: dict[str, Callable[[], Any]] = {
            "generated": lambda: mod.orthogonal(shape, dtype=dtype, rng=rng),
            "recipe": lambda: recipe(shape, dtype),
        }
        if dtype == "float64" and shape[0] == shape[1]:
            fns["scipy_ortho_group"] = lambda: stats.ortho_group.rvs(shape[0], random_state=rng)
        return fns

    return {
        "generated": why or "generated/numpy_init.py",
        "blas_threads_env": {
            k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
        },
        "cases": _run("numpy", cfg, make, lambda w: w),
    }


def section_orthogonal_torch(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    mod, why = load_generated("torch_init")
    gen = torch.Generator().manual_seed(20240913)

    def make(shape: tuple[int, int], dtype: str) -> dict[str, Callable[[], Any]]:
        if mod is None:
            raise RuntimeError(why)
        dt = getattr(torch, dtype)
        return {
            "generated": lambda: mod.orthogonal_(torch.empty(shape, dtype=dt), generator=gen),
            "torch_orthogonal_": lambda: torch.nn.init.orthogonal_(
                torch.empty(shape, dtype=dt), generator=gen
            ),
        }

    return {
        "generated": why or "generated/torch_init.py",
        "threads": {"torch_num_threads": torch.get_num_threads()},
        "cases": _run("torch", cfg, make, lambda w: w.numpy()),
    }


def section_orthogonal_tf(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    mod, why = load_generated("tf_init")

    def make(shape: tuple[int, int], dtype: str) -> dict[str, Callable[[], Any]]:
        if mod is None:
            raise RuntimeError(why)
        ours = mod.Orthogonal(seed=keras.random.SeedGenerator(1))
        theirs = keras.initializers.Orthogonal(seed=keras.random.SeedGenerator(1))
        return {
            "generated": lambda: ours(shape, dtype),
            "keras_Orthogonal": lambda: theirs(shape, dtype),
        }

    return {
        "generated": why or "generated/tf_init.py",
        "threads": {
            "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "cases": _run("tf", cfg, make, lambda w: w.numpy()),
    }


def orthogonal_targets(res: dict[str, Any]) -> list[tuple[str, float | None, str]]:
    """(what, worst ratio generated / reference, where) for each framework's reference."""
    rows: list[tuple[str, float | None, str]] = []
    for section, ref in (
        ("orthogonal_torch", "torch_orthogonal_"),
        ("orthogonal_tf", "keras_Orthogonal"),
        ("orthogonal_numpy", "scipy_ortho_group"),
        ("orthogonal_numpy", "recipe"),
    ):
        worst: tuple[float | None, str] = (None, "")
        for case in res.get(section, {}).get("cases", []):
            r = case.get("ratio_generated_over", {}).get(ref)
            if r is not None and (worst[0] is None or r > worst[0]):
                worst = (r, f"{'x'.join(map(str, case['shape']))} {case['dtype']}")
        rows.append((f"{section.split('_')[1]} orthogonal vs {ref}", *worst))
    return rows


def orthogonal_table(res: dict[str, Any], table: Callable[..., str]) -> list[str]:
    parts: list[str] = []
    for section in ("orthogonal_numpy", "orthogonal_torch", "orthogonal_tf"):
        sec = res.get(section)
        if not sec:
            continue
        if "error" in sec:
            parts.append(f"\n== {section}: {sec['error']}")
            continue
        parts.append(
            f"\n== {section} — times in ms (median of alternating runs), ratio = ours / ref"
        )
        rows = []
        for case in sec["cases"]:
            shape = "x".join(map(str, case["shape"]))
            gen = case.get("generated", {})
            check = gen.get("output_check", gen.get("error", ""))[:40]
            ratios = case.get("ratio_generated_over", {})
            for name, ratio in sorted(ratios.items()):
                ref = case[name]
                row = [shape, case["dtype"], _ms(gen), name, _ms(ref), f"{ratio:.3f}"]
                rows.append([*row, str(gen.get("reps", "")), check])
            for name, entry in case.items():
                if isinstance(entry, dict) and name not in (
                    *ratios,
                    "generated",
                    "ratio_generated_over",
                ):
                    row = [shape, case["dtype"], _ms(gen), name, _ms(entry), "-", ""]
                    rows.append([*row, entry.get("skipped", entry.get("error", ""))[:40]])
            if not ratios and "skipped" in gen:
                rows.append([shape, case["dtype"], "skip", "", "", "-", "", gen["skipped"][:40]])
        parts.append(
            table(["shape", "dtype", "ours", "reference", "ref", "ours/ref", "reps", "check"], rows)
        )
    return parts


def _ms(entry: dict[str, Any]) -> str:
    if "median_s" not in entry:
        return "skip" if "skipped" in entry else ("error" if "error" in entry else "-")
    return f"{entry['median_s'] * 1e3:.0f}" if not math.isnan(entry["median_s"]) else "-"
