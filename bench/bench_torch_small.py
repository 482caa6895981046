"""make bench, section torch_small: per-call cost of the generated torch_init on small tensors.

Shapes 64 x 3 x 3 x 3 (a first conv layer, 1728 values) and 256 x 256, float32, at 1 and 2
intra-op threads (torch.set_num_threads in this process), then at 2 threads with every core
kept busy by spinning processes (contention: what a shared machine or a data loader does).

Candidates, each timed as a batch of calls (per-call time = batch time / calls), the rounds
interleaved so that load changes hit every candidate alike, median of the rounds:

* ours: he_normal_ (truncated at +-2, the default), truncated_normal_(std=0.02) and
  he_normal_(distribution="untruncated_normal") (kaiming_normal_'s draws);
* torch: nn.init.trunc_normal_(std=0.02, a=-0.04, b=0.04) (the same +-2 sigma law, the
  reference of the ratios) and nn.init.kaiming_normal_.

Ratios are ours / trunc_normal_ in the same process and conditions.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import load_generated, log

SHAPES = [(64, 3, 3, 3), (256, 256)]
REFERENCE = "trunc_normal_"


def _spin(stop: Any) -> None:  # pragma: no cover - a busy process
    x = 0
    while not stop.is_set():
        x += 1


def _time(fns: dict[str, Callable[[], Any]], calls: int, rounds: int) -> dict[str, Any]:
    for f in fns.values():
        f()
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                f()
            times[name].append((time.perf_counter() - t0) / calls)
    return {
        name: {"median_s": statistics.median(v), "min_s": min(v), "rounds": rounds, "calls": calls}
        for name, v in times.items()
    }


def section_torch_small(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import torch

    mod, why = load_generated("torch_init")
    if mod is None:
        return {"error": why}
    quick = cfg["reps"] == 1
    rounds = 3 if quick else 9
    g = torch.Generator().manual_seed(20240901)
    out: dict[str, Any] = {"cases": [], "reference": REFERENCE, "threads_requested": threads}
    conditions = [("idle", 1), ("idle", 2), ("contended", 2)]
    for condition, count in conditions:
        torch.set_num_threads(count)
        stop = spinners = None
        if condition == "contended":
            ctx = multiprocessing.get_context("spawn")
            stop = ctx.Event()
            spinners = [ctx.Process(target=_spin, args=(stop,)) for _ in range(os.cpu_count() or 1)]
            for p in spinners:
                p.start()
            time.sleep(0.5)
        try:
            for shape in SHAPES:
                w = torch.empty(shape)
                small = w.numel() < 10_000
                calls = (20 if quick else 200) if small else (3 if quick else 20)
                if condition == "contended":
                    calls = max(1, calls // 4)
                fns = {
                    REFERENCE: lambda w=w: torch.nn.init.trunc_normal_(
                        w, 0.0, 0.02, -0.04, 0.04, generator=g
                    ),
                    "kaiming_normal_": lambda w=w: torch.nn.init.kaiming_normal_(w, generator=g),
                    "he_normal_": lambda w=w: mod.he_normal_(w, generator=g),
                    "truncated_normal_": lambda w=w: mod.truncated_normal_(
                        w, std=0.02, generator=g
                    ),
                    "he_normal_untruncated": lambda w=w: mod.he_normal_(
                        w, distribution="untruncated_normal", generator=g
                    ),
                }
                log(f"torch_small {condition} threads={count} {shape}")
                timed = _time(fns, calls, rounds)
                base = timed[REFERENCE]["median_s"]
                out["cases"].append(
                    {
                        "condition": condition,
                        "threads": count,
                        "shape": list(shape),
                        "times": timed,
                        "ratio_over_trunc_normal_": {
                            k: v["median_s"] / base for k, v in timed.items() if k != REFERENCE
                        },
                    }
                )
        finally:
            if stop is not None and spinners is not None:
                stop.set()
                for p in spinners:
                    p.join(timeout=10)
    return out


def table(sec: dict[str, Any], table_fn: Callable[..., str]) -> str:
    """The torch_small rows: per-call times and ratios to trunc_normal_."""
    names = ["he_normal_", "truncated_normal_", "he_normal_untruncated", "kaiming_normal_"]
    headers = ["condition", "threads", "shape", "trunc_normal_ us"]
    headers += [f"{n} us (ratio)" for n in names]
    rows = []
    for c in sec.get("cases", []):
        t = c["times"]
        row = [c["condition"], str(c["threads"]), "x".join(map(str, c["shape"]))]
        row.append(f"{t[REFERENCE]['median_s'] * 1e6:.0f}")
        for n in names:
            row.append(f"{t[n]['median_s'] * 1e6:.0f} ({c['ratio_over_trunc_normal_'][n]:.2f})")
        rows.append(row)
    return table_fn(headers, rows)
