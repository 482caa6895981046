"""make bench, shared parts: configuration, timing, memory measurement, loading generated files.

The method is described in bench/run.py's docstring.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import math
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
RESULTS = ROOT / "bench" / "results"
CPU_SECTIONS = (
    "numpy",
    "torch",
    "tf",
    "jax",
    "jax_sharded",
    "generator",
    "orthogonal_numpy",
    "orthogonal_torch",
    "orthogonal_tf",
    "model",
    "torch_small",
    "torch_dtensor",
)
SECTIONS = (*CPU_SECTIONS, "torch_cuda")
# --only orthogonal: the three orthogonal sections (one subprocess per framework)
SECTION_GROUPS = {"orthogonal": ("orthogonal_numpy", "orthogonal_torch", "orthogonal_tf")}
# sections without a memory run (the orthogonal ones measure only time)
NO_MEMORY_SECTIONS = (
    "model",
    "jax_sharded",
    "generator",
    "torch_cuda",
    "torch_small",
    "torch_dtensor",
    "orthogonal_numpy",
    "orthogonal_torch",
    "orthogonal_tf",
)
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
    # jax_sharded: the rejection samplers are 10-200x the floor when sharded (README), so
    # 2^24 would take minutes per case
    "sharded_sizes": [2**20, 2**22],
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
    # orthogonal sections (bench/bench_orthogonal.py): square sizes (float32; float64 up to
    # orthogonal_float64_max), wide float32 shapes, and the longest predicted call allowed
    "orthogonal_sizes": [1024, 4096, 8192],
    "orthogonal_float64_max": 4096,
    "orthogonal_wide": [[1024, 4096]],
    "orthogonal_reps": 3,  # alternating rounds of (ours, reference)
    "orthogonal_single_call_s": 30.0,  # a slower warm-up call is the one measurement
    "max_orthogonal_call_s": 150.0,
}
QUICK = {
    "sizes": [2**10],
    "sharded_sizes": [2**10],
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
    "orthogonal_sizes": [64, 128],
    "orthogonal_float64_max": 128,
    "orthogonal_wide": [[32, 96]],
    "orthogonal_reps": 1,
    "orthogonal_single_call_s": 30.0,
    "max_orthogonal_call_s": 150.0,
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
