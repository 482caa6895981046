"""generated/torch_init.py on DTensor parameters: the same bits on every mesh and placement as
the unsharded call, each rank drawing about its own shard, and the law on the gathered tensor.

One spawn of 4 CPU processes (gloo, a FileStore; tests/dtensor_worker.py runs every case) on
meshes of 1, 2 and 4 ranks and a 2 x 2 mesh: Shard(0), Shard(1), Shard(2), nested Shard(1)s,
Replicate, FSDP2's fully_shard and TP's parallelize_module.  Bit for bit is torch.equal.

Laws on the gathered 1024 x 1024 tensors (fixed seeds, tests/stats.py): KS against the exact
truncated CDF on the first 2^17 values (p > 1e-4) and mean and variance z-scores |z| < 6, the
variance's standard error sqrt((gamma_2 + 2) / n) from the law's excess kurtosis (moments at 50
digits); at n = 2^20 a 1% std error moves the variance z by >= 12, and each check shows that its
own draws scaled by 1.01 fail.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from derive.maths.truncnorm import truncnorm_moments as exact_moments
from tests.conftest import GENERATED, load_generated, require
from tests.stats import Z_BAND, ks_pvalue, moment_z

WORLD = 4


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return require("torch")


@pytest.fixture(scope="module")
def ti(torch: ModuleType) -> ModuleType:
    return load_generated("torch_init")


@pytest.fixture(scope="module")
def run(torch: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case on 4 ranks; rank 0's file: {"ranks": [results of each rank], "laws": ...}."""
    import torch.multiprocessing as mp

    from tests import dtensor_worker

    tmp = tmp_path_factory.mktemp("dtensor")
    out = tmp / "out.pt"
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    mp.spawn(
        dtensor_worker.main,
        args=(WORLD, str(tmp / "store"), str(GENERATED / "torch_init.py"), str(out)),
        nprocs=WORLD,
        join=True,
    )
    data: dict[str, Any] = torch.load(out, weights_only=False)
    return data


def _cases(run: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """case -> the results of the ranks that ran it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for results in run["ranks"]:
        for name, result in results.items():
            out.setdefault(name, []).append(result)
    return out


def test_every_initializer_fills_the_unsharded_bits_on_every_mesh_and_placement(
    run: dict[str, Any],
) -> None:
    cases = {k: v for k, v in _cases(run).items() if not k.startswith(("fully", "parallel"))}
    assert len(cases) >= 140, len(cases)
    bad = []
    for name, ranks in cases.items():
        size = 4 if "mesh4" in name or "mesh2x2" in name else int(name.split("mesh")[1][0])
        ok = len(ranks) == size and all(r["returned"] and r["local"] for r in ranks)
        if not (ok and [r["full"] for r in ranks if "full" in r] == [True]):
            bad.append(name)
    assert not bad, bad


def test_the_caller_generator_advances_as_in_the_unsharded_call(run: dict[str, Any]) -> None:
    """On every rank, including one whose shard is empty (Shard(2) of 3 over 4 ranks)."""
    cases = _cases(run)
    assert any(
        r["local_numel"] == 0 for name, rs in cases.items() for r in rs if "Shard(2)" in name
    )
    bad = [
        name for name, rs in cases.items() if "state" in rs[0] and not all(r["state"] for r in rs)
    ]
    assert not bad, bad


def test_fully_shard_and_parallelize_module_models_get_the_unsharded_parameters(
    run: dict[str, Any],
) -> None:
    cases = _cases(run)
    fsdp = [n for n in cases if n.startswith("fully_shard")]
    tp = [n for n in cases if n.startswith("parallelize_module")]
    assert len(fsdp) == len(tp) == 8, (fsdp, tp)  # 4 parameters on meshes of 2 and 4
    assert any("Shard(dim=1)" in n for n in tp) and any("Replicate" in n for n in tp)
    bad = [n for n in fsdp + tp if [r["full"] for r in cases[n] if "full" in r] != [True]]
    assert not bad, bad


def test_each_rank_draws_its_shard_and_at_most_the_tiles_it_shares(run: dict[str, Any]) -> None:
    """Aligned shards of a 2048 x 1024 tensor: exactly the shard.  Every Shard(0)/Shard(1)
    case: at most the shard plus one tile band (256 rows or columns of 256-value tiles) on
    each side; torch-stream laws (draws of the whole tensor) draw no tiles."""
    cases = _cases(run)
    for dim in (0, 1):
        ranks = cases[f"he_normal_ (2048, 1024) mesh4 Shard({dim}) aligned"]
        assert [r["drawn"] for r in ranks] == [r["local_numel"] for r in ranks] == [2**19] * 4
    for name in ("he_normal_ (300, 520) mesh4 Shard(1)", "he_normal_ (300, 520) mesh4 Shard(0)"):
        for r in cases[name]:
            rows_or_cols = 300 if "Shard(1)" in name else 520
            assert r["drawn"] <= r["local_numel"] + 2 * 256 * rows_or_cols, (name, r)
    for name, ranks in cases.items():
        if "untruncated" in name or "uniform_" in name or "orthogonal" in name:
            assert all(r["drawn"] is None for r in ranks), name


LAWS = {
    "he_normal_ Shard(1)": (-2.0, 2.0, math.sqrt(2.0 / 1024)),
    "truncated_normal_[3,4] Shard(0)": (3.0, 4.0, 1.0),
}


@pytest.mark.parametrize("law", sorted(LAWS))
def test_the_gathered_tensor_has_the_exact_truncated_law(
    run: dict[str, Any], ti: ModuleType, law: str
) -> None:
    lower, upper, std = LAWS[law]
    x = run["laws"][law].double().numpy().ravel()
    assert x.size == 2**20
    sigma = std / ti.truncnorm_moments(lower, upper)[1]
    z = x / sigma
    assert lower - 1e-6 <= z.min() and z.max() <= upper + 1e-6
    m = exact_moments(str(lower), str(upper))
    mean, s, kurtosis = float(m.mean), float(m.std), float(m.excess_kurtosis)
    assert ks_pvalue(z[: 2**17], lower, upper) > 1e-4
    check = moment_z(z, mean, s, kurtosis)
    assert check.ok, check
    shift = 1.01**2 - 1.0
    assert shift / math.sqrt((kurtosis + 2.0) / z.size) >= 2 * Z_BAND
    wrong = moment_z(z * 1.01, mean * 1.01, s, kurtosis)
    assert abs(wrong.z_var) > Z_BAND, wrong


# ---------------------------------------------------------------------------
# Geometry, without processes
# ---------------------------------------------------------------------------

SHAPES = [(300, 520), (300, 64, 3, 3), (70000,), (8, 100000), (1, 1), (5, 7, 11), (257, 255)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_the_tiles_cover_every_value_once(ti: ModuleType, shape: tuple[int, ...]) -> None:
    rows, cols = ti._matrix(shape)
    for values, width in ((ti._TILE_VALUES, ti._TILE_WIDTH), (1000, 16), (7, 3)):
        grid = ti._tile_grid(rows, cols, values, width)
        assert grid[0] * grid[1] <= max(values, 1) or grid == (1, 1) or grid[1] <= width
        seen = np.zeros((rows, cols), dtype=np.int64)
        tiles = ti._tiles(shape, (0, rows, 0, cols), grid)
        assert [t[0] for t in tiles] == sorted({t[0] for t in tiles})
        for _, ra, rb, ca, cb in tiles:
            seen[ra:rb, ca:cb] += 1
        assert (seen == 1).all(), (shape, grid)


@pytest.mark.parametrize("shape", [(300, 520), (300, 64, 3, 3), (7, 5, 3), (10,)], ids=str)
def test_shard_boxes_match_torchs_local_shapes_and_offsets(
    ti: ModuleType, shape: tuple[int, ...]
) -> None:
    require("torch")
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._utils import _compute_local_shape_and_global_offset

    layouts: list[tuple[tuple[int, ...], list[Any]]] = []
    for n in (1, 2, 3, 4, 7):
        layouts += [((n,), [Shard(d)]) for d in range(len(shape))] + [((n,), [Replicate()])]
    for d0 in range(len(shape)):
        for d1 in range(len(shape)):
            layouts.append(((2, 3), [Shard(d0), Shard(d1)]))
    for mesh_shape, placements in layouts:
        for flat in range(math.prod(mesh_shape)):
            coordinate = list(np.unravel_index(flat, mesh_shape))
            coordinate = [int(c) for c in coordinate]
            local, offset = _compute_local_shape_and_global_offset(
                shape, mesh_shape, coordinate, placements
            )
            box = ti._shard_box(shape, mesh_shape, coordinate, tuple(placements))
            expected = [(o, o + s) for o, s in zip(offset, local, strict=True)]
            sizes = [hi - lo for lo, hi in box]
            assert sizes == list(local), (shape, mesh_shape, placements, coordinate)
            assert all(b == e for b, e, s in zip(box, expected, sizes, strict=True) if s), (
                shape,
                mesh_shape,
                placements,
                coordinate,
            )


def test_the_plain_call_is_the_same_on_one_and_several_threads(
    torch: ModuleType, ti: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every plan, float32/float64/bfloat16 and complex: the bits and the caller's generator
    state do not depend on the thread count, though a tensor of several runs of tiles is
    drawn by that many Python threads (counted) -- under the caller's autograd mode: a
    parameter that requires grad, and an inference tensor under inference_mode."""
    import threading

    started = []
    start = threading.Thread.start

    def counted(self: threading.Thread) -> None:
        started.append(self)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    saved = torch.get_num_threads()
    cases = [
        ((-2.0, 2.0), torch.float32),
        ((-2.0, 2.0), torch.bfloat16),
        ((-1.0, 3.0), torch.float64),
        ((3.0, 4.0), torch.float32),
        ((-0.5, 0.5), torch.float32),
        ((2.0, math.inf), torch.float32),
        ((-1e-9, 1e-9), torch.float32),  # uniform to float64's resolution
    ]
    try:
        for (lower, upper), dtype in cases:
            out, states = [], []
            for threads in (1, 2, 5):
                torch.set_num_threads(threads)
                before = len(started)
                w = torch.nn.Parameter(torch.empty(700, 1100, dtype=dtype))
                g = torch.Generator().manual_seed(4)
                with pytest.warns(UserWarning) if upper < 0.1 else contextlib.nullcontext():
                    ti.he_normal_(w, lower=lower, upper=upper, generator=g)
                out.append(
                    w.detach().view(-1).view(torch.int16 if dtype == torch.bfloat16 else dtype)
                )
                states.append(g.get_state())
                # 700 x 1100 is three runs of tiles: helpers = min(threads, 3) - 1
                assert len(started) - before == min(threads, 3) - 1, (lower, upper, threads)
            for other, state in zip(out[1:], states[1:], strict=True):
                assert torch.equal(out[0], other), (lower, upper, dtype)
                assert torch.equal(states[0], state)
        complex_out = []
        for threads in (1, 3):
            torch.set_num_threads(threads)
            with torch.inference_mode():
                z = torch.empty(900, 1000, dtype=torch.complex64)
                ti.complex_variance_scaling_(z, generator=torch.Generator().manual_seed(2))
            complex_out.append(z)
        assert torch.equal(torch.view_as_real(complex_out[0]), torch.view_as_real(complex_out[1]))
    finally:
        torch.set_num_threads(saved)


def test_a_shard_drawn_alone_equals_its_part_of_the_plain_call(
    torch: ModuleType, ti: ModuleType
) -> None:
    """_fill_tiled_ on a box (what a rank does) against the plain call, without processes:
    boxes cutting tiles in both dims, bfloat16, the vectorized (normal) and per-tile plans."""
    shape = (700, 1100)
    for dtype, lower, upper in ((torch.float32, -2.0, 2.0), (torch.bfloat16, 3.0, 4.0)):
        plain = torch.empty(shape, dtype=dtype)
        ti.truncated_normal_(
            plain, std=1.0, lower=lower, upper=upper, generator=torch.Generator().manual_seed(8)
        )
        sigma = 1.0 / ti.truncnorm_moments(lower, upper)[1]
        plan = ti._Plan(lower, upper)
        seed = ti._call_seed(torch.Generator().manual_seed(8), torch.device("cpu"))
        grid = ti._tile_grid(*shape, ti._TILE_VALUES, ti._TILE_WIDTH)
        for box in ([(100, 613), (0, 1100)], [(0, 700), (300, 301)], [(255, 257), (511, 1100)]):
            local = torch.empty([hi - lo for lo, hi in box], dtype=dtype)
            part = ti._Part(local, shape, box, None)
            ti._fill_tiled_(
                part,
                seed,
                None,
                grid,
                torch.float32,
                (torch.float32,),
                ti._CHUNK,
                lambda plan=plan, sigma=sigma: ti._Sampler(plan, sigma, 0.0).fill_tiles,
            )
            assert torch.equal(local, plain[tuple(slice(lo, hi) for lo, hi in box)]), (dtype, box)


def test_a_group_of_tiles_refilled_in_many_rounds_equals_each_tile_drawn_alone(
    torch: ModuleType, ti: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fill_tiles (one mask, per-tile counts, refill rounds, one masked_scatter_ over the
    group) against fill_tile per tile, with refill pools cut to a third of what is missing so
    that every tile needs several rounds: the same bits, the same generator states, every
    value inside the bounds."""
    monkeypatch.setattr(ti._Sampler, "_refill_size", lambda self, want: max(1, want // 3))
    sizes = [65536, 65536, 1000, 65536, 7]
    for lower, upper in ((-2.0, 2.0), (-1.0, 3.0), (-0.5, 0.5), (3.0, 4.0)):
        plan = ti._Plan(lower, upper)
        group = torch.empty(sum(sizes))
        gens = [torch.Generator().manual_seed(100 + k) for k in range(len(sizes))]
        ti._Sampler(plan, 0.5, 0.25).fill_tiles(group, sizes, gens)
        start = 0
        for k, size in enumerate(sizes):
            alone = torch.empty(size)
            g = torch.Generator().manual_seed(100 + k)
            ti._Sampler(plan, 0.5, 0.25).fill_tile(alone, g)
            assert torch.equal(group[start : start + size], alone), (lower, upper, k)
            assert torch.equal(gens[k].get_state(), g.get_state()), (lower, upper, k)
            start += size
        lo, hi = 0.25 + 0.5 * lower, 0.25 + 0.5 * upper
        assert bool(((group >= lo) & (group <= hi)).all()), (lower, upper)


def test_the_design_is_stated_in_the_generated_file() -> None:
    text = Path(GENERATED / "torch_init.py").read_text("utf-8")
    for phrase in (
        "same bits",
        "SplitMix64",
        "_TILE_VALUES",
        "DTensor",
        "full tensor on every rank",
    ):
        assert phrase in text, phrase
