#!/usr/bin/env python
"""`make bench`: time the generated samplers against their frameworks, and the generator itself.

One run measures everything and prints a table of times and ratios; the results go to
``bench/results/bench-<mode>.json`` (or ``--out PATH``) as JSON with sorted keys.

Method
------
* Every timing is ``time.perf_counter`` around one call that returns a fresh output (the output's
  allocation is part of every candidate, floors included), after one untimed warm-up call; the
  figure reported is the median of the repetitions (5 by default; fewer only when one call takes
  seconds, and then the count is recorded next to the time).
* Each framework runs in its own subprocess (``--section``), so PyTorch and TensorFlow never share
  a process, their thread pools are set before first use, and one framework's memory cannot
  colour another's.  Thread counts are set explicitly (``--threads``, default: all cores) and
  recorded; ``OPENBLAS_CORETYPE`` is recorded, never changed.
* The generated modules are imported from ``generated/<name>.py`` by path, as a user's copy is.
* Peak extra memory (what a sampler needs beyond its own output, in units of the output's size):
  - NumPy: ``tracemalloc`` (NumPy reports its buffers to it) peak during the call, minus the
    traced size before the call, minus the output's ``nbytes``.
  - All three frameworks (NumPy again as a cross-check): the kernel's peak resident set.  A
    separate subprocess runs with ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB, so every large
    buffer is its own mmap and goes back to the kernel when freed; before the call the peak
    (``VmHWM``) is reset to the current RSS by writing 5 to ``/proc/self/clear_refs``; after
    it, extra = (VmHWM - RSS before - output bytes) / output bytes.  A calibration case
    (``x = normal(n); return x * 2``: exactly 1.0x extra) is measured the same way.
* SciPy's ``truncnorm.rvs`` takes 1-2 s per 2^20 draws, so it is timed at 2^20 only (3 reps)
  and its 2^24 time is that per-element time times 2^24 (marked ``extrapolated_from_n``).
  Its output is float64 whatever the dtype, so it is timed once per cutoff (float64) and that
  time stands for both dtypes.
* The naive "redraw what falls outside" sampler needs about n/Z normals (Z the interval's
  mass); it is run only where that is affordable and otherwise reported as skipped with the
  expected cost (never as a time).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
RESULTS = ROOT / "bench" / "results"
SECTIONS = ("numpy", "torch", "tf", "generator")
INF = math.inf

# (label, lower, upper) in units of the underlying normal's std
CUTOFFS: list[tuple[str, float, float]] = [
    ("±2", -2.0, 2.0),
    ("±1", -1.0, 1.0),
    ("±0.5", -0.5, 0.5),
    ("[-1, 3]", -1.0, 3.0),
    ("[3, 4]", 3.0, 4.0),
    ("[8, 9]", 8.0, 9.0),
    ("[2, inf)", 2.0, INF),
]
DTYPES = ("float32", "float64")

FULL = {
    "sizes": [2**20, 2**24],
    "reps": 5,
    "scipy_n": 2**20,
    "scipy_reps": 3,
    "memory_n": 2**24,
    "interval_counts": [100, 1000, 10000],
    "digits": [15, 50, 200, 1000, 3000],
    "process_reps": 5,
    "process_warmup": True,
    "slow_call_s": 1.0,  # a call slower than this gets 3 reps
    "very_slow_call_s": 4.0,  # ... and slower than this, 1 rep
    "single_call_s": 8.0,  # ... and slower than this, the warm-up call is the one measurement
    "max_extrapolated_call_s": 12.0,  # skip a call expected to take longer; scale from smaller n
}
QUICK = {
    "sizes": [2**10],
    "reps": 1,
    "scipy_n": 2**10,
    "scipy_reps": 1,
    "memory_n": 2**16,
    "interval_counts": [10, 30],
    "digits": [15, 50],
    "process_reps": 1,
    "process_warmup": False,
    "slow_call_s": 1.0,
    "very_slow_call_s": 4.0,
    "single_call_s": 8.0,
    "max_extrapolated_call_s": 12.0,
}


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def error_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


def cut_text(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


# ---------------------------------------------------------------------------------------------
# timing and memory primitives
# ---------------------------------------------------------------------------------------------


def time_call(
    fn: Callable[[], Any], cfg: dict[str, Any], reps: int | None = None
) -> dict[str, Any]:
    """Warm up once, then time ``reps`` calls; returns the median and every repetition."""
    want = cfg["reps"] if reps is None else reps
    try:
        t0 = time.perf_counter()
        out = fn()
        warm = time.perf_counter() - t0
        del out
        if warm > cfg["single_call_s"]:  # one call is all we can afford; it is the measurement
            return {
                "median_s": warm,
                "min_s": warm,
                "reps": 1,
                "times_s": [warm],
                "note": f"single call, no separate warm-up (one call > {cfg['single_call_s']} s)",
            }
        if want > 1 and warm > cfg["very_slow_call_s"]:
            want = 1
        elif want > 3 and warm > cfg["slow_call_s"]:
            want = 3
        times, cpu = [], []
        for _ in range(want):
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            del out
    except Exception as exc:  # recorded, not raised: e.g. trunc_normal_ on [2, inf)
        return {"error": error_text(exc)}
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "reps": len(times),
        "times_s": times,
        "warmup_s": warm,
        # CPU time of the whole process (all threads): less sensitive than wall time to other
        # work on the machine for single-threaded code (NumPy), not comparable for threaded
        "cpu_median_s": statistics.median(cpu),
    }


def tracemalloc_extra(fn: Callable[[], Any]) -> dict[str, Any]:
    """Peak traced bytes during ``fn()`` beyond its output, over the output's size (NumPy)."""
    fn()  # warm-up outside tracing
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    nbytes = int(out.nbytes)
    return {
        "method": "tracemalloc",
        "output_bytes": nbytes,
        "peak_extra_bytes": peak - before - nbytes,
        "peak_extra_ratio": (peak - before - nbytes) / nbytes,
    }


PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_extra(fn: Callable[[], Any], nbytes_of: Callable[[Any], int]) -> dict[str, Any]:
    """Kernel peak RSS during ``fn()`` beyond its output, over the output's size."""
    try:
        out = fn()  # warm-up: kernels, thread pools, lazily built tables
        del out
        gc.collect()
        before = _rss()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        out = fn()
        peak = _hwm()
        nbytes = int(nbytes_of(out))
    except Exception as exc:
        return {"error": error_text(exc)}
    return {
        "method": "VmHWM (MALLOC_MMAP_THRESHOLD_=65536)",
        "output_bytes": nbytes,
        "peak_extra_bytes": peak - before - nbytes,
        "peak_extra_ratio": (peak - before - nbytes) / nbytes,
    }


def calibration(draw: Callable[[], Any]) -> Any:
    """x = draw(); return x * 2: x stays referenced, so the product is a second buffer and the
    peak extra memory is exactly 1.0x the output (NumPy would elide an unreferenced temporary)."""
    x = draw()
    return x * 2


def load_generated(name: str) -> tuple[Any, str | None]:
    """Import ``generated/<name>.py`` by path; returns (module, None) or (None, why not)."""
    path = GENERATED / f"{name}.py"
    if not path.exists():
        return None, f"missing: {path.relative_to(ROOT)}"
    spec = importlib.util.spec_from_file_location(f"initref_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        return None, f"import failed: {error_text(exc)}"
    return module, None


def call_adapter(func: Callable[..., Any], fixed: dict[str, Any]) -> Callable[..., Any]:
    """Bind keyword names that differ between templates (shape/size, std/stddev, ...)."""
    params = inspect.signature(func).parameters
    aliases = {
        "shape": ("shape", "size"),
        "std": ("std", "stddev", "scale"),
        "lower": ("lower", "a", "minval"),
        "upper": ("upper", "b", "maxval"),
        "mean": ("mean", "loc"),
        "dtype": ("dtype",),
        "rng": ("rng", "generator", "random_state", "seed"),
    }
    kwargs: dict[str, Any] = {}
    for key, value in fixed.items():
        for name in aliases.get(key, (key,)):
            if name in params:
                kwargs[name] = value
                break
        else:
            if key not in ("rng", "mean"):
                raise TypeError(f"{func.__name__}{inspect.signature(func)} takes no {key!r}")
    return lambda: func(**kwargs)


def truncnorm_std_f64(lower: float, upper: float) -> tuple[float, float]:
    """(mean, std) of N(0,1) on [lower, upper] from the repository's float64 snippet."""
    import mpmath

    from derive.maths.truncnorm import truncnorm_moments

    m = truncnorm_moments(lower, upper, 17)
    return float(m.mean), float(mpmath.sqrt(m.variance))


def check_output(x: Any, n: int, dtype: str, lower: float, upper: float) -> str:
    """Cheap sanity check of one generated output drawn with post-truncation std 1, mean 0.

    The underlying normal then has sigma = 1/std_trunc, so x * std_trunc must lie in
    [lower, upper] (with a little float32 slack).
    """
    import numpy as np

    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size != n:
        return f"FAILED: size {a.size} != {n}"
    if str(getattr(x, "dtype", "")).split(".")[-1] != dtype:
        return f"FAILED: dtype {getattr(x, 'dtype', None)} != {dtype}"
    if not np.isfinite(a).all():
        return "FAILED: non-finite values"
    _, s = truncnorm_std_f64(lower, upper)
    z = a * s
    slack = 1e-5 * max(1.0, abs(lower) if math.isfinite(lower) else 1.0)
    if z.min() < lower - slack or z.max() > upper + slack:
        return f"FAILED: range [{z.min():.6g}, {z.max():.6g}] outside [{lower}, {upper}]"
    head = a[: 1 << 16]  # float32 holds only 2^22 values in [3, 4]: judge a 2^16 sample
    if np.unique(head).size < head.size // 2:
        return "FAILED: fewer than half of the first 2^16 values distinct"
    return "ok"


# ---------------------------------------------------------------------------------------------
# NumPy
# ---------------------------------------------------------------------------------------------


def naive_redraw(rng: Any, n: int, lower: float, upper: float, dtype: Any) -> Any:
    """Draw n normals, then redraw (only) those outside [lower, upper] until none is left."""
    import numpy as np

    x = rng.standard_normal(n, dtype=dtype)
    bad = np.flatnonzero((x < lower) | (x > upper))
    rounds = 0
    while bad.size:
        y = rng.standard_normal(bad.size, dtype=dtype)
        x[bad] = y
        bad = bad[(y < lower) | (y > upper)]
        rounds += 1
        if rounds > 100_000:
            raise RuntimeError(f"naive redraw: [{lower}, {upper}] not filled in 100000 rounds")
    return x


def scipy_rvs(stats: Any, rng: Any, n: int, lower: float, upper: float, dtype: Any) -> Any:
    return stats.truncnorm.rvs(lower, upper, size=n, random_state=rng).astype(dtype, copy=False)


def numpy_sampler(
    mod: Any, n: int, lower: float, upper: float, dtype: str, rng: Any
) -> Callable[[], Any]:
    import numpy as np

    func = mod.truncated_normal
    return call_adapter(
        func,
        {
            "shape": (n,),
            "std": 1.0,
            "lower": lower,
            "upper": upper,
            "mean": 0.0,
            "dtype": np.dtype(dtype),
            "rng": rng,
        },
    )


def section_numpy(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import numpy as np

    mod, why = load_generated("numpy_init")
    rng = np.random.default_rng(20240901)
    out: dict[str, Any] = {"generated": why or "generated/numpy_init.py", "cases": [], "memory": []}
    if memory:
        n = cfg["memory_n"]
        out["memory"].append(
            {
                "name": "calibration: x = floor(n); x * 2 (1.0x + the floor's own)",
                "n": n,
                "dtype": "float64",
                **rss_extra(
                    partial(calibration, partial(rng.standard_normal, n)), lambda x: x.nbytes
                ),
            }
        )
        for dtype in DTYPES:
            out["memory"].append(
                {
                    "name": "floor standard_normal",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(rng.standard_normal, n, dtype=dtype), lambda x: x.nbytes),
                }
            )
            if mod is None:
                continue
            for label, lo, hi in CUTOFFS:
                try:
                    fn = numpy_sampler(mod, n, lo, hi, dtype, rng)
                except Exception as exc:
                    out["memory"].append(
                        {"name": "generated", "cutoff": label, "error": error_text(exc)}
                    )
                    continue
                out["memory"].append(
                    {
                        "name": "generated",
                        "cutoff": label,
                        "n": n,
                        "dtype": dtype,
                        **rss_extra(fn, lambda x: x.nbytes),
                    }
                )
        return out

    from scipy import stats

    scipy_cache: dict[str, dict[str, Any]] = {}
    for n in cfg["sizes"]:
        for dtype in DTYPES:
            dt = np.dtype(dtype)
            log(f"numpy n=2^{n.bit_length() - 1} {dtype}: floor")
            floor = time_call(partial(rng.standard_normal, n, dtype=dt), cfg)
            for label, lo, hi in CUTOFFS:
                log(f"numpy n=2^{n.bit_length() - 1} {dtype} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dtype,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor,
                }
                # generated
                if mod is None:
                    case["generated"] = {"error": why}
                else:
                    try:
                        fn = numpy_sampler(mod, n, lo, hi, dtype, rng)
                        case["generated"] = time_call(fn, cfg)
                        if "error" not in case["generated"]:
                            case["generated"]["output_check"] = check_output(fn(), n, dtype, lo, hi)
                    except Exception as exc:
                        case["generated"] = {"error": error_text(exc)}
                # scipy (timed at scipy_n, extrapolated per element)
                key = label  # scipy draws float64 whatever the dtype; timed once per cutoff
                if key not in scipy_cache:
                    m = cfg["scipy_n"]
                    scipy_cache[key] = time_call(
                        partial(scipy_rvs, stats, rng, m, lo, hi, np.float64),
                        cfg,
                        reps=cfg["scipy_reps"],
                    )
                    scipy_cache[key]["timed_n"] = m
                sc = dict(scipy_cache[key])
                if "median_s" in sc and sc["timed_n"] != n:
                    sc["median_s"] = sc["median_s"] * n / sc["timed_n"]
                    sc["cpu_median_s"] = sc["cpu_median_s"] * n / sc["timed_n"]
                    sc["extrapolated_from_n"] = sc["timed_n"]
                    for k in ("min_s", "times_s", "warmup_s"):
                        sc.pop(k, None)
                case["scipy_truncnorm_rvs"] = sc
                # naive redraw: run only when n/Z draws are affordable
                z = (
                    float(stats.norm.cdf(hi) - stats.norm.cdf(lo))
                    if lo < 0
                    else float(stats.norm.sf(lo) - stats.norm.sf(hi))
                )
                expected = floor.get("median_s", 0.0) / max(z, 1e-300)
                if z >= 0.1 and expected < 3.0:
                    case["naive_redraw"] = time_call(partial(naive_redraw, rng, n, lo, hi, dt), cfg)
                else:
                    case["naive_redraw"] = {
                        "skipped": f"mass Z={z:.3g}: needs about n/Z = "
                        f"{1 / max(z, 1e-300):.3g}x the floor's draws",
                        "expected_s_at_least": expected,
                    }
                if mod is not None and n == cfg["sizes"][0]:
                    try:
                        case["generated_memory_tracemalloc"] = tracemalloc_extra(
                            numpy_sampler(mod, n, lo, hi, dtype, rng)
                        )
                    except Exception as exc:
                        case["generated_memory_tracemalloc"] = {"error": error_text(exc)}
                add_ratios(case, "floor", ["scipy_truncnorm_rvs", "naive_redraw"])
                out["cases"].append(case)
    if mod is not None:  # tracemalloc at the largest size too (one dtype each)
        n = cfg["sizes"][-1]
        for dtype in DTYPES:
            for label, lo, hi in CUTOFFS:
                try:
                    r = tracemalloc_extra(numpy_sampler(mod, n, lo, hi, dtype, rng))
                except Exception as exc:
                    r = {"error": error_text(exc)}
                out["memory"].append(
                    {"name": "generated", "cutoff": label, "n": n, "dtype": dtype, **r}
                )
    out["threads"] = {"numpy_generator": 1}
    return out


def add_ratios(case: dict[str, Any], floor_key: str, others: list[str]) -> None:
    """ratios[x] = time(generated) / time(x); >1 means the generated sampler is slower."""
    for field, name in (
        ("median_s", "ratio_generated_over"),
        ("cpu_median_s", "cpu_ratio_generated_over"),
    ):
        gen = case.get("generated", {}).get(field)
        ratios: dict[str, Any] = {}
        for key in [floor_key, *others]:
            other = case.get(key, {}).get(field)
            ratios[key] = gen / other if gen and other else None
        case[name] = ratios


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------


def torch_floor(torch: Any, n: int, dtype: Any) -> Any:
    return torch.empty(n, dtype=dtype).normal_()


def torch_trunc(torch: Any, n: int, dtype: Any, lower: float, upper: float) -> Any:
    """nn.init.trunc_normal_ with std 1: its absolute cutoffs a*std, b*std are lower, upper."""
    return torch.nn.init.trunc_normal_(torch.empty(n, dtype=dtype), 0.0, 1.0, lower, upper)


def budgeted(
    per_element: dict[Any, float], key: Any, n: int, fn: Callable[[], Any], cfg: dict[str, Any]
) -> dict[str, Any]:
    """time_call, unless the time per element seen at a smaller n predicts a call too long to
    afford; then that per-element time times n (a lower bound: rejection rounds grow with log n)."""
    if key in per_element and per_element[key][1] < n:
        per, at = per_element[key]
        if per * n > cfg["max_extrapolated_call_s"]:
            return {
                "median_s": per * n,
                "reps": 0,
                "extrapolated_from_n": at,
                "note": "not run: predicted > max_extrapolated_call_s; scaled per element "
                "from the smaller n (a lower bound)",
            }
    r = time_call(fn, cfg)
    if "median_s" in r:
        per_element[key] = (r["median_s"] / n, n)
    return r


def torch_sampler(
    mod: Any, torch: Any, n: int, lower: float, upper: float, dtype: Any
) -> Callable[[], Any]:
    func = getattr(mod, "truncated_normal_", None) or mod.truncated_normal
    params = inspect.signature(func).parameters
    first = next(iter(params))
    if first in ("tensor", "t", "w", "weight"):  # in-place, torch.nn.init style
        kw = {}
        for key, value in {"std": 1.0, "lower": lower, "upper": upper, "mean": 0.0}.items():
            for name in {
                "std": ("std", "stddev"),
                "lower": ("lower", "a"),
                "upper": ("upper", "b"),
                "mean": ("mean",),
            }[key]:
                if name in params:
                    kw[name] = value
                    break
        return lambda: func(torch.empty(n, dtype=dtype), **kw)
    return call_adapter(
        func,
        {"shape": (n,), "std": 1.0, "lower": lower, "upper": upper, "mean": 0.0, "dtype": dtype},
    )


def section_torch(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(20240901)
    mod, why = load_generated("torch_init")
    out: dict[str, Any] = {
        "generated": why or "generated/torch_init.py",
        "cases": [],
        "memory": [],
        "threads": {
            "torch_num_threads": torch.get_num_threads(),
            "torch_num_interop_threads": torch.get_num_interop_threads(),
        },
    }
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    per_element: dict[Any, Any] = {}

    def nbytes(t: Any) -> int:
        return t.numel() * t.element_size()

    if memory:
        n = cfg["memory_n"]
        out["memory"].append(
            {
                "name": "calibration: x = floor(n); x * 2 (1.0x + the floor's own)",
                "n": n,
                "dtype": "float64",
                **rss_extra(
                    partial(calibration, partial(torch_floor, torch, n, torch.float64)), nbytes
                ),
            }
        )
        for dtype in DTYPES:
            dt = dtypes[dtype]
            out["memory"].append(
                {
                    "name": "floor normal_",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(torch_floor, torch, n, dt), nbytes),
                }
            )
            # trunc_normal_ for reference at +-2 only (its tail cases take minutes at this n)
            out["memory"].append(
                {
                    "name": "trunc_normal_",
                    "cutoff": "±2",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(torch_trunc, torch, n, dt, -2.0, 2.0), nbytes),
                }
            )
            for label, lo, hi in CUTOFFS:
                if mod is None:
                    continue
                try:
                    fn = torch_sampler(mod, torch, n, lo, hi, dt)
                    r = rss_extra(fn, nbytes)
                except Exception as exc:
                    r = {"error": error_text(exc)}
                out["memory"].append(
                    {"name": "generated", "cutoff": label, "n": n, "dtype": dtype, **r}
                )
        return out

    for n in cfg["sizes"]:
        for dtype in DTYPES:
            dt = dtypes[dtype]
            log(f"torch n=2^{n.bit_length() - 1} {dtype}: floor")
            floor = time_call(partial(torch_floor, torch, n, dt), cfg)
            for label, lo, hi in CUTOFFS:
                log(f"torch n=2^{n.bit_length() - 1} {dtype} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dtype,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor,
                }
                if mod is None:
                    case["generated"] = {"error": why}
                else:
                    try:
                        fn = torch_sampler(mod, torch, n, lo, hi, dt)
                        case["generated"] = time_call(fn, cfg)
                        if "error" not in case["generated"]:
                            case["generated"]["output_check"] = check_output(
                                fn().numpy(), n, dtype, lo, hi
                            )
                    except Exception as exc:
                        case["generated"] = {"error": error_text(exc)}
                # std 1, absolute cutoffs a*std = lo, b*std = hi
                case["trunc_normal_"] = budgeted(
                    per_element, (dtype, label), n, partial(torch_trunc, torch, n, dt, lo, hi), cfg
                )
                add_ratios(case, "floor", ["trunc_normal_"])
                out["cases"].append(case)
    return out


# ---------------------------------------------------------------------------------------------
# TensorFlow / Keras 3
# ---------------------------------------------------------------------------------------------


def tf_sampler(
    mod: Any, tf: Any, n: int, lower: float, upper: float, dtype: str
) -> Callable[[], Any]:
    func = getattr(mod, "truncated_normal", None)
    if func is None:
        raise AttributeError("generated/tf_init.py has no truncated_normal")
    if inspect.isclass(func):  # a Keras Initializer class: instance(shape, dtype)
        fixed = {"std": 1.0, "lower": lower, "upper": upper, "mean": 0.0, "rng": 20240901}
        init = call_adapter(func, fixed)()
        return lambda: init((n,), dtype=dtype)
    return call_adapter(
        func,
        {"shape": (n,), "std": 1.0, "lower": lower, "upper": upper, "mean": 0.0, "dtype": dtype},
    )


def section_tf(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.random.set_seed(20240901)
    mod, why = load_generated("tf_init")
    out: dict[str, Any] = {
        "generated": why or "generated/tf_init.py",
        "cases": [],
        "memory": [],
        "threads": {
            "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
    }

    def nbytes(t: Any) -> int:
        return int(tf.size(t).numpy()) * t.dtype.size

    def stateless(n: int, lo: float, hi: float, dtype: str) -> Callable[[], Any]:
        seed = tf.constant([1, 2], dtype=tf.int32)
        means, stds = tf.constant(0.0, dtype), tf.constant(1.0, dtype)
        a, b = tf.constant(lo, dtype), tf.constant(hi, dtype)
        return lambda: tf.random.stateless_parameterized_truncated_normal(
            shape=[n], seed=seed, means=means, stddevs=stds, minvals=a, maxvals=b
        )

    if memory:
        n = cfg["memory_n"]
        out["memory"].append(
            {
                "name": "calibration: x = floor(n); x * 2 (1.0x + the floor's own)",
                "n": n,
                "dtype": "float64",
                **rss_extra(
                    partial(calibration, partial(tf.random.normal, [n], dtype="float64")), nbytes
                ),
            }
        )
        for dtype in DTYPES:
            out["memory"].append(
                {
                    "name": "floor tf.random.normal",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(tf.random.normal, [n], dtype=dtype), nbytes),
                }
            )
            out["memory"].append(
                {
                    "name": "tf.random.truncated_normal",
                    "cutoff": "±2",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(tf.random.truncated_normal, [n], dtype=dtype), nbytes),
                }
            )
            if mod is None:
                continue
            for label, lo, hi in CUTOFFS:
                try:
                    r = rss_extra(tf_sampler(mod, tf, n, lo, hi, dtype), nbytes)
                except Exception as exc:
                    r = {"error": error_text(exc)}
                out["memory"].append(
                    {"name": "generated", "cutoff": label, "n": n, "dtype": dtype, **r}
                )
        return out

    for n in cfg["sizes"]:
        for dtype in DTYPES:
            log(f"tf n=2^{n.bit_length() - 1} {dtype}: floors")
            floor = time_call(partial(tf.random.normal, [n], dtype=dtype), cfg)
            tn = time_call(partial(tf.random.truncated_normal, [n], dtype=dtype), cfg)
            for label, lo, hi in CUTOFFS:
                log(f"tf n=2^{n.bit_length() - 1} {dtype} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dtype,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor,
                    "truncated_normal_pm2": tn,
                }
                if mod is None:
                    case["generated"] = {"error": why}
                else:
                    try:
                        fn = tf_sampler(mod, tf, n, lo, hi, dtype)
                        case["generated"] = time_call(fn, cfg)
                        if "error" not in case["generated"]:
                            case["generated"]["output_check"] = check_output(
                                fn().numpy(), n, dtype, lo, hi
                            )
                    except Exception as exc:
                        case["generated"] = {"error": error_text(exc)}
                try:
                    case["stateless_parameterized_truncated_normal"] = time_call(
                        stateless(n, lo, hi, dtype), cfg
                    )
                except Exception as exc:
                    case["stateless_parameterized_truncated_normal"] = {"error": error_text(exc)}
                add_ratios(
                    case,
                    "floor",
                    ["truncated_normal_pm2", "stateless_parameterized_truncated_normal"],
                )
                out["cases"].append(case)
    return out


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------


def moments_table(
    moments: Callable[..., Any], pairs: list[tuple[str, str]], digits: int
) -> list[Any]:
    return [moments(a, b, digits) for a, b in pairs]


def distinct_intervals(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` distinct cutoff pairs (decimal strings): symmetric, asymmetric, one-sided, tail."""
    import random

    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    while len(out) < count:
        kind = len(out) % 5
        if kind == 0:  # symmetric +-k
            k = f"{rng.uniform(0.05, 7):.4f}"
            pair = (f"-{k}", k)
        elif kind == 1:  # asymmetric around zero
            pair = (f"{-rng.uniform(0.05, 5):.4f}", f"{rng.uniform(0.05, 5):.4f}")
        elif kind == 2:  # one-sided
            a = f"{rng.uniform(-4, 8):.4f}"
            pair = (a, "inf") if rng.random() < 0.5 else ("-inf", a)
        else:  # tail intervals, far tails included, either side
            lo = rng.uniform(0.3, 12)
            hi = lo + rng.uniform(0.01, 3)
            pair = (f"{lo:.4f}", f"{hi:.4f}")
            if rng.random() < 0.5:
                pair = (f"{-hi:.4f}", f"{-lo:.4f}")
        if pair not in seen and pair[0] != pair[1]:
            seen.add(pair)
            out.append(pair)
    return out


def time_process(
    argv: list[str], reps: int, fresh_dir: bool = False, warmup: bool = True
) -> dict[str, Any]:
    """Median wall time of a whole process (warm-up run first: disk cache, .pyc files)."""
    times: list[float] = []
    last = ""
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(0 if warmup else 1, reps + 1):
            args = [a.replace("{tmp}", f"{tmp}/out{i}") if fresh_dir else a for a in argv]
            t0 = time.perf_counter()
            proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                return {
                    "error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}",
                    "argv": argv,
                }
            last = proc.stdout
            if i:
                times.append(dt)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "reps": len(times),
        "times_s": times,
        "argv": [os.path.basename(argv[0]), *argv[1:]],
        "stdout_head": last.strip().splitlines()[0][:120] if last.strip() else "",
    }


def section_generator(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import mpmath

    from derive.maths.truncnorm import truncnorm_moments

    py = sys.executable
    out: dict[str, Any] = {"mpmath_backend": mpmath.libmp.BACKEND, "threads": {"python": 1}}
    proc = partial(time_process, reps=cfg["process_reps"], warmup=cfg["process_warmup"])
    log("generator: python -m derive generate --out <tmp>")
    out["generate_process"] = proc(
        [py, "-m", "derive", "generate", "--out", "{tmp}"], fresh_dir=True
    )
    log("generator: CLI query vs scipy one-liner")
    out["cli_truncnorm_-2_2"] = proc([py, "-m", "derive", "truncnorm", "-2", "2"])
    out["scipy_oneliner_std_-2_2"] = proc(
        [py, "-c", "import scipy.stats; print(scipy.stats.truncnorm.std(-2, 2))"]
    )
    out["cli_truncnorm_-2_2_digits_1000"] = proc(
        [py, "-m", "derive", "truncnorm", "-2", "2", "--digits", "1000"]
    )

    # how time grows with the number of intervals (50 digits)
    truncnorm_moments("-2", "2", 50)  # warm-up: imports, mpmath constants
    growth = []
    for count in cfg["interval_counts"]:
        log(f"generator: {count} intervals at 50 digits")
        pairs = distinct_intervals(count, seed=count)
        r = time_call(
            partial(moments_table, truncnorm_moments, pairs, 50),
            {**cfg, "slow_call_s": 2.0, "very_slow_call_s": 30.0},
            reps=cfg["reps"] if count < 5000 else min(cfg["reps"], 3),
        )
        r.pop("warmup_s", None)
        r["intervals"] = count
        r["digits"] = 50
        if "median_s" in r:
            r["per_interval_ms"] = 1e3 * r["median_s"] / count
        growth.append(r)
    out["intervals_growth"] = growth

    # how time grows with the digits (one interval per call)
    digit_rows = []
    for digits in cfg["digits"]:
        for a, b in [("-2", "2"), ("-1", "3"), ("8", "9"), ("2", "inf")]:
            log(f"generator: [{a}, {b}] at {digits} digits")
            r = time_call(partial(truncnorm_moments, a, b, digits), cfg)
            r.pop("warmup_s", None)
            digit_rows.append({"digits": digits, "lower": a, "upper": b, **r})
    out["digits_growth"] = digit_rows
    return out


# ---------------------------------------------------------------------------------------------
# orchestration, targets, table
# ---------------------------------------------------------------------------------------------


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name, dists in [
        ("numpy", ["numpy"]),
        ("scipy", ["scipy"]),
        ("mpmath", ["mpmath"]),
        ("sympy", ["sympy"]),
        ("torch", ["torch"]),
        ("tensorflow", ["tensorflow-cpu", "tensorflow"]),
        ("keras", ["keras"]),
    ]:
        out[name] = None
        for dist in dists:
            with contextlib.suppress(PackageNotFoundError):
                out[name] = version(dist)
                break
    return out


def loadavg() -> str:
    """/proc/loadavg: other work on the machine inflates times (and ratios of many-op samplers)."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "unknown"


def run_section(name: str, args: argparse.Namespace, memory: bool) -> dict[str, Any]:
    """Run one section in a fresh interpreter and return its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{name}.json"
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--section",
            name,
            "--out",
            str(target),
            "--threads",
            str(args.threads),
        ]
        if args.quick:
            argv.append("--quick")
        env = dict(os.environ)
        if memory:
            argv.append("--memory")
            env["MALLOC_MMAP_THRESHOLD_"] = "65536"
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        took = time.perf_counter() - t0
        if proc.returncode != 0 or not target.exists():
            return {
                "error": f"section {name}{' --memory' if memory else ''} exited {proc.returncode}",
                "wall_s": took,
            }
        data = json.loads(target.read_text())
        data["wall_s"] = took
        data["loadavg_after"] = loadavg()
        return data


def geq(value: float | None, bound: float) -> bool | None:
    return None if value is None else value >= bound


def evaluate_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Each issue-4 target with the measured worst case and pass/miss (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, worst: float | None, ok: bool | None, where: str = "") -> None:
        rows.append(
            {"target": name, "limit": target, "measured": worst, "pass": ok, "worst_case": where}
        )

    def worst(
        cases: list[dict[str, Any]],
        key: str,
        pick: Callable[[dict[str, Any]], bool],
        invert: bool = False,
    ) -> tuple[float | None, str]:
        best: tuple[float | None, str] = (None, "")
        for c in cases:
            if not pick(c):
                continue
            r = c.get("ratio_generated_over", {}).get(key)
            if r is None:
                continue
            v = 1 / r if invert else r
            if best[0] is None or (v < best[0] if invert else v > best[0]):
                best = (v, f"n=2^{c['n'].bit_length() - 1} {c['dtype']} {c['cutoff']}")
        return best

    np_cases = res.get("numpy", {}).get("cases", [])
    v, w = worst(np_cases, "floor", lambda c: c["cutoff"] == "±2")
    add("numpy ±2 vs standard_normal", "≤ 1.3×", v, None if v is None else v <= 1.3, w)
    v, w = worst(np_cases, "floor", lambda c: True)
    add("numpy every cutoff vs standard_normal", "≤ 3×", v, None if v is None else v <= 3, w)
    v, w = worst(np_cases, "scipy_truncnorm_rvs", lambda c: True, invert=True)
    add("numpy speed-up over scipy truncnorm.rvs", "≥ 10×", v, geq(v, 10), w)

    t_cases = res.get("torch", {}).get("cases", [])
    v, w = worst(t_cases, "trunc_normal_", lambda c: True)
    add("torch vs trunc_normal_ (where it runs)", "≤ 1×", v, None if v is None else v <= 1, w)
    v, w = worst(t_cases, "floor", lambda c: c["cutoff"] == "±2")
    add("torch ±2 vs normal_", "≤ 2×", v, None if v is None else v <= 2, w)

    tf_cases = res.get("tf", {}).get("cases", [])
    v, w = worst(tf_cases, "truncated_normal_pm2", lambda c: c["cutoff"] == "±2")
    add("tf ±2 vs tf.random.truncated_normal", "≤ 1.5×", v, None if v is None else v <= 1.5, w)

    mem_worst: tuple[float | None, str] = (None, "")
    for fw in ("numpy", "torch", "tf"):
        for m in res.get(fw, {}).get("memory", []) + res.get(fw + "_memory", {}).get("memory", []):
            if m.get("name") != "generated" or "peak_extra_ratio" not in m:
                continue
            if mem_worst[0] is None or m["peak_extra_ratio"] > mem_worst[0]:
                mem_worst = (
                    m["peak_extra_ratio"],
                    f"{fw} {m.get('method', '')[:11]} n=2^{m['n'].bit_length() - 1} "
                    f"{m['dtype']} {m['cutoff']}",
                )
    add(
        "peak extra memory of generated samplers",
        "≤ 1× output",
        mem_worst[0],
        None if mem_worst[0] is None else mem_worst[0] <= 1.0,
        mem_worst[1],
    )

    g = res.get("generator", {})
    t = g.get("generate_process", {}).get("median_s")
    add("make generate (python -m derive generate)", "< 5 s", t, None if t is None else t < 5)
    cli = g.get("cli_truncnorm_-2_2", {}).get("median_s")
    sp = g.get("scipy_oneliner_std_-2_2", {}).get("median_s")
    add(
        "CLI query / scipy one-liner (time ratio)",
        "≤ 1×",
        cli / sp if cli and sp else None,
        None if not (cli and sp) else cli <= sp,
    )
    big = [r for r in g.get("intervals_growth", []) if r.get("intervals") == 10000]
    t = big[0].get("median_s") if big else None
    add("10,000 intervals at 50 digits", "< 10 s", t, None if t is None else t < 10)
    rows_1000 = [r for r in g.get("digits_growth", []) if r["digits"] == 1000 and "median_s" in r]
    if rows_1000:
        r = max(rows_1000, key=lambda r: r["median_s"])
        add(
            "one interval at 1,000 digits (slowest of 4)",
            "< 1 s",
            r["median_s"],
            r["median_s"] < 1,
            f"[{r['lower']}, {r['upper']}]",
        )
    else:
        add("one interval at 1,000 digits (slowest of 4)", "< 1 s", None, None)
    return rows


def fmt_t(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    if "median_s" in entry:
        s = entry["median_s"]
        text = f"{s * 1e3:.1f}" if s < 10 else f"{s * 1e3:.0f}"
        if entry.get("extrapolated_from_n"):
            text += "*"
        return text
    if "skipped" in entry:
        return "skip"
    return "error"


def fmt_r(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def report(res: dict[str, Any]) -> str:
    parts: list[str] = []
    others = {
        "numpy": [("scipy_truncnorm_rvs", "scipy"), ("naive_redraw", "naive")],
        "torch": [("trunc_normal_", "trunc_normal_")],
        "tf": [
            ("truncated_normal_pm2", "tf.trunc±2"),
            ("stateless_parameterized_truncated_normal", "stateless_param"),
        ],
    }
    for fw, extra in others.items():
        sec = res.get(fw)
        if not sec:
            continue
        if "error" in sec:
            parts.append(f"\n== {fw}: {sec['error']}")
            continue
        parts.append(
            f"\n== {fw} ({sec.get('generated')}) — times in ms (median), ratio = generated / other"
        )
        headers = ["n", "dtype", "cutoff", "generated", "floor", "gen/floor"]
        for _, short in extra:
            headers += [short, f"gen/{short}"]
        headers.append("check")
        rows = []
        for c in sec["cases"]:
            r = c.get("ratio_generated_over", {})
            row = [
                f"2^{c['n'].bit_length() - 1}",
                c["dtype"],
                c["cutoff"],
                fmt_t(c.get("generated")),
                fmt_t(c.get("floor")),
                fmt_r(r.get("floor")),
            ]
            for key, _ in extra:
                row += [fmt_t(c.get(key)), fmt_r(r.get(key))]
            gen = c.get("generated", {})
            row.append(gen.get("output_check", "") if "error" not in gen else gen["error"][:40])
            rows.append(row)
        parts.append(table(headers, rows))
        if fw == "numpy":
            at = res["config"]["scipy_n"].bit_length() - 1
            parts.append(f"* scipy timed at n = 2^{at} and scaled per element")
        mem = sec.get("memory", []) + res.get(fw + "_memory", {}).get("memory", [])
        if mem:
            parts.append(f"\n-- {fw} peak extra memory / output size")
            rows = [
                [
                    m.get("name", "")[:34],
                    m.get("method", "")[:20],
                    f"2^{m['n'].bit_length() - 1}" if "n" in m else "",
                    m.get("dtype", ""),
                    m.get("cutoff", ""),
                    fmt_r(m.get("peak_extra_ratio")) if "error" not in m else m["error"][:40],
                ]
                for m in mem
            ]
            parts.append(table(["what", "method", "n", "dtype", "cutoff", "extra/output"], rows))
    g = res.get("generator")
    if g and "error" not in g:
        parts.append(f"\n== generator (mpmath backend: {g.get('mpmath_backend')})")
        rows = []
        for key in (
            "generate_process",
            "cli_truncnorm_-2_2",
            "scipy_oneliner_std_-2_2",
            "cli_truncnorm_-2_2_digits_1000",
        ):
            rows.append([key, fmt_t(g.get(key)), str(g.get(key, {}).get("reps", ""))])
        parts.append(table(["process", "ms", "reps"], rows))
        rows = [
            [
                str(r["intervals"]),
                str(r["digits"]),
                fmt_t(r),
                f"{r['per_interval_ms']:.3f}" if "per_interval_ms" in r else "-",
                str(r.get("reps", "")),
            ]
            for r in g.get("intervals_growth", [])
        ]
        parts.append(table(["intervals", "digits", "ms", "ms/interval", "reps"], rows))
        rows = [
            [str(r["digits"]), f"[{r['lower']}, {r['upper']}]", fmt_t(r)]
            for r in g.get("digits_growth", [])
        ]
        parts.append(table(["digits", "interval", "ms"], rows))
    elif g:
        parts.append(f"\n== generator: {g['error']}")
    rows = [
        [
            t["target"],
            t["limit"],
            "-" if t["measured"] is None else f"{t['measured']:.3g}",
            {True: "pass", False: "MISS", None: "n/a"}[t["pass"]],
            t["worst_case"],
        ]
        for t in res.get("targets", [])
    ]
    parts.append("\n== targets (measured = worst case; times in s, else ratios)")
    parts.append(table(["target", "limit", "measured", "", "worst case"], rows))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny n, 1 rep (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="numpy|torch|tf|generator (repeatable or comma-separated)",
    )
    parser.add_argument("--out", help="results JSON path (default bench/results/bench-<mode>.json)")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch / TF thread count (default: all cores)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS memory subprocesses")
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    sys.path.insert(0, str(ROOT))

    if args.section:  # child process: one section, JSON to --out
        func = {
            "numpy": section_numpy,
            "torch": section_torch,
            "tf": section_tf,
            "generator": section_generator,
        }[args.section]
        data = func(cfg, args.threads, args.memory)
        Path(args.out).write_text(json.dumps(data, sort_keys=True, allow_nan=False))
        return 0

    only = [s.strip() for part in args.only for s in part.split(",") if s.strip()] or list(SECTIONS)
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        parser.error(f"--only: {', '.join(bad)} (accepted: {', '.join(SECTIONS)})")
    t_start = time.perf_counter()
    res: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "sections": only,
            "versions": versions(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads_requested": args.threads,
            "OPENBLAS_CORETYPE": {
                "present": "OPENBLAS_CORETYPE" in os.environ,
                "value": os.environ.get("OPENBLAS_CORETYPE"),
            },
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_start": loadavg(),
        },
        "config": cfg,
    }
    for name in only:
        log(f"[bench] section {name}")
        res[name] = run_section(name, args, memory=False)
        if name != "generator" and not args.no_memory:
            log(f"[bench] section {name}: memory")
            res[name + "_memory"] = run_section(name, args, memory=True)
    res["targets"] = evaluate_targets(res)
    res["meta"]["wall_s"] = time.perf_counter() - t_start
    res["meta"]["loadavg_end"] = loadavg()
    out = Path(args.out) if args.out else RESULTS / f"bench-{res['meta']['mode']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, sort_keys=True, indent=1, allow_nan=False) + "\n")
    print(report(res))
    print(f"\nresults: {out}  (wall {res['meta']['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
