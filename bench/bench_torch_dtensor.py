"""make bench, section torch_dtensor: the generated torch_init on DTensors, 2 gloo ranks on CPU.

The section's process spawns 2 ranks (torch.multiprocessing, a FileStore, one intra-op thread
each: 2 ranks on 2 cores).  On a 1-D mesh of both, for each shape and placement (Shard(0),
Shard(1)), every candidate fills the same DTensor; a call's time is the slowest rank's, from
a barrier before it to a barrier after it; rounds interleave the candidates; median of the
rounds.  Candidates:

* ours he_normal_ (truncated at +-2): each rank draws the tiles that meet its shard;
* torch nn.init.trunc_normal_ on the same DTensor with the same law (std sigma, cutoffs
  +-2 sigma): each rank draws its local shard (values depend on the mesh);
* ours he_normal_(distribution="untruncated_normal") and torch nn.init.kaiming_normal_: ours
  draws the full tensor on every rank (torch's own stream, the bits of the unsharded call),
  torch's the local shard;
* ours he_normal_ on the plain full tensor, in each rank (what one process would pay).

Also recorded: the values each rank drew for ours (the tiles that meet its shard) over its
shard's size.  Ratios are ours / torch's in the same run.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import GENERATED, log

WORLD = 2


def _worker(rank: int, store: str, out: str, shapes: list[list[int]], rounds: int) -> None:
    import importlib.util
    import sys

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", store=dist.FileStore(store, WORLD), rank=rank, world_size=WORLD)
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import Shard, distribute_tensor

        path = GENERATED / "torch_init.py"
        spec = importlib.util.spec_from_file_location("bench_dtensor_ti", path)
        assert spec is not None and spec.loader is not None
        ti = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = ti
        spec.loader.exec_module(ti)
        drawn: list[int] = []
        tiles = ti._tiles

        def counted(*args: Any) -> Any:
            found = tiles(*args)
            drawn.append(sum((rb - ra) * (cb - ca) for _, ra, rb, ca, cb in found))
            return found

        ti._tiles = counted
        mesh = init_device_mesh("cpu", (WORLD,))
        g = torch.Generator().manual_seed(7)
        results = []
        for shape in shapes:
            for dim in (0, 1):
                d = distribute_tensor(torch.zeros(shape), mesh, [Shard(dim)])
                plain = torch.empty(shape)
                std = math.sqrt(2.0 / shape[1])
                sigma = std / ti.truncnorm_moments(-2.0, 2.0)[1]
                fns = {
                    "ours he_normal_": lambda d=d: ti.he_normal_(d, generator=g),
                    "torch trunc_normal_": lambda d=d, s=sigma: torch.nn.init.trunc_normal_(
                        d, 0.0, s, -2.0 * s, 2.0 * s, generator=g
                    ),
                    "ours he_normal_ untruncated": lambda d=d: ti.he_normal_(
                        d, distribution="untruncated_normal", generator=g
                    ),
                    "torch kaiming_normal_": lambda d=d: torch.nn.init.kaiming_normal_(
                        d, generator=g
                    ),
                    "ours he_normal_ plain full tensor": lambda p=plain: ti.he_normal_(
                        p, generator=g
                    ),
                }
                times: dict[str, list[float]] = {k: [] for k in fns}
                errors: dict[str, str] = {}
                for r in range(rounds + 1):  # round 0: warm-up
                    for name, fn in fns.items():
                        if name in errors:
                            continue
                        dist.barrier()
                        t0 = time.perf_counter()
                        try:
                            fn()
                        except Exception as exc:  # recorded: e.g. an op DTensor lacks
                            errors[name] = f"{type(exc).__name__}: {str(exc)[:120]}"
                        took = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
                        dist.all_reduce(took, op=dist.ReduceOp.MAX)
                        if r:
                            times[name].append(float(took))
                drawn.clear()
                ti.he_normal_(d, generator=g)
                local = d.to_local().numel()
                results.append(
                    {
                        "shape": shape,
                        "placement": f"Shard({dim})",
                        "times": {
                            k: {"median_s": statistics.median(v), "rounds": len(v)}
                            for k, v in times.items()
                            if v
                        },
                        "errors": errors,
                        "drawn_over_local": sum(drawn) / local if drawn else None,
                    }
                )
        if rank == 0:
            import json

            Path(out).write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


def section_torch_dtensor(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import torch.multiprocessing as mp

    quick = cfg["reps"] == 1
    shapes = [[512, 512]] if quick else [[1024, 1024], [4096, 4096]]
    rounds = 1 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        log(f"torch_dtensor: {WORLD} gloo ranks, shapes {shapes}")
        mp.spawn(_worker, args=(str(Path(tmp) / "store"), str(out), shapes, rounds), nprocs=WORLD)
        import json

        cases = json.loads(out.read_text())
    pairs = {
        "ours he_normal_ / torch trunc_normal_": ("ours he_normal_", "torch trunc_normal_"),
        "ours untruncated / torch kaiming_normal_": (
            "ours he_normal_ untruncated",
            "torch kaiming_normal_",
        ),
        "ours sharded / ours plain full tensor": (
            "ours he_normal_",
            "ours he_normal_ plain full tensor",
        ),
    }
    for case in cases:
        t = case["times"]
        case["ratios"] = {
            label: t[a]["median_s"] / t[b]["median_s"] if a in t and b in t else None
            for label, (a, b) in pairs.items()
        }
    return {"world_size": WORLD, "threads_per_rank": 1, "cases": cases}


def table(sec: dict[str, Any], table_fn: Any) -> str:
    labels = [
        "ours he_normal_ / torch trunc_normal_",
        "ours untruncated / torch kaiming_normal_",
        "ours sharded / ours plain full tensor",
    ]
    headers = ["shape", "placement", "ours ms", "trunc_normal_ ms", *labels, "drawn/shard"]
    rows = []
    for c in sec.get("cases", []):
        t = c["times"]

        def ms(name: str, t: dict[str, Any] = t) -> str:
            return f"{t[name]['median_s'] * 1e3:.1f}" if name in t else "error"

        row = ["x".join(map(str, c["shape"])), c["placement"]]
        row += [ms("ours he_normal_"), ms("torch trunc_normal_")]
        row += ["-" if c["ratios"][k] is None else f"{c['ratios'][k]:.2f}" for k in labels]
        drawn = c.get("drawn_over_local")
        row.append("-" if drawn is None else f"{drawn:.2f}")
        rows.append(row)
    return table_fn(headers, rows)
