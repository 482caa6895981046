"""The processes of tests/test_torch_dtensor.py: one gloo group of 4 CPU ranks runs every case.

Not a test module (pytest does not collect it): test_torch_dtensor.py spawns ``main`` in 4
processes (torch.multiprocessing, a FileStore, no torchrun) and reads what rank 0 saves.

Every rank builds the meshes of sizes 1 ([0]), 2 ([0, 1]) and 4, and a 2 x 2 mesh; a rank
outside a mesh skips its cases.  For each case -- an initializer, a shape and dtype, a mesh
and its placements -- every rank of the mesh fills a DTensor from a generator seeded alike
and fills a plain tensor of the full shape from another generator seeded alike; then

* ``local``: the rank's shard equals the plain tensor's part at the shard's place (from
  torch's compute_local_shape_and_global_offset), bit for bit;
* ``state``: both generators end in the same state (the call advances it as the plain one);
* ``full``: full_tensor() (an all-gather) equals the plain tensor, bit for bit (rank 0);
* ``drawn``: how many tile values the rank drew (None for torch-stream laws), and ``local_numel``.

Models: fully_shard (FSDP2) and parallelize_module (TP) on a small model, every parameter
initialized in order from one generator, against the same model unsharded.  Rank 0 also keeps
three gathered 2^20-value tensors for the law tests.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

SEED = 20260517
LAW_SHAPE = (1024, 1024)


def _load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("initref_dtensor_torch_init", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _initializers(ti: Any) -> dict[str, tuple[Callable[..., Any], tuple[int, ...], torch.dtype]]:
    """name -> (fill(tensor, generator), shape, dtype)."""
    inf = math.inf
    matrix, conv = (300, 520), (300, 64, 3, 3)  # tiles of 256 x 256: ragged, uneven shards
    return {
        "he_normal_": (lambda t, g: ti.he_normal_(t, generator=g), matrix, torch.float32),
        "he_normal_[conv]": (lambda t, g: ti.he_normal_(t, generator=g), conv, torch.float32),
        "he_normal_[one tile]": (  # 3 rows over 4 ranks: one empty shard
            lambda t, g: ti.he_normal_(t, generator=g),
            (3, 40),
            torch.float32,
        ),
        "he_normal_[bfloat16]": (
            lambda t, g: ti.he_normal_(t, generator=g),
            matrix,
            torch.bfloat16,
        ),
        "he_normal_[untruncated]": (
            lambda t, g: ti.he_normal_(t, distribution="untruncated_normal", generator=g),
            matrix,
            torch.float32,
        ),
        "he_uniform_": (lambda t, g: ti.he_uniform_(t, generator=g), conv, torch.float32),
        "glorot_normal_[-1,3]": (
            lambda t, g: ti.glorot_normal_(t, lower=-1.0, upper=3.0, generator=g),
            matrix,
            torch.float64,
        ),
        "lecun_uniform_": (lambda t, g: ti.lecun_uniform_(t, generator=g), matrix, torch.float32),
        "truncated_normal_[3,4]": (
            lambda t, g: ti.truncated_normal_(t, std=0.02, lower=3.0, upper=4.0, generator=g),
            matrix,
            torch.float32,
        ),
        "truncated_normal_[-0.5,0.5]": (
            lambda t, g: ti.truncated_normal_(t, std=0.02, lower=-0.5, upper=0.5, generator=g),
            conv,
            torch.float32,
        ),
        "truncated_normal_[2,inf)": (
            lambda t, g: ti.truncated_normal_(t, std=1.0, lower=2.0, upper=inf, generator=g),
            (70000,),
            torch.float32,
        ),
        "truncated_normal_[0,1e-9]": (  # sampled as a uniform
            lambda t, g: ti.truncated_normal_(t, std=1.0, lower=0.0, upper=1e-9, generator=g),
            matrix,
            torch.float64,
        ),
        "variance_scaling_[fan_avg]": (
            lambda t, g: ti.variance_scaling_(t, scale=2.0, mode="fan_avg", generator=g),
            conv,
            torch.float16,
        ),
        "orthogonal_": (lambda t, g: ti.orthogonal_(t, generator=g), matrix, torch.float32),
        "delta_orthogonal_": (
            lambda t, g: ti.delta_orthogonal_(t, generator=g),
            (96, 64, 3, 3),
            torch.float32,
        ),
        "complex_variance_scaling_": (
            lambda t, g: ti.complex_variance_scaling_(t, generator=g),
            matrix,
            torch.complex64,
        ),
        "complex_variance_scaling_[uniform]": (
            lambda t, g: ti.complex_variance_scaling_(t, distribution="uniform", generator=g),
            (70, 1000),
            torch.complex128,
        ),
    }


class _DrawCounter:
    """Counts the values of the tiles a rank draws (wraps the module's _tiles)."""

    def __init__(self, ti: Any) -> None:
        self.values: int | None = None
        original = ti._tiles

        def counted(*args: Any) -> Any:
            tiles = original(*args)
            drawn = sum((rb - ra) * (cb - ca) for _, ra, rb, ca, cb in tiles)
            self.values = drawn if self.values is None else self.values + drawn
            return tiles

        ti._tiles = counted


def _zeros(shape: tuple[int, ...], dtype: torch.dtype, mesh: Any, placements: list[Any]) -> Any:
    """A DTensor of zeros built from its local shards (no communication)."""
    from torch.distributed.tensor import DTensor
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    local_shape, _ = compute_local_shape_and_global_offset(shape, mesh, placements)
    stride = torch.empty(shape, device="meta").stride()
    local = torch.zeros(local_shape, dtype=dtype)
    return DTensor.from_local(
        local, mesh, placements, run_check=False, shape=torch.Size(shape), stride=stride
    )


def _plain_part(full: torch.Tensor, dtensor: Any) -> torch.Tensor:
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    shape, offset = compute_local_shape_and_global_offset(
        dtensor.shape, dtensor.device_mesh, dtensor.placements
    )
    return full[tuple(slice(o, o + s) for o, s in zip(offset, shape, strict=True))]


def _full(dtensor: Any) -> torch.Tensor:
    """full_tensor(); 16-bit floats gathered as float32 (exact), as gloo has no bfloat16."""
    if dtensor.dtype in (torch.float16, torch.bfloat16):
        return dtensor.to(torch.float32).full_tensor().to(dtensor.dtype)
    return dtensor.full_tensor()


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def _run_case(
    ti: Any,
    counter: _DrawCounter,
    fill: Callable[..., Any],
    shape: tuple[int, ...],
    dtype: torch.dtype,
    mesh: Any,
    placements: list[Any],
    rank: int,
    seed: int,
) -> dict[str, Any]:
    plain = torch.empty(shape, dtype=dtype)
    g_plain = torch.Generator().manual_seed(seed)
    fill(plain, g_plain)
    dtensor = _zeros(shape, dtype, mesh, placements)
    g = torch.Generator().manual_seed(seed)
    counter.values = None
    out = fill(dtensor, g)
    local = dtensor.to_local()
    result = {
        "returned": out is dtensor,
        "local": _same(local, _plain_part(plain, dtensor)),
        "state": torch.equal(g.get_state(), g_plain.get_state()),
        "drawn": counter.values,
        "local_numel": local.numel(),
        "numel": plain.numel(),
    }
    full = _full(dtensor)
    if rank == 0:
        result["full"] = _same(full, plain)
    return result


def _layouts(meshes: dict[str, Any], ndim: int) -> list[tuple[str, Any, list[Any]]]:
    from torch.distributed.tensor import Replicate, Shard

    out = [
        ("mesh1 Shard(0)", meshes["1"], [Shard(0)]),
        ("mesh1 Replicate", meshes["1"], [Replicate()]),
        ("mesh4 Replicate", meshes["4"], [Replicate()]),
    ]
    for size in ("2", "4"):
        out.append((f"mesh{size} Shard(0)", meshes[size], [Shard(0)]))
        if ndim >= 2:
            out.append((f"mesh{size} Shard(1)", meshes[size], [Shard(1)]))
    if ndim >= 2:
        out.append(("mesh2x2 Shard(0),Shard(1)", meshes["2x2"], [Shard(0), Shard(1)]))
        out.append(("mesh2x2 Shard(1),Shard(1)", meshes["2x2"], [Shard(1), Shard(1)]))
    if ndim >= 3:
        out.append(("mesh4 Shard(2)", meshes["4"], [Shard(2)]))  # 3 over 4: one rank empty
    return out


def _model_cases(ti: Any, meshes: dict[str, Any], rank: int) -> dict[str, dict[str, Any]]:
    """FSDP2 and TP: every parameter of a small model initialized from one generator."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(520, 300), torch.nn.ReLU(), torch.nn.Linear(300, 520)
        )

    def init(model: torch.nn.Module, g: torch.Generator) -> None:
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                if name.startswith("0"):
                    ti.he_normal_(p, generator=g)
                else:
                    ti.orthogonal_(p, generator=g)
            else:
                ti.truncated_normal_(p, std=0.02, generator=g)

    out: dict[str, dict[str, Any]] = {}
    reference = build()
    init(reference, torch.Generator().manual_seed(SEED))
    expected = dict(reference.named_parameters())
    for size in ("2", "4"):
        mesh = meshes[size]
        if mesh.get_coordinate() is None:
            continue
        for kind in ("fully_shard", "parallelize_module"):
            model = build()
            if kind == "fully_shard":
                fully_shard(model, mesh=mesh)
            else:
                parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
            init(model, torch.Generator().manual_seed(SEED))
            for name, p in model.named_parameters():
                full = p.full_tensor()
                key = f"{kind} mesh{size} {name} {tuple(p.placements)}"
                out[key] = {"full": _same(full, expected[name].detach())} if rank == 0 else {}
    return out


def main(rank: int, world: int, store_path: str, module_path: str, out_path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", store=dist.FileStore(store_path, world), rank=rank, world_size=world
    )
    try:
        from torch.distributed.device_mesh import DeviceMesh

        ti = _load(module_path)
        counter = _DrawCounter(ti)
        meshes = {
            "1": DeviceMesh("cpu", [0]),
            "2": DeviceMesh("cpu", [0, 1]),
            "4": DeviceMesh("cpu", [0, 1, 2, 3]),
            "2x2": DeviceMesh("cpu", [[0, 1], [2, 3]]),
        }
        results: dict[str, dict[str, Any]] = {}
        for name, (fill, shape, dtype) in _initializers(ti).items():
            for label, mesh, placements in _layouts(meshes, len(shape)):
                if mesh.get_coordinate() is None:
                    continue
                results[f"{name} {shape} {label}"] = _run_case(
                    ti, counter, fill, shape, dtype, mesh, placements, rank, SEED
                )
        # the global generator, seeded alike on every rank
        from torch.distributed.tensor import Shard

        def global_fill(t: torch.Tensor, g: torch.Generator) -> Any:
            torch.manual_seed(SEED + 1)
            return ti.he_normal_(t)

        results["he_normal_ global generator mesh4 Shard(1)"] = _run_case(
            ti, counter, global_fill, (300, 520), torch.float32, meshes["4"], [Shard(1)], rank, 0
        )
        # a layout without a box (as _StridedShard would be): the whole tensor, redistributed
        box, ti._shard_box = ti._shard_box, lambda *args: None
        results["he_normal_ (300, 520) mesh4 Shard(1), no box"] = _run_case(
            ti, counter, _initializers(ti)["he_normal_"][0], (300, 520), torch.float32,
            meshes["4"], [Shard(1)], rank, SEED,
        )  # fmt: skip
        ti._shard_box = box
        # large aligned shards: a rank draws exactly its shard
        for dim in (0, 1):
            results[f"he_normal_ (2048, 1024) mesh4 Shard({dim}) aligned"] = _run_case(
                ti, counter, _initializers(ti)["he_normal_"][0], (2048, 1024), torch.float32,
                meshes["4"], [Shard(dim)], rank, SEED,
            )  # fmt: skip
        results.update(_model_cases(ti, meshes, rank))
        # gathered tensors for the law tests
        laws: dict[str, torch.Tensor] = {}
        for law, law_fill, placements in [
            ("he_normal_ Shard(1)", lambda t, g: ti.he_normal_(t, generator=g), [Shard(1)]),
            (
                "truncated_normal_[3,4] Shard(0)",
                lambda t, g: ti.truncated_normal_(t, std=1.0, lower=3.0, upper=4.0, generator=g),
                [Shard(0)],
            ),
        ]:
            dtensor = _zeros(LAW_SHAPE, torch.float32, meshes["4"], placements)
            law_fill(dtensor, torch.Generator().manual_seed(SEED + 2))
            laws[law] = dtensor.full_tensor()
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, results)
        if rank == 0:
            torch.save({"ranks": gathered, "laws": laws}, out_path)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover - for running the cases by hand
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        module = str(Path(__file__).resolve().parent.parent / "generated" / "torch_init.py")
        out = str(Path(tmp) / "out.pt")
        mp.spawn(main, args=(4, store, module, out), nprocs=4)
        print(torch.load(out, weights_only=False)["ranks"][0])
