"""Every sampling path of the three generated initializers, checked with enough draws to catch
a 1% error in its std.

For each path -- the truncated normal at cutoffs that reach each proposal (normal, uniform,
exponential, mirrored, one-sided, none at all), the untruncated normal and the uniform, in
float32 and float64 -- variance_scaling draws n = variance_sample_size(gamma_2) values
(tests/stats.py: from the kurtosis of the law, so that a 1% std error moves the variance
z-score by 12, twice the band), with a fixed seed.  The test then shows its own power: the
same draws with their spread about the exact mean scaled by 0.99 or 1.01 (a sampler whose
std is 1% off, mean right) fail the same check.
"""

from __future__ import annotations

import math
from functools import cache
from types import ModuleType

import numpy as np
import pytest

from derive.maths.truncnorm import truncnorm_moments as exact_moments
from tests.conftest import load_generated, require
from tests.stats import Z_BAND, moment_z, variance_sample_size

INF = math.inf
FAN_IN = 256
SCALE = 2.0
SEED = 2026

# (distribution, lower, upper, dtype); the proposal each file takes is in the comment
# (NumPy's _proposal / torch's _Plan / TensorFlow's parameterized truncated normal).
CASES = [
    ("truncated_normal", -2.0, 2.0, "float32"),  # normal; Keras's own op in tf_init
    ("truncated_normal", -2.0, 2.0, "float64"),
    ("truncated_normal", -0.5, 0.5, "float32"),  # uniform
    ("truncated_normal", -1.0, 3.0, "float64"),  # normal, asymmetric
    ("truncated_normal", 3.0, 4.0, "float32"),  # exponential, two-sided tail
    ("truncated_normal", 2.0, INF, "float64"),  # exponential, one-sided
    ("truncated_normal", -INF, -5.0, "float32"),  # exponential, mirrored far tail
    ("truncated_normal", -INF, INF, "float64"),  # no cutoff (tf: stateless_normal)
    ("untruncated_normal", -2.0, 2.0, "float64"),
    ("untruncated_normal", -2.0, 2.0, "float32"),
    ("uniform", -2.0, 2.0, "float32"),
    ("uniform", -2.0, 2.0, "float64"),
]


def _id(case: tuple[str, float, float, str]) -> str:
    distribution, lower, upper, dtype = case
    cut = f"[{lower:g},{upper:g}]" if distribution == "truncated_normal" else ""
    return f"{distribution}{cut}-{dtype}"


@cache
def _law(distribution: str, lower: float, upper: float) -> tuple[float, float, float]:
    """(mean, std, excess kurtosis) of the standardized law: N(0, 1) truncated to
    [lower, upper] (mpmath, 30 digits), N(0, 1), or U(-sqrt 3, sqrt 3) (kurtosis 9/5)."""
    if distribution == "uniform":
        return 0.0, 1.0, -1.2
    if distribution == "untruncated_normal":
        return 0.0, 1.0, 0.0
    m = exact_moments(str(lower), str(upper), 30)
    return float(m.mean), float(m.std), float(m.excess_kurtosis)


def _draw(
    modules: dict[str, ModuleType], framework: str, case: tuple[str, float, float, str], n: int
) -> np.ndarray:
    """n weights of variance_scaling(scale=2, fan_in=256) from one file, as float64."""
    distribution, lower, upper, dtype = case
    cutoffs = {"lower": lower, "upper": upper}
    if framework == "numpy":
        w = modules["numpy"].variance_scaling(
            (FAN_IN, n // FAN_IN),
            scale=SCALE,
            distribution=distribution,
            dtype=dtype,
            rng=SEED,
            **cutoffs,
        )
    elif framework == "torch":
        import torch

        w = torch.empty(n // FAN_IN, FAN_IN, dtype=getattr(torch, dtype))
        modules["torch"].variance_scaling_(
            w,
            scale=SCALE,
            distribution=distribution,
            generator=torch.Generator().manual_seed(SEED),
            **cutoffs,
        )
        w = w.numpy()
    else:
        init = modules["tf"].VarianceScaling(SCALE, "fan_in", distribution, seed=SEED, **cutoffs)
        w = np.asarray(init((FAN_IN, n // FAN_IN), dtype=dtype))
    assert w.dtype == np.dtype(dtype) and w.size == n
    return w.astype(np.float64).ravel()


@pytest.fixture(scope="module")
def modules() -> dict[str, ModuleType]:
    require("torch")
    require("tensorflow")
    return {name: load_generated(f"{name}_init") for name in ("numpy", "torch", "tf")}


def test_the_cases_reach_every_proposal_of_the_numpy_and_torch_samplers(
    modules: dict[str, ModuleType],
) -> None:
    numpy_used, torch_used = set(), set()
    for distribution, lower, upper, _ in CASES:
        if distribution != "truncated_normal":
            continue
        a, b = (-upper, -lower) if lower + upper < 0 else (lower, upper)
        numpy_used.add(modules["numpy"]._proposal(a, b))
        torch_used.add(modules["torch"]._Plan(lower, upper).method)
    assert numpy_used == torch_used == {"normal", "uniform", "exponential"}


def test_the_sample_size_follows_from_the_kurtosis() -> None:
    # normal (kurtosis 3), uniform (1.8): (kappa - 1) (12 / 0.0199)^2, rounded up to 1024
    assert variance_sample_size(0.0) == 728_064
    assert variance_sample_size(-1.2) == 291_840
    for kurt in (-1.2, -0.63, 0.0, 3.0, 4.76):
        n = variance_sample_size(kurt)
        assert 0.0199 / math.sqrt((kurt + 2.0) / n) >= 2 * Z_BAND
        assert 0.0199 / math.sqrt((kurt + 2.0) / (n - 1024)) < 2 * Z_BAND


@pytest.mark.parametrize("framework", ["numpy", "torch", "tf"])
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_every_sampling_path_passes_a_moment_check_that_a_1_percent_std_error_fails(
    modules: dict[str, ModuleType], framework: str, case: tuple[str, float, float, str]
) -> None:
    distribution, lower, upper, _ = case
    mean_k, std_k, kurt = _law(distribution, lower, upper)
    n = variance_sample_size(kurt)
    x = _draw(modules, framework, case, n)
    std = math.sqrt(SCALE / FAN_IN)
    mean = std * mean_k / std_k
    check = moment_z(x, mean, std, kurt)
    assert check.ok, check
    for factor in (0.99, 1.01):
        wrong = moment_z(mean + (x - mean) * factor, mean, std, kurt)
        assert not wrong.ok and abs(wrong.z_var) > Z_BAND, (factor, wrong)
