"""The three generated initializers draw the same law: NumPy, PyTorch and Keras/TF He weights
compared pairwise with a two-sample KS test (p > 1e-4, n = 2**17 each, fixed seeds).

All three get the same fan_in (256) in their own layout: NumPy and Keras ``[in, out]``,
PyTorch ``[out, in]``.  The test has teeth: the same KS test tells apart weights drawn the
way the seed article's author did (no truncation correction, std 0.88x too small).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import stats

from tests.conftest import load_generated, require

FAN_IN, FAN_OUT = 256, 512  # 2**17 weights
P_MIN = 1e-4
CUTOFFS = [(-2.0, 2.0), (-1.0, 3.0), (3.0, 4.0)]


@pytest.fixture(scope="module")
def modules() -> dict[str, ModuleType]:
    require("torch")
    require("tensorflow")
    require("keras")
    return {name: load_generated(f"{name}_init") for name in ("numpy", "torch", "tf")}


def _he(modules: dict[str, ModuleType], name: str, lower: float, upper: float, seed: int) -> Any:
    """He-normal weights with fan_in 256 from one framework, as a float64 NumPy vector."""
    if name == "numpy":
        w = modules["numpy"].he_normal(
            (FAN_IN, FAN_OUT), lower=lower, upper=upper, rng=seed, dtype=np.float32
        )
    elif name == "torch":
        import torch

        w = torch.empty(FAN_OUT, FAN_IN)
        modules["torch"].he_normal_(
            w, lower=lower, upper=upper, generator=torch.Generator().manual_seed(seed)
        )
        w = w.numpy()
    else:
        init = modules["tf"].HeNormal(seed=seed, lower=lower, upper=upper)
        w = np.asarray(init((FAN_IN, FAN_OUT), dtype="float32"))
    assert w.size == FAN_IN * FAN_OUT and w.dtype == np.float32
    return w.astype(np.float64).ravel()


@pytest.mark.parametrize("cutoffs", CUTOFFS, ids=lambda c: f"[{c[0]:g},{c[1]:g}]")
def test_numpy_torch_and_tf_he_normal_draw_the_same_law(
    modules: dict[str, ModuleType], cutoffs: tuple[float, float]
) -> None:
    lower, upper = cutoffs
    draws = {name: _he(modules, name, lower, upper, seed=2024) for name in ("numpy", "torch", "tf")}
    bound = math.sqrt(2.0 / FAN_IN) / modules["numpy"].truncnorm_moments(lower, upper)[1]
    for name, x in draws.items():
        # float32 rounding may put a value one ulp past the float64 bound
        lo, hi = lower * bound, upper * bound
        assert lo - 1e-6 * abs(lo) <= x.min() and x.max() <= hi + 1e-6 * abs(hi), name
    for first, second in [("numpy", "torch"), ("numpy", "tf"), ("torch", "tf")]:
        p = stats.ks_2samp(draws[first], draws[second]).pvalue
        assert p > P_MIN, f"{first} vs {second} on [{lower}, {upper}]: KS p = {p:.2e}"


def test_the_two_sample_ks_catches_a_dropped_truncation_correction(
    modules: dict[str, ModuleType],
) -> None:
    """Hand-built He (truncated_normal with stddev sqrt(2 / fan_in)): std 0.8796x."""
    import torch

    ours = _he(modules, "numpy", -2.0, 2.0, seed=2024)
    s2 = modules["torch"].truncnorm_moments(-2.0, 2.0)[1]
    w = torch.empty(FAN_OUT, FAN_IN)
    modules["torch"].truncated_normal_(
        w, std=math.sqrt(2.0 / FAN_IN) * s2, generator=torch.Generator().manual_seed(5)
    )
    p = stats.ks_2samp(ours, w.numpy().astype(np.float64).ravel()).pvalue
    assert p < P_MIN, f"KS p = {p:.2e}: the check would miss the article's bug"
