"""generated/torch_init.py's batched path (the one CUDA tensors take): law, bounds, determinism,
host syncs.

CI has no GPU, so the checks run on two devices:

* ``cpu-batched``: the same code on CPU tensors, forced by adding "cpu" to
  ``_BATCHED_DEVICE_TYPES`` (the default CPU path is the chunked one); always runs.
* ``cuda``: on the GPU with a CUDA generator; skipped without a CUDA device.

Bands (tests/stats.py): the draws are N(0, sigma^2) truncated to [lower sigma, upper sigma] with
sigma = 1 / s(lower, upper) as the module computes it, n = 2^21 per case.

* float32, float64: x / sigma against the exact truncated law (moments at 50 digits from
  derive.maths.truncnorm): KS on the first 2^17 draws, p > 1e-4; mean and variance |z| < 6
  with the variance's standard error sqrt((gamma_2 + 2) / n) from the law's excess kurtosis.
* bfloat16, float16: the values are round(X), X the float32 draw, so the law is discrete: every
  representable y in the interval has the probability of its rounding bucket under the exact
  truncated law.  KS against that discrete CDF (the continuous KS p-value is conservative
  for a discrete law), and z-tests against its exact mean, variance and kurtosis.
* Power: a 1% error in the std moves the variance by 2.01%; at n = 2^21 that is an expected
  |z| >= 10.5 in every case (the largest kurtosis, [12, 13], gives the smallest), so the check
  misses it with probability < 1e-5; each case also shows that its own draws scaled by 1.01
  fail the check.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import stats

from derive.maths.truncnorm import truncnorm_moments as exact_moments
from tests.conftest import load_generated, require
from tests.stats import Z_BAND, basic_sanity, ks_pvalue, moment_z, truncnorm_cdf

INF = math.inf
N_Z = 2**21
N_KS = 2**17
POWER_STD_ERROR = 0.01

# the cutoffs of issue 11, in units of the underlying normal's std
CUTOFFS = [
    (-2.0, 2.0),
    (-1.0, 1.0),
    (-1.0, 3.0),
    (2.0, INF),
    (-INF, -5.0),
    (3.0, 4.0),
    (5.0, 6.0),
    (8.0, 9.0),
    (12.0, 13.0),
    (-0.1, 0.1),
]
DTYPES = ["float32", "float64", "bfloat16", "float16"]


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - require() fails or skips in the fixtures
        return False
    return bool(torch.cuda.is_available())


CUDA = _cuda_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device")
DEVICES = ["cpu-batched", pytest.param("cuda", marks=needs_cuda)]

# torch functions that read a tensor back to the host (a sync on CUDA): values, and outputs
# whose size depends on the data (boolean-mask indexing too, checked separately)
HOST_READS = frozenset(
    {
        "item",
        "tolist",
        "__bool__",
        "__float__",
        "__int__",
        "__index__",
        "numpy",
        "cpu",
        "nonzero",
        "masked_select",
        "unique",
        "unique_consecutive",
        "bincount",
        "repeat_interleave",
    }
)


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return require("torch")


@pytest.fixture(scope="module")
def ti(torch: ModuleType) -> ModuleType:
    return load_generated("torch_init")


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest, ti: ModuleType, monkeypatch: pytest.MonkeyPatch) -> str:
    """The device to sample on, with the batched path switched on for it."""
    if request.param == "cpu-batched":
        monkeypatch.setattr(ti, "_BATCHED_DEVICE_TYPES", ("cuda", "cpu"))
        return "cpu"
    return "cuda"


def _id(cutoffs: tuple[float, float]) -> str:
    return f"[{cutoffs[0]:g},{cutoffs[1]:g}]"


def _draw(
    torch: ModuleType,
    ti: ModuleType,
    device: str,
    cutoffs: tuple[float, float],
    dtype: str,
    n: int,
    seed: int,
) -> tuple[Any, float]:
    """n draws with std 1 after truncation on the batched path; (tensor, sigma)."""
    lower, upper = cutoffs
    t = torch.empty(n, dtype=getattr(torch, dtype), device=device)
    assert ti._takes_batched_path(t)
    g = torch.Generator(device=device).manual_seed(seed)
    out = ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=g)
    assert out is t
    return t, 1.0 / ti.truncnorm_moments(lower, upper)[1]


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().double().numpy()


@cache
def _exact(lower: float, upper: float) -> tuple[float, float, float]:
    """(mean, std, excess kurtosis) of N(0, 1) truncated to [lower, upper], 50 digits."""
    m = exact_moments(str(lower), str(upper))
    return float(m.mean), float(m.std), float(m.excess_kurtosis)


@cache
def _representable(dtype: str) -> np.ndarray:
    """Every finite value of a 16-bit float dtype, sorted, as float64 (+-0 merged)."""
    torch = require("torch")
    bits = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16)
    values = bits.view(getattr(torch, dtype)).double().numpy()
    return np.unique(values[np.isfinite(values)])


@cache
def _rounded_law(
    dtype: str, lower: float, upper: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """(support, probabilities) of round_dtype(sigma X), X ~ N(0, 1) truncated to [lower,
    upper]: each representable y gets the exact mass of its rounding bucket (between the
    midpoints to its neighbours) inside the interval."""
    grid = _representable(dtype)
    mid = (grid[1:] + grid[:-1]) / 2.0
    below = np.concatenate(([-INF], mid)) / sigma
    above = np.concatenate((mid, [INF])) / sigma
    p = truncnorm_cdf(above, lower, upper) - truncnorm_cdf(below, lower, upper)
    keep = p > 0.0
    return grid[keep], p[keep] / p[keep].sum()


def _discrete_moments(support: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.dot(p, support))
    d = support - mean
    var = float(np.dot(p, d * d))
    return mean, math.sqrt(var), float(np.dot(p, d**4)) / var**2 - 3.0


def _discrete_ks_pvalue(x: np.ndarray, support: np.ndarray, p: np.ndarray) -> float:
    """KS distance between the sample's CDF and a discrete CDF (both step functions jumping
    at the support points); the continuous null distribution makes the p-value conservative."""
    x = np.sort(x)
    assert np.isin(x, support).all(), "a value outside the law's support"
    ecdf = np.searchsorted(x, support, side="right") / x.size
    d = float(np.max(np.abs(ecdf - np.cumsum(p))))
    return float(stats.kstwo.sf(d, x.size))


# ---------------------------------------------------------------------------
# The law, the bounds and the power of the checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cutoffs", CUTOFFS, ids=_id)
def test_batched_path_draws_the_exact_truncated_law_within_the_bounds(
    torch: ModuleType, ti: ModuleType, device: str, cutoffs: tuple[float, float], dtype: str
) -> None:
    lower, upper = cutoffs
    t, sigma = _draw(torch, ti, device, cutoffs, dtype, N_Z, seed=20251)
    assert t.dtype == getattr(torch, dtype) and t.device.type == device
    x = _numpy(t)
    # the bounds, rounded as the sampler rounds them (float32 or float64, then the dtype)
    work = torch.float64 if dtype == "float64" else torch.float32
    lo, hi = (float(torch.tensor(v * sigma, dtype=work).to(t.dtype)) for v in (lower, upper))
    assert np.isfinite(x).all() and lo <= x.min() and x.max() <= hi, (x.min(), x.max())
    if dtype in ("float32", "float64"):
        mean, std, kurt = _exact(lower, upper)
        z = x / sigma
        basic_sanity(t[:N_KS].cpu().numpy(), lower, upper, scale=sigma)
        p_ks = ks_pvalue(z[:N_KS], lower, upper)
    else:
        support, p = _rounded_law(dtype, lower, upper, sigma)
        mean, std, kurt = _discrete_moments(support, p)
        z = x
        p_ks = _discrete_ks_pvalue(x[:N_KS], support, p)
    assert p_ks > 1e-4, f"KS p = {p_ks:.2e}"
    check = moment_z(z, mean, std, kurt)
    assert check.ok, check
    # power: a 1% std error is an expected |z| >= 10 here, and these draws scaled show it
    shift = (1.0 + POWER_STD_ERROR) ** 2 - 1.0
    assert shift / math.sqrt((kurt + 2.0) / N_Z) >= Z_BAND + 4.0
    wrong = moment_z(z * (1.0 + POWER_STD_ERROR), mean * (1.0 + POWER_STD_ERROR), std, kurt)
    assert abs(wrong.z_var) > Z_BAND, wrong


def test_low_precision_reference_law_is_the_continuous_one_rounded(ti: ModuleType) -> None:
    """The discrete reference is right: its moments approach the continuous ones where the
    grid is fine (float16 at +-2) and its mass sums to the interval's."""
    lower, upper = -2.0, 2.0
    sigma = 1.0 / ti.truncnorm_moments(lower, upper)[1]
    support, p = _rounded_law("float16", lower, upper, sigma)
    mean, std, _ = _discrete_moments(support, p)
    _, exact_std, _ = _exact(lower, upper)
    assert abs(mean) < 1e-12 and abs(std / (sigma * exact_std) - 1.0) < 1e-6


# ---------------------------------------------------------------------------
# Refills, flags, redone chunks, many chunks
# ---------------------------------------------------------------------------

REFILL_CASES = [((-2.0, 2.0), "float32"), ((-0.1, 0.1), "float64"), ((3.0, 4.0), "bfloat16")]


def _ks_ok(t: Any, cutoffs: tuple[float, float], sigma: float) -> bool:
    x = _numpy(t)
    lower, upper = cutoffs
    if t.dtype.itemsize == 2:
        dtype = str(t.dtype).removeprefix("torch.")
        support, p = _rounded_law(dtype, lower, upper, sigma)
        return _discrete_ks_pvalue(x, support, p) > 1e-4
    return ks_pvalue(x / sigma, lower, upper) > 1e-4


@pytest.mark.parametrize(("cutoffs", "dtype"), REFILL_CASES, ids=str)
def test_many_chunks_keep_the_law_and_still_sync_once(
    torch: ModuleType,
    ti: ModuleType,
    device: str,
    monkeypatch: pytest.MonkeyPatch,
    cutoffs: tuple[float, float],
    dtype: str,
) -> None:
    monkeypatch.setattr(ti, "_BATCH_MIN_BYTES", 0)
    monkeypatch.setattr(ti, "_BATCH_FRACTION", 1e-3)
    monkeypatch.setattr(ti, "_BATCH_MIN_CHUNK", 1000)
    with _HostReads() as reads:
        t, sigma = _draw(torch, ti, device, cutoffs, dtype, N_KS, seed=7)
    assert reads.chunks() > 100  # 2^17 values in chunks of about 1000
    assert reads.count == ti._SYNCS_PER_CALL, reads.names
    assert _ks_ok(t, cutoffs, sigma)


@pytest.mark.parametrize("short", ["capacity", "pool"])
@pytest.mark.parametrize(("cutoffs", "dtype"), REFILL_CASES, ids=str)
def test_flagged_chunks_are_redone_and_keep_the_law(
    torch: ModuleType,
    ti: ModuleType,
    device: str,
    monkeypatch: pytest.MonkeyPatch,
    cutoffs: tuple[float, float],
    dtype: str,
    short: str,
) -> None:
    """A capacity below the expected rejected count (3 sd below it), or a pool of one
    candidate, flags most chunks; each is redone by the round-based path, and the law is
    still exact."""
    monkeypatch.setattr(ti, "_BATCH_MIN_BYTES", 0)
    monkeypatch.setattr(ti, "_BATCH_FRACTION", 1e-2)
    monkeypatch.setattr(ti, "_BATCH_MIN_CHUNK", 1000)
    if short == "capacity":
        monkeypatch.setattr(ti, "_BATCH_SIGMAS", -3.0)
        monkeypatch.setattr(ti, "_BATCH_SLACK", 0)
    else:
        sizes = ti._batch_sizes
        monkeypatch.setattr(ti, "_batch_sizes", lambda n, p: (sizes(n, p)[0], 1))
    redone = _count_calls(monkeypatch, ti._Sampler, "fill")
    t, sigma = _draw(torch, ti, device, cutoffs, dtype, N_KS, seed=8)
    assert redone() > 10
    assert _ks_ok(t, cutoffs, sigma)


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> Callable[[], int]:
    original = getattr(owner, name)
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return lambda: calls[0]


def test_chunk_capacity_and_pool_fall_short_less_than_once_in_1e11(ti: ModuleType) -> None:
    """_batch_sizes' claim, against the exact binomial tails: the rejected count reaches the
    capacity with probability < 2e-12 and the pool has fewer accepted than the capacity with
    probability < 1e-16, for chunk sizes 1 .. 2^30 and acceptances 1/2 .. 1."""
    worst_capacity = worst_pool = 0.0
    for count in [1, 2, 5, 17, 50, 300, 10**3, 10**4, 10**5, 10**6, 10**8, 2**30]:
        for p in [0.5, 0.55, 1.0 - math.exp(-1.0), 0.683, 0.8, 0.954, 0.99, 0.9999, 1.0]:
            capacity, pool = ti._batch_sizes(count, p)
            assert 1 <= capacity <= count and pool >= capacity
            if capacity < count:  # R >= capacity flags the chunk
                worst_capacity = max(worst_capacity, stats.binom.sf(capacity - 1, count, 1 - p))
            worst_pool = max(worst_pool, stats.binom.cdf(capacity - 1, pool, p))
    assert worst_capacity < 2e-12 and worst_pool < 1e-16, (worst_capacity, worst_pool)


# ---------------------------------------------------------------------------
# Host syncs
# ---------------------------------------------------------------------------


class _HostReads:
    """Records every torch function called inside the block (a TorchFunctionMode); ``count``
    is the number that read a tensor back to the host, a device-to-host sync on CUDA."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.all: list[str] = []
        self._mode: Any = None

    def __enter__(self) -> _HostReads:
        from torch.overrides import TorchFunctionMode

        recorder = self

        class Mode(TorchFunctionMode):
            def __torch_function__(
                self,
                func: Any,
                types: Any,
                args: tuple[Any, ...] = (),
                kwargs: dict[str, Any] | None = None,
            ) -> Any:
                name = getattr(func, "__name__", str(func))
                recorder.all.append(name)
                bool_index = name == "__getitem__" and any(
                    getattr(a, "dtype", None) is not None and str(a.dtype) == "torch.bool"
                    for a in _flatten(args[1:])
                )
                if name in HOST_READS or bool_index:
                    recorder.names.append(name)
                return func(*args, **(kwargs or {}))

        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mode.__exit__(*exc)

    @property
    def count(self) -> int:
        return len(self.names)

    def chunks(self) -> int:
        return self.all.count("nonzero_static") // 2


def _flatten(items: Any) -> Iterator[Any]:
    for item in items:
        if isinstance(item, tuple | list):
            yield from _flatten(item)
        else:
            yield item


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("cutoffs", [(-2.0, 2.0), (-0.1, 0.1), (3.0, 4.0), (2.0, INF)], ids=_id)
def test_a_call_reads_back_once_and_launches_the_same_work_for_every_size(
    torch: ModuleType,
    ti: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    cutoffs: tuple[float, float],
    dtype: str,
) -> None:
    """On CPU tensors forced onto the batched path: every call makes exactly _SYNCS_PER_CALL
    = 1 host read (the flags' tolist), no nonzero/item/bool; one chunk issues the same torch
    calls at n = 2^12 and 2^20, so nothing is per round or per value."""
    lower, upper = cutoffs
    monkeypatch.setattr(ti, "_BATCHED_DEVICE_TYPES", ("cuda", "cpu"))
    calls = []
    for n in (2**12, 2**20):
        t = torch.empty(n, dtype=getattr(torch, dtype))
        g = torch.Generator().manual_seed(3)
        ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=g)  # warm-up
        with _HostReads() as reads:
            ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=g)
        assert reads.names == ["tolist"] and reads.count == ti._SYNCS_PER_CALL
        calls.append(reads.all)
    assert calls[0] == calls[1]


def test_the_default_cpu_path_is_the_chunked_one(torch: ModuleType, ti: ModuleType) -> None:
    assert ti._BATCHED_DEVICE_TYPES == ("cuda",)
    assert not ti._takes_batched_path(torch.empty(4))


@needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("cutoffs", [(-2.0, 2.0), (3.0, 4.0), (8.0, 9.0), (2.0, INF)], ids=_id)
def test_cuda_steady_state_calls_sync_no_more_than_designed(
    torch: ModuleType, ti: ModuleType, cutoffs: tuple[float, float], dtype: str
) -> None:
    """torch.cuda.set_sync_debug_mode("warn") warns at every synchronizing CUDA operation;
    a steady-state call (after a warm-up) may cause _SYNCS_PER_CALL = 1 of them."""
    lower, upper = cutoffs
    t = torch.empty(2**22, dtype=getattr(torch, dtype), device="cuda")
    assert ti._takes_batched_path(t)
    g = torch.Generator(device="cuda").manual_seed(5)
    for _ in range(2):
        ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=g)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(3):
                ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=g)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) <= 3 * ti._SYNCS_PER_CALL, [str(w.message) for w in syncs]


@needs_cuda
def test_cuda_tensors_take_the_batched_path(torch: ModuleType, ti: ModuleType) -> None:
    assert ti._takes_batched_path(torch.empty(4, device="cuda"))


# ---------------------------------------------------------------------------
# Determinism and layouts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_same_generator_state_gives_the_same_tensor(
    torch: ModuleType, ti: ModuleType, device: str, dtype: str
) -> None:
    """Normal, uniform and exponential plans; the draws depend on the generator state, the
    size, the dtype and the cutoffs only."""
    for cutoffs in [(-2.0, 2.0), (-0.1, 0.1), (3.0, 4.0)]:
        a, _ = _draw(torch, ti, device, cutoffs, dtype, 50_000, seed=42)
        b, _ = _draw(torch, ti, device, cutoffs, dtype, 50_000, seed=42)
        c, _ = _draw(torch, ti, device, cutoffs, dtype, 50_000, seed=43)
        assert torch.equal(a, b) and not torch.equal(a, c), cutoffs


def test_non_contiguous_and_low_precision_tensors_are_filled_in_place(
    torch: ModuleType, ti: ModuleType, device: str
) -> None:
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        base = torch.zeros(64, 300, dtype=dtype, device=device)
        view = base.t()  # non-contiguous [300, 64]
        out = ti.he_normal_(
            view, lower=3.0, upper=4.0, generator=torch.Generator(device=device).manual_seed(1)
        )
        assert out is view and bool((base != 0).all())
        sigma = math.sqrt(2.0 / 64) / ti.truncnorm_moments(3.0, 4.0)[1]
        lo, hi = (float(torch.tensor(v * sigma).to(dtype)) for v in (3.0, 4.0))
        assert lo <= float(base.min()) and float(base.max()) <= hi


def test_tiny_tensors_are_filled(torch: ModuleType, ti: ModuleType, device: str) -> None:
    for n in (1, 2, 3, 17):
        for cutoffs in [(-2.0, 2.0), (8.0, 9.0), (-INF, INF)]:
            t, sigma = _draw(torch, ti, device, cutoffs, "float32", n, seed=n)
            x = _numpy(t) / sigma
            assert np.isfinite(x).all() and (x >= cutoffs[0]).all() and (x <= cutoffs[1]).all()
