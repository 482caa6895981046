#!/usr/bin/env python
"""make bench, CUDA section: the generated torch_init on a GPU against torch's own samplers.

A section of bench/run.py (``python bench/run.py --device cuda``; part of the default run),
or alone::

    python bench/bench_torch_cuda.py [--quick] [--out results.json]

Without a CUDA device it reports ``skipped: no CUDA device`` and exits 0.

Method (issue 11)
-----------------
* n = 2^24 and 2^28, float32 and bfloat16, cutoffs ±2, [3, 4], [8, 9], [2, inf); the
  generated ``truncated_normal_`` with std 1 after truncation.
* Every call allocates its output (``torch.empty`` on the GPU, from the caching allocator), the
  floor included.  ``warmup`` untimed calls, then ``reps`` calls, each bracketed by a pair of
  CUDA events recorded on the current stream before and after it: the GPU time from the
  first kernel to the last, so host launch gaps and syncs inside the call count.  The median.
* Floor: ``torch.empty(n).normal_()``.  ``torch.nn.init.trunc_normal_(t, 0, 1, lower, upper)``
  (std 1, absolute cutoffs = the std units here) at the same cutoffs, timed in the same run
  where it runs (torch 2.13 raises on [2, inf)).  Ratios: generated / floor,
  generated / trunc_normal_, trunc_normal_ / floor.
* Peak extra memory: ``torch.cuda.reset_peak_memory_stats()``, ``memory_allocated()`` before,
  one call, then (``max_memory_allocated()`` - before - output bytes) / output bytes.
* Syncs per call: the "synchronizing CUDA operation" warnings that
  ``torch.cuda.set_sync_debug_mode("warn")`` raises during 3 steady-state calls, / 3.
* Output check (outside the timing): finite, and x * s(lower, upper) within [lower, upper].
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import INF, cut_text, error_text, load_generated, log

CUDA_CUTOFFS: list[tuple[str, float, float]] = [
    ("±2", -2.0, 2.0),
    ("[3, 4]", 3.0, 4.0),
    ("[8, 9]", 8.0, 9.0),
    ("[2, inf)", 2.0, INF),
]
CUDA_DTYPES = ("float32", "bfloat16")
CUDA_FULL = {"sizes": [2**24, 2**28], "warmup": 3, "reps": 15, "slow_call_s": 2.0}
CUDA_QUICK = {"sizes": [2**12], "warmup": 1, "reps": 3, "slow_call_s": 2.0}
SKIPPED = "no CUDA device"


def cuda_time(torch: Any, fn: Callable[[], Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Median GPU time of fn() between two CUDA events, after warm-up calls (on a CPU
    rehearsal: perf_counter)."""
    clock = _Clock(torch, cfg["device"])
    try:
        reps = cfg["reps"]
        for i in range(cfg["warmup"]):
            if clock.time(fn) > cfg["slow_call_s"] and i == 0:
                reps = 1  # one more call is the measurement
                break
        times = [clock.time(fn) for _ in range(reps)]
    except Exception as exc:  # recorded, not raised: e.g. trunc_normal_ on [2, inf)
        return {"error": error_text(exc)}
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "reps": len(times),
        "times_s": times,
    }


class _Clock:
    def __init__(self, torch: Any, device: str) -> None:
        self.cuda = device == "cuda"
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)

    def time(self, fn: Callable[[], Any]) -> float:
        """Seconds of one call; its output is dropped afterwards."""
        if not self.cuda:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        self.start.record()
        out = fn()
        self.end.record()
        self.end.synchronize()
        del out
        return float(self.start.elapsed_time(self.end)) / 1e3


def cuda_extra_memory(torch: Any, fn: Callable[[], Any], device: str) -> dict[str, Any]:
    if device != "cuda":
        return {"skipped": "CPU rehearsal"}
    try:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        out = fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        nbytes = out.numel() * out.element_size()
    except Exception as exc:
        return {"error": error_text(exc)}
    return {
        "output_bytes": nbytes,
        "peak_extra_bytes": peak - before - nbytes,
        "peak_extra_ratio": (peak - before - nbytes) / nbytes,
    }


def cuda_syncs(torch: Any, fn: Callable[[], Any], device: str, calls: int = 3) -> float | str:
    if device != "cuda":
        return "CPU rehearsal"
    try:
        fn()
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for _ in range(calls):
                    fn()
            finally:
                torch.cuda.set_sync_debug_mode("default")
    except Exception as exc:
        return error_text(exc)
    return sum("synchroniz" in str(w.message) for w in caught) / calls


def output_check(torch: Any, mod: Any, x: Any, lower: float, upper: float) -> str:
    s = mod.truncnorm_moments(lower, upper)[1]
    z = x.double() * s
    if not bool(torch.isfinite(z).all()):
        return "FAILED: non-finite values"
    lo, hi = float(z.min()), float(z.max())
    slack = 1e-2 * max(1.0, abs(lower) if math.isfinite(lower) else 1.0)  # bfloat16 rounding
    if lo < lower - slack or hi > upper + slack:
        return f"FAILED: range [{lo:.6g}, {hi:.6g}] outside [{lower}, {upper}]"
    return "ok"


def section_torch_cuda(quick: bool, rehearse_on_cpu: bool = False) -> dict[str, Any]:
    """The CUDA table (see the module docstring); quick: n = 2^12, 3 reps.  rehearse_on_cpu:
    the same loop on CPU tensors with the generated file's batched path switched on and
    perf_counter for the clock (no memory or sync figures), to test this code without a GPU."""
    import torch

    ccfg = {**(CUDA_QUICK if quick else CUDA_FULL), "device": "cpu" if rehearse_on_cpu else "cuda"}
    if not rehearse_on_cpu and not torch.cuda.is_available():
        return {"skipped": SKIPPED, "config": ccfg}
    torch.manual_seed(20240901)
    mod, why = load_generated("torch_init")
    dev = torch.device(ccfg["device"])
    if rehearse_on_cpu and mod is not None:
        mod._BATCHED_DEVICE_TYPES = ("cuda", "cpu")
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU rehearsal",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "generated": why or "generated/torch_init.py",
        "batched_path": None
        if mod is None
        else bool(mod._takes_batched_path(torch.empty(1, device=dev))),
        "syncs_per_call_designed": None if mod is None else getattr(mod, "_SYNCS_PER_CALL", None),
        "config": ccfg,
        "cases": [],
        "floors": [],
    }
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    for n in ccfg["sizes"]:
        for dname in CUDA_DTYPES:
            dt = dtypes[dname]

            def floor(n: int = n, dt: Any = dt) -> Any:
                return torch.empty(n, dtype=dt, device=dev).normal_()

            log(f"cuda n=2^{n.bit_length() - 1} {dname}: floor")
            floor_t = cuda_time(torch, floor, ccfg)
            out["floors"].append(
                {
                    "n": n,
                    "dtype": dname,
                    "floor": floor_t,
                    "memory": cuda_extra_memory(torch, floor, dev.type),
                }
            )
            for label, lo, hi in CUDA_CUTOFFS:
                log(f"cuda n=2^{n.bit_length() - 1} {dname} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dname,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor_t,
                }

                def trunc(n: int = n, dt: Any = dt, lo: float = lo, hi: float = hi) -> Any:
                    t = torch.empty(n, dtype=dt, device=dev)
                    with warnings.catch_warnings():  # "mean is more than 2 std from [a, b]"
                        warnings.simplefilter("ignore", UserWarning)
                        return torch.nn.init.trunc_normal_(t, 0.0, 1.0, lo, hi)

                case["trunc_normal_"] = cuda_time(torch, trunc, ccfg)
                if mod is None:
                    case["generated"] = {"error": why}
                else:

                    def gen(n: int = n, dt: Any = dt, lo: float = lo, hi: float = hi) -> Any:
                        t = torch.empty(n, dtype=dt, device=dev)
                        return mod.truncated_normal_(t, std=1.0, lower=lo, upper=hi)

                    case["generated"] = cuda_time(torch, gen, ccfg)
                    if "error" not in case["generated"]:
                        case["generated"]["output_check"] = output_check(torch, mod, gen(), lo, hi)
                        case["memory"] = cuda_extra_memory(torch, gen, dev.type)
                        case["syncs_per_call"] = cuda_syncs(torch, gen, dev.type)
                g = case["generated"].get("median_s")
                f = floor_t.get("median_s")
                t = case["trunc_normal_"].get("median_s")
                case["ratio_generated_over"] = {
                    "floor": g / f if g and f else None,
                    "trunc_normal_": g / t if g and t else None,
                }
                case["ratio_trunc_normal_over_floor"] = t / f if t and f else None
                out["cases"].append(case)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
    return out


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(sec: dict[str, Any]) -> str:
    """The issue's table: per n and dtype, normal_ in ms and every ratio to it."""
    if "skipped" in sec:
        return f"== torch on CUDA: skipped: {sec['skipped']}"
    if "error" in sec:
        return f"== torch on CUDA: {sec['error']}"
    lines = [
        f"== torch on CUDA ({sec['device']}, torch {sec['torch']}, CUDA {sec['cuda']}; "
        f"batched path: {sec['batched_path']}) -- ratio = time / normal_ (CUDA-event medians)"
    ]
    head = ["n, dtype", "normal_ ms"]
    head += [f"ours {c[0]}" for c in CUDA_CUTOFFS]
    head += [f"trunc_normal_ {c[0]}" for c in CUDA_CUTOFFS]
    head += ["peak extra / output", "syncs/call", "check"]
    rows = []
    for fl in sec["floors"]:
        cases = [c for c in sec["cases"] if c["n"] == fl["n"] and c["dtype"] == fl["dtype"]]
        ms = fl["floor"].get("median_s")
        row = [f"2^{fl['n'].bit_length() - 1} {fl['dtype']}", fmt(ms * 1e3 if ms else None, 3)]
        row += [fmt(c["ratio_generated_over"]["floor"]) for c in cases]
        row += [
            fmt(c["ratio_trunc_normal_over_floor"])
            if "error" not in c["trunc_normal_"]
            else "error"
            for c in cases
        ]
        extra = [c.get("memory", {}).get("peak_extra_ratio") for c in cases]
        extra = [e for e in extra if e is not None]
        row.append(f"{min(extra):.3f}-{max(extra):.3f}" if extra else "-")
        syncs = sorted({str(c.get("syncs_per_call", "-")) for c in cases})
        row.append(",".join(syncs))
        checks = {c["generated"].get("output_check", "error") for c in cases}
        row.append(",".join(sorted(checks)))
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 2^12, 3 reps (smoke test)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument(
        "--rehearse-on-cpu", action="store_true", help="run the loop on CPU tensors (a test)"
    )
    args = parser.parse_args(argv)
    sec = section_torch_cuda(args.quick, args.rehearse_on_cpu)
    if args.out:
        Path(args.out).write_text(json.dumps(sec, sort_keys=True, indent=1, allow_nan=False) + "\n")
    print(table(sec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
