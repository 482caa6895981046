"""generated/torch_init.py: parity with torch.nn.init, distribution, moments, fans, bad input.

Statistical checks use fixed seeds and the bands of tests/stats.py (KS p > 1e-4 at n = 2**17;
|z| < 6 for mean and variance at n = 2**20, moments from derive.maths.truncnorm at 50 digits).
Parity with torch.nn.init is bit for bit (torch.equal).
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import special

from derive.maths.truncnorm import truncnorm_moments as exact_moments
from tests.conftest import GENERATED, ROOT, load_generated, require
from tests.stats import basic_sanity, ks_pvalue, moment_z, truncnorm_cdf

INF = math.inf
N_KS = 2**17
N_Z = 2**20
KS_SHAPE = (512, 256)  # 2**17 weights, fan_in 256
Z_SHAPE = (1024, 1024)  # 2**20 weights

# symmetric, asymmetric, one-sided and tail cutoffs, in units of the normal's std
KS_CUTOFFS = [
    (-2.0, 2.0),
    (-1.0, 1.0),
    (-0.5, 0.5),
    (-1.0, 3.0),
    (2.0, INF),
    (-INF, -5.0),
    (3.0, 4.0),
    (5.0, 6.0),
    (8.0, 9.0),
]


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return require("torch")


@pytest.fixture(scope="module")
def ti(torch: ModuleType) -> ModuleType:
    return load_generated("torch_init")


@cache
def _exact(lower: float, upper: float) -> tuple[float, float, float]:
    """(mean, std, excess kurtosis) of N(0, 1) truncated to [lower, upper], 50 digits."""
    m = exact_moments(str(lower), str(upper))
    return float(m.mean), float(m.std), float(m.excess_kurtosis)


def _id(cutoffs: tuple[float, float]) -> str:
    return f"[{cutoffs[0]:g},{cutoffs[1]:g}]"


def _gen(torch: ModuleType, seed: int) -> Any:
    return torch.Generator().manual_seed(seed)


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------------------
# Parity with torch.nn.init
# ---------------------------------------------------------------------------

PARITY_SHAPES = [(64, 32), (32, 16, 3, 3), (8, 4, 5), (16, 1, 3, 3, 3)]


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("shape", PARITY_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_untruncated_he_normal_equals_kaiming_normal_bit_for_bit(
    torch: ModuleType, ti: ModuleType, shape: tuple[int, ...], mode: str, dtype: str
) -> None:
    ours = torch.empty(shape, dtype=getattr(torch, dtype))
    theirs = torch.empty_like(ours)
    ti.he_normal_(ours, mode=mode, distribution="untruncated_normal", generator=_gen(torch, 7))
    torch.nn.init.kaiming_normal_(theirs, mode=mode, nonlinearity="relu", generator=_gen(torch, 7))
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("shape", PARITY_SHAPES, ids=str)
def test_he_uniform_equals_kaiming_uniform_bit_for_bit(
    torch: ModuleType, ti: ModuleType, shape: tuple[int, ...], mode: str
) -> None:
    ours, theirs = torch.empty(shape), torch.empty(shape)
    ti.he_uniform_(ours, mode=mode, generator=_gen(torch, 11))
    torch.nn.init.kaiming_uniform_(
        theirs, mode=mode, nonlinearity="relu", generator=_gen(torch, 11)
    )
    assert torch.equal(ours, theirs)


def test_parity_holds_under_the_global_generator(torch: ModuleType, ti: ModuleType) -> None:
    ours, theirs = torch.empty(128, 64), torch.empty(128, 64)
    torch.manual_seed(3)
    ti.he_normal_(ours, distribution="untruncated_normal")
    torch.manual_seed(3)
    torch.nn.init.kaiming_normal_(theirs, nonlinearity="relu")
    assert torch.equal(ours, theirs)


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
def test_torch_trunc_normal_refuses_a_one_sided_tail_that_ours_samples(
    torch: ModuleType, ti: ModuleType
) -> None:
    # torch 2.13 (pinned) draws uniform proposals on [a, b] and fails on b = inf
    with pytest.raises(RuntimeError):
        torch.nn.init.trunc_normal_(torch.empty(1000), 0.0, 1.0, 5.0, INF)
    t = ti.truncated_normal_(
        torch.empty(N_KS), std=1.0, lower=5.0, upper=INF, generator=_gen(torch, 5)
    )
    sigma = 1.0 / ti.truncnorm_moments(5.0, INF)[1]
    x = _numpy(t)
    basic_sanity(x, 5.0, INF, scale=sigma)
    assert ks_pvalue(x.astype(np.float64) / sigma, 5.0, INF) > 1e-4


# ---------------------------------------------------------------------------
# Distribution
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cutoffs", KS_CUTOFFS, ids=_id)
def test_truncated_normal_follows_the_exact_truncated_cdf(
    torch: ModuleType, ti: ModuleType, cutoffs: tuple[float, float], dtype: str
) -> None:
    lower, upper = cutoffs
    std = 0.05
    t = torch.empty(N_KS, dtype=getattr(torch, dtype))
    out = ti.truncated_normal_(t, std=std, lower=lower, upper=upper, generator=_gen(torch, 20240))
    assert out is t
    sigma = std / ti.truncnorm_moments(lower, upper)[1]  # as the module computes it
    x = _numpy(t)
    basic_sanity(x, lower, upper, scale=sigma)
    p = ks_pvalue(x.astype(np.float64) / sigma, lower, upper)
    assert p > 1e-4, f"KS p = {p:.2e} for {_id(cutoffs)} in {dtype}"


@pytest.mark.parametrize("cutoffs", [(-2.0, 2.0), (-1.0, 3.0), (3.0, 4.0), (-INF, -5.0)], ids=_id)
def test_he_normal_follows_the_exact_truncated_cdf_with_the_rule_sigma(
    torch: ModuleType, ti: ModuleType, cutoffs: tuple[float, float]
) -> None:
    lower, upper = cutoffs
    w = torch.empty(KS_SHAPE)
    ti.he_normal_(w, lower=lower, upper=upper, generator=_gen(torch, 99))
    # sigma from the exact 50-digit std, not from the module: the rule's sigma is checked too
    sigma = math.sqrt(2.0 / KS_SHAPE[1]) / _exact(lower, upper)[1]
    p = ks_pvalue(_numpy(w).astype(np.float64) / sigma, lower, upper)
    assert p > 1e-4, f"KS p = {p:.2e} for {_id(cutoffs)}"


def test_far_tails_fill_the_interval_in_float32(torch: ModuleType, ti: ModuleType) -> None:
    """An inverse-CDF sampler in float32 puts most of [5, 6] and all of [8, 9] on the lower
    bound; ours spreads over the interval: many distinct values, quantiles where they belong."""
    for lower, upper in [(5.0, 6.0), (8.0, 9.0), (-9.0, -8.0)]:
        t = torch.empty(N_KS, dtype=torch.float32)
        ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=_gen(torch, 8))
        sigma = 1.0 / ti.truncnorm_moments(lower, upper)[1]
        x = np.sort(_numpy(t).astype(np.float64) / sigma)
        # float32 has ~2**17 values per unit of sigma there: more than half distinct
        assert np.unique(x).size > N_KS // 2
        # the median of the truncated law, found by bisection on the exact CDF
        lo, hi = lower, upper
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (
                (mid, hi) if truncnorm_cdf(np.array([mid]), lower, upper)[0] < 0.5 else (lo, mid)
            )
        assert abs(x[N_KS // 2] - lo) < 0.01 * (upper - lower)


# ---------------------------------------------------------------------------
# Moments
# ---------------------------------------------------------------------------

Z_CASES = [
    ((-2.0, 2.0), "float32"),
    ((-2.0, 2.0), "float64"),
    ((-2.0, 2.0), "bfloat16"),
    ((-2.0, 2.0), "float16"),
    ((-0.5, 0.5), "float32"),
    ((-1.0, 3.0), "float64"),
    ((2.0, INF), "float32"),
    ((3.0, 4.0), "float16"),
    ((5.0, 6.0), "float32"),
]


@pytest.mark.parametrize(
    ("cutoffs", "dtype"), Z_CASES, ids=lambda v: v if isinstance(v, str) else _id(v)
)
def test_variance_scaling_has_the_exact_mean_and_std_after_truncation(
    torch: ModuleType, ti: ModuleType, cutoffs: tuple[float, float], dtype: str
) -> None:
    lower, upper = cutoffs
    w = torch.empty(Z_SHAPE, dtype=getattr(torch, dtype))
    ti.variance_scaling_(w, scale=2.0, lower=lower, upper=upper, generator=_gen(torch, 1234))
    assert w.dtype == getattr(torch, dtype)
    mean, std, kurt = _exact(lower, upper)
    wanted = math.sqrt(2.0 / Z_SHAPE[1])
    x = _numpy(w.double())
    check = moment_z(x, wanted * mean / std, wanted, kurt)
    assert check.ok, check
    # the helper states the same mean (a few ulps of the exact one)
    helper = ti.variance_scaling_mean(w, scale=2.0, lower=lower, upper=upper)
    assert helper == pytest.approx(wanted * mean / std, rel=4e-16, abs=1e-300)
    sigma = wanted / ti.truncnorm_moments(lower, upper)[1]
    if dtype in ("bfloat16", "float16"):  # too few values for basic_sanity's distinct count
        lo = torch.tensor(lower * sigma, dtype=w.dtype).item()
        hi = torch.tensor(upper * sigma, dtype=w.dtype).item()
        assert lo <= x.min() and x.max() <= hi
    else:
        basic_sanity(_numpy(w), lower, upper, scale=sigma)


def test_truncated_normal_mean_offsets_the_centre_and_the_helper_gives_the_expectation(
    torch: ModuleType, ti: ModuleType
) -> None:
    lower, upper, std, centre = -1.0, 3.0, 0.3, 5.0
    t = torch.empty(N_Z, dtype=torch.float64)
    ti.truncated_normal_(
        t, std=std, lower=lower, upper=upper, mean=centre, generator=_gen(torch, 4)
    )
    mean, s, kurt = _exact(lower, upper)
    expected = centre + std * mean / s
    assert ti.truncated_normal_mean(
        std=std, lower=lower, upper=upper, mean=centre
    ) == pytest.approx(expected, rel=4e-16)
    assert moment_z(_numpy(t), expected, std, kurt).ok
    sigma = std / s
    assert float(t.min()) >= centre + lower * sigma and float(t.max()) <= centre + upper * sigma


@pytest.mark.parametrize(
    ("rule", "scale", "fan"),
    [
        ("he_normal_", 2.0, "fan_in"),
        ("glorot_normal_", 1.0, "fan_avg"),
        ("lecun_normal_", 1.0, "fan_in"),
        ("he_uniform_", 2.0, "fan_in"),
        ("glorot_uniform_", 1.0, "fan_avg"),
        ("lecun_uniform_", 1.0, "fan_in"),
    ],
)
def test_named_rules_give_their_variance(
    torch: ModuleType, ti: ModuleType, rule: str, scale: float, fan: str
) -> None:
    w = torch.empty(2048, 512)  # fan_in 512, fan_out 2048, fan_avg 1280
    getattr(ti, rule)(w, generator=_gen(torch, 21))
    n = {"fan_in": 512, "fan_out": 2048, "fan_avg": 1280}[fan]
    wanted = math.sqrt(scale / n)
    if rule.endswith("uniform_"):
        kurt = -1.2  # U(-L, L)
        limit = math.sqrt(3.0) * wanted
        assert float(w.abs().max()) <= limit
    else:
        kurt = _exact(-2.0, 2.0)[2]
    assert moment_z(_numpy(w), 0.0, wanted, kurt).ok


@pytest.fixture(scope="module")
def he_weights(torch: ModuleType, ti: ModuleType) -> np.ndarray:
    w = torch.empty(Z_SHAPE)
    ti.he_normal_(w, generator=_gen(torch, 31))
    return _numpy(w).astype(np.float64)


def _he_check(x: np.ndarray, fan: int) -> Any:
    kurt = _exact(-2.0, 2.0)[2]
    return moment_z(x, 0.0, math.sqrt(2.0 / fan), kurt)


def test_he_normal_passes_the_moment_check(he_weights: np.ndarray) -> None:
    check = _he_check(he_weights, Z_SHAPE[1])
    assert check.ok, check


def test_moment_check_catches_a_one_percent_std_error(he_weights: np.ndarray) -> None:
    check = _he_check(he_weights * 1.01, Z_SHAPE[1])
    assert not check.ok and abs(check.z_var) > 6, check


def test_moment_check_catches_a_dropped_truncation_correction(
    torch: ModuleType, ti: ModuleType
) -> None:
    # what a hand-built He gets: N(0, 2 / fan) truncated at +-2 with no division by s(2)
    w = torch.empty(Z_SHAPE)
    sigma = math.sqrt(2.0 / Z_SHAPE[1])
    s2 = ti.truncnorm_moments(-2.0, 2.0)[1]
    ti.truncated_normal_(w, std=sigma * s2, generator=_gen(torch, 32))
    check = _he_check(_numpy(w).astype(np.float64), Z_SHAPE[1])
    assert not check.ok and check.z_var < -6, check


def test_moment_check_catches_swapped_fans(torch: ModuleType, ti: ModuleType) -> None:
    w = torch.empty(2048, 512)  # fan_in 512, fan_out 2048
    ti.he_normal_(w, mode="fan_out", generator=_gen(torch, 33))
    x = _numpy(w).astype(np.float64)
    assert _he_check(x, 2048).ok
    check = _he_check(x, 512)
    assert not check.ok and check.z_var < -6, check


# ---------------------------------------------------------------------------
# Sampler internals: plan, chunking, round limit
# ---------------------------------------------------------------------------


def _acceptances(lower: float, upper: float) -> dict[str, float]:
    """Acceptance of each proposal, from scipy (independent of the module's arithmetic)."""
    a, b = (lower, upper) if lower + upper >= 0 else (-upper, -lower)
    z = (
        float(special.ndtr(b) - special.ndtr(a))
        if a < 0
        else float(special.ndtr(-a) - special.ndtr(-b))
    )
    m = max(a, 0.0)
    lam = (a + math.sqrt(a * a + 4.0)) / 2.0
    out = {
        "normal": z,
        "exponential": z * math.sqrt(2 * math.pi) * lam * math.exp(lam * a - lam * lam / 2),
    }
    if math.isfinite(b):
        out["uniform"] = z / ((b - a) * math.exp(-m * m / 2) / math.sqrt(2 * math.pi))
    return out


def test_every_plan_accepts_at_least_half_and_takes_the_better_two_uniform_proposal(
    ti: ModuleType,
) -> None:
    """The normal proposal when Z >= 1/2 (one draw per candidate), else the better of the
    uniform and exponential ones (two draws each), which then accept >= 1 - 1/e."""
    edges = sorted({*np.round(np.linspace(-9.0, 9.0, 73), 6), -0.01, 0.01, -INF, INF})
    worst = {"normal": 1.0, "other": 1.0}
    for lower in edges:
        for upper in edges:
            if not lower < upper:
                continue
            plan = ti._Plan(lower, upper)
            acc = _acceptances(lower, upper)
            if acc["normal"] >= 0.5:
                assert plan.method == "normal", (lower, upper)
                worst["normal"] = min(worst["normal"], acc["normal"])
            else:
                best = max(acc["exponential"], acc.get("uniform", 0.0))
                assert acc[plan.method] == pytest.approx(best, rel=1e-9), (lower, upper)
                worst["other"] = min(worst["other"], best)
            assert plan.acceptance == pytest.approx(acc[plan.method], rel=1e-9, abs=1e-300)
    assert worst["normal"] >= 0.5 and worst["other"] >= 1.0 - math.exp(-1.0), worst


@pytest.mark.filterwarnings("ignore:lower=.* are in units of the std:UserWarning")  # near 0
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "cutoffs", [(0.0, 1e-9), (-1e-3, 1e-3), (30.0, 30.5), (25.5, INF), (-1001.0, -1000.0)], ids=_id
)
def test_extreme_cutoffs_sample_inside_the_interval_with_the_exact_mean(
    torch: ModuleType, ti: ModuleType, cutoffs: tuple[float, float], dtype: str
) -> None:
    lower, upper = cutoffs
    n = 1 << 14
    t = torch.empty(n, dtype=getattr(torch, dtype))
    ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=_gen(torch, 12))
    mean, std, _ = _exact(lower, upper)
    sigma = 1.0 / ti.truncnorm_moments(lower, upper)[1]
    x = _numpy(t)
    lo, hi = (np.asarray(v * sigma, dtype=x.dtype) for v in (lower, upper))
    assert np.all(np.isfinite(x)) and np.all(x >= lo) and np.all(x <= hi)
    # the sample mean of x / sigma, within 6 standard errors (plus float32 rounding of x)
    spacing = float(np.spacing(np.abs(x).max())) / sigma
    tolerance = 6 * std / math.sqrt(n) + spacing
    assert abs(float(np.mean(x.astype(np.float64))) / sigma - mean) <= tolerance


def test_many_chunks_and_refill_rounds_keep_the_law(
    torch: ModuleType, ti: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ti, "_CHUNK", 3000)  # 2**17 values in 44 chunks, the last partial
    for lower, upper in [(-2.0, 2.0), (-1.0, 1.0), (3.0, 4.0)]:
        t = torch.empty(N_KS)
        ti.truncated_normal_(t, std=1.0, lower=lower, upper=upper, generator=_gen(torch, 6))
        sigma = 1.0 / ti.truncnorm_moments(lower, upper)[1]
        x = _numpy(t)
        basic_sanity(x, lower, upper, scale=sigma)
        assert ks_pvalue(x.astype(np.float64) / sigma, lower, upper) > 1e-4


def test_a_sampler_that_gives_up_raises_runtime_error_naming_the_interval(
    torch: ModuleType, ti: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ti, "_MAX_ROUNDS", 0)
    with pytest.raises(RuntimeError, match=r"\[3\.0, 4\.0\]"):
        ti.truncated_normal_(
            torch.empty(10_000), std=1.0, lower=3.0, upper=4.0, generator=_gen(torch, 1)
        )


# ---------------------------------------------------------------------------
# Tensors: dtypes, layouts, generators, autograd
# ---------------------------------------------------------------------------


def test_non_contiguous_and_half_tensors_are_filled_in_place(
    torch: ModuleType, ti: ModuleType
) -> None:
    base = torch.zeros(64, 128)
    view = base.t()  # non-contiguous [128, 64]
    ti.he_normal_(view, generator=_gen(torch, 2))
    assert bool((base != 0).all())
    for dtype in (torch.float16, torch.bfloat16):
        w = torch.zeros(64, 128, dtype=dtype)
        out = ti.glorot_normal_(w, lower=-1.0, upper=3.0, generator=_gen(torch, 2))
        assert out is w and w.dtype == dtype and bool((w != 0).all())


def test_the_generator_reproduces_the_draws(torch: ModuleType, ti: ModuleType) -> None:
    for kwargs in ({}, {"lower": 3.0, "upper": 4.0}, {"lower": -0.5, "upper": 0.5}):
        a = ti.he_normal_(torch.empty(300, 200), generator=_gen(torch, 42), **kwargs)
        b = ti.he_normal_(torch.empty(300, 200), generator=_gen(torch, 42), **kwargs)
        c = ti.he_normal_(torch.empty(300, 200), generator=_gen(torch, 43), **kwargs)
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_parameters_that_require_grad_are_filled_without_recording_a_graph(
    torch: ModuleType, ti: ModuleType
) -> None:
    layer = torch.nn.Conv2d(8, 16, 3)
    out = ti.he_normal_(layer.weight, generator=_gen(torch, 1))
    assert out is layer.weight and out.grad_fn is None and out.requires_grad


def test_empty_and_meta_tensors_are_left_alone(torch: ModuleType, ti: ModuleType) -> None:
    assert ti.he_normal_(torch.empty(0, 5)).numel() == 0
    meta = torch.empty(16, 8, device="meta")
    assert ti.he_normal_(meta) is meta


def _zero_size_calls(torch: ModuleType, ti: ModuleType) -> list[tuple[str, Any]]:
    """Every filling function of the module, each with a zero-size tensor of a shape that
    would be refused if it held values (a zero fan, too few dimensions, in > out)."""
    real = [(0, 5), (5, 0), (0,), (3, 0, 2)]
    calls: list[tuple[str, Any]] = []
    for shape in real:
        for name in (
            "he_normal_",
            "he_uniform_",
            "glorot_normal_",
            "glorot_uniform_",
            "lecun_normal_",
            "lecun_uniform_",
            "variance_scaling_",
            "orthogonal_",
        ):
            fill = getattr(ti, name)
            calls.append((f"{name}{shape}", lambda f=fill, s=shape: f(torch.empty(s))))
        calls.append(
            (
                f"truncated_normal_{shape}",
                lambda s=shape: ti.truncated_normal_(torch.empty(s), std=1.0),
            )
        )
        for distribution in ("untruncated_normal", "uniform"):
            calls.append(
                (
                    f"variance_scaling_({distribution}){shape}",
                    lambda s=shape, d=distribution: ti.variance_scaling_(
                        torch.empty(s), distribution=d
                    ),
                )
            )
        calls.append(
            (
                f"complex_variance_scaling_{shape}",
                lambda s=shape: ti.complex_variance_scaling_(torch.empty(s, dtype=torch.complex64)),
            )
        )
    for shape in [(0, 4, 3), (4, 0, 3, 3), (2, 5, 0)]:  # (2, 5, 0): in > out
        calls.append(
            (f"delta_orthogonal_{shape}", lambda s=shape: ti.delta_orthogonal_(torch.empty(s)))
        )
    return calls


def test_zero_size_tensors_are_no_ops_in_every_function(torch: ModuleType, ti: ModuleType) -> None:
    """No error (not even for a shape whose fan is 0), no warning, no draw: the global
    generator and a given one keep their state."""
    import warnings

    names = {name.split("(")[0] for name, _ in _zero_size_calls(torch, ti)}
    filling = {n for n in ti.__all__ if n.endswith("_") and callable(getattr(ti, n))}
    assert names == filling, filling ^ names
    torch.manual_seed(0)
    before = torch.get_rng_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, call in _zero_size_calls(torch, ti):
            out = call()
            assert out.numel() == 0, name
        g = _gen(torch, 1)
        state = g.get_state()
        assert ti.he_normal_(torch.empty(0, 3), generator=g).numel() == 0
        assert torch.equal(g.get_state(), state)
    assert torch.equal(torch.get_rng_state(), before)
    # arguments are still checked
    with pytest.raises(ValueError, match=r"^mode: "):
        ti.he_normal_(torch.empty(0, 3), mode="fan_x")


@pytest.mark.skipif("not __import__('torch').cuda.is_available()")
def test_cuda_tensors_are_sampled_on_their_device(torch: ModuleType, ti: ModuleType) -> None:
    g = torch.Generator(device="cuda").manual_seed(0)
    w = torch.empty(512, 256, device="cuda")
    ti.he_normal_(w, lower=3.0, upper=4.0, generator=g)
    sigma = math.sqrt(2.0 / 256) / ti.truncnorm_moments(3.0, 4.0)[1]
    assert ks_pvalue(_numpy(w).astype(np.float64) / sigma, 3.0, 4.0) > 1e-4


# ---------------------------------------------------------------------------
# Fans
# ---------------------------------------------------------------------------


def _layers(torch: ModuleType) -> dict[str, Any]:
    nn = torch.nn
    return {
        "dense": nn.Linear(30, 20),
        "conv1d": nn.Conv1d(3, 8, 5),
        "conv2d": nn.Conv2d(3, 8, (3, 5)),
        "conv3d": nn.Conv3d(4, 6, (2, 3, 5)),
        "grouped": nn.Conv2d(8, 12, 3, groups=4),
        "depthwise": nn.Conv2d(16, 32, 3, groups=16),
        "transposed1d": nn.ConvTranspose1d(6, 4, 3),
        "transposed2d": nn.ConvTranspose2d(6, 4, (3, 2), groups=2),
        "transposed3d": nn.ConvTranspose3d(2, 5, 3),
    }


@pytest.mark.parametrize(
    "layer",
    [
        "dense",
        "conv1d",
        "conv2d",
        "conv3d",
        "grouped",
        "depthwise",
        "transposed1d",
        "transposed2d",
        "transposed3d",
    ],
)
def test_fans_match_torch_for_real_layer_weights(
    torch: ModuleType, ti: ModuleType, layer: str
) -> None:
    weight = _layers(torch)[layer].weight
    expected = torch.nn.init._calculate_fan_in_and_fan_out(weight)
    assert ti.calculate_fans(weight) == expected


def test_fan_avg_is_the_mean_of_the_two_fans(torch: ModuleType, ti: ModuleType) -> None:
    w = torch.empty(12, 4, 3, 3)  # fan_in 36, fan_out 108: fan_avg 72
    ti.glorot_uniform_(w, generator=_gen(torch, 3))
    assert float(w.abs().max()) <= math.sqrt(3.0 / 72)
    limit = math.sqrt(3.0 / 72)
    assert float(w.abs().max()) > 0.95 * limit


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def _bad_calls(torch: ModuleType, ti: ModuleType) -> list[tuple[Any, type, str]]:
    w = torch.empty(4, 3)
    return [
        (lambda: ti.he_normal_(torch.empty(5)), ValueError, "tensor"),
        (lambda: ti.calculate_fans(torch.empty(5)), ValueError, "tensor"),
        (lambda: ti.variance_scaling_(w, scale=0.0), ValueError, "scale"),
        (lambda: ti.variance_scaling_(w, scale=-1.0), ValueError, "scale"),
        (lambda: ti.variance_scaling_(w, scale=math.nan), ValueError, "scale"),
        (lambda: ti.variance_scaling_(w, scale=INF), ValueError, "scale"),
        (lambda: ti.variance_scaling_(w, mode="fan_sum"), ValueError, "mode"),
        (lambda: ti.variance_scaling_(w, distribution="normal"), ValueError, "distribution"),
        (lambda: ti.he_normal_(w, distribution="uniform"), ValueError, "distribution"),
        (lambda: ti.variance_scaling_(w, lower=2.0, upper=2.0), ValueError, "lower, upper"),
        (lambda: ti.variance_scaling_(w, lower=3.0, upper=1.0), ValueError, "lower, upper"),
        (lambda: ti.variance_scaling_(w, lower=math.nan), ValueError, "lower"),
        (lambda: ti.truncated_normal_(w, std=1.0, upper=math.nan), ValueError, "upper"),
        (lambda: ti.truncated_normal_(w, std=0.0), ValueError, "std"),
        (lambda: ti.truncated_normal_(w, std=1.0, mean=INF), ValueError, "mean"),
        (lambda: ti.he_normal_(torch.empty(4, 3, dtype=torch.int64)), TypeError, "tensor"),
        (lambda: ti.he_uniform_(torch.empty(4, 3, dtype=torch.int32)), TypeError, "tensor"),
        (
            lambda: ti.truncated_normal_(torch.empty(4, dtype=torch.int8), std=1.0),
            TypeError,
            "tensor",
        ),
        (  # complex tensors go to complex_variance_scaling_; truncated_normal_ is real only
            lambda: ti.truncated_normal_(torch.empty(4, 3, dtype=torch.complex64), std=1.0),
            TypeError,
            "tensor",
        ),
        (lambda: ti.he_normal_(np.empty((4, 3))), TypeError, "tensor"),
    ]


def test_bad_input_raises_a_one_line_error_naming_the_argument(
    torch: ModuleType, ti: ModuleType
) -> None:
    for call, kind, name in _bad_calls(torch, ti):
        with pytest.raises(kind) as info:
            call()
        message = str(info.value)
        assert message.startswith(f"{name}: "), message
        assert "\n" not in message and "accepted" in message, message


def test_bad_input_leaves_the_tensor_untouched(torch: ModuleType, ti: ModuleType) -> None:
    w = torch.zeros(4, 3)
    with pytest.raises(ValueError):
        ti.he_normal_(w, lower=2.0, upper=-2.0)
    assert bool((w == 0).all())


# ---------------------------------------------------------------------------
# The generated file
# ---------------------------------------------------------------------------

PATH = GENERATED / "torch_init.py"


def test_generated_file_passes_ruff_check_and_format() -> None:
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, str(PATH)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_generated_file_imports_only_the_standard_library_and_torch() -> None:
    tree = ast.parse(PATH.read_text("utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots <= {"math", "torch"} | set(sys.stdlib_module_names)
    assert "torch" in roots and "numpy" not in roots


def test_generated_file_carries_the_header_and_the_tabulated_constants(ti: ModuleType) -> None:
    text = PATH.read_text("utf-8")
    assert text.startswith("# Code generated by initref; DO NOT EDIT.\n")
    # s(2), exact to the last bit of the 50-digit value, is what +-2 divides by
    s2 = float(exact_moments("-2", "2").std)
    assert ti.truncnorm_moments(-2.0, 2.0)[1] == s2 == 0.8796256610342398
    assert "0.87962566103423978" in text  # the exact decimal stands in a comment


def test_activation_relu_fills_exactly_what_scale_2_fills() -> None:
    torch = require("torch")
    ti = load_generated("torch_init")
    a, b = torch.empty(64, 32), torch.empty(64, 32)
    ti.variance_scaling_(a, activation="relu", generator=torch.Generator().manual_seed(4))
    ti.variance_scaling_(b, scale=2.0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_activation_gelu_uses_the_derived_gain_and_rejects_unknown_names() -> None:
    torch = require("torch")
    ti = load_generated("torch_init")
    g = ti.GAINS["gelu"]
    a, b = torch.empty(64, 32), torch.empty(64, 32)
    ti.variance_scaling_(a, activation="gelu", generator=torch.Generator().manual_seed(9))
    ti.variance_scaling_(b, scale=g * g, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="activation: 'gelu2'"):
        ti.variance_scaling_(a, activation="gelu2")
    with pytest.raises(ValueError, match="activation, gain"):
        ti.variance_scaling_(a, activation="gelu", gain=1.5)
