"""The article's puzzle, measured: a plain 24-layer ReLU network (width 256, batch 1024, no
biases) built with the generated NumPy and PyTorch initializers loses r^L of its second
moment, r^L from derive.maths.depth: 1 for the corrected truncated He init, s(2)^(2L) = 0.0021198
for truncated_normal with the *pre-truncation* std sqrt(2 / fan_in).

Tolerance, derived.  Let M_l be the mean square of layer l's activations over the batch and
the n units.  Given layer l-1, the n units' pre-activations h_bj = w_j . x_b are symmetric,
so E[relu(h)^2] = E[h^2] / 2 and E[M_l | M_{l-1}] = r M_{l-1} exactly: E[M_L / M_0] = r^L at
any width.  The fluctuation comes from the per-unit batch means T_j = mean_b relu(h_bj)^2:
over the weights of unit j, (h_bj)_b is Gaussian with the inputs' correlation c_l between
batch members, so T_j = (1 - c) F(sqrt(c / (1 - c)) m), m ~ N(0, 1), with
F(t) = E[relu(t + g)^2] = (1 + t^2) Phi(t) + t phi(t), and its relative variance is
v(c) = 4 E[T_j^2] - 1 (v(0) = 0, v(1) = 5, Hanin's single-input value) plus 5 / B from the
finite batch.  The n units are independent given layer l-1, so the layer factor has relative
variance v(c_l) / n and the log ratio has

    sigma^2 = sum_l (v(c_l) + 5 / B) / n,      E[log ratio] = L log r - sigma^2 / 2,

with c_1 = 0 (independent inputs) and c_{l+1} = (sqrt(1 - c^2) + (pi - arccos c) c) / pi, the
ReLU correlation map (Cho & Saul 2009; Poole et al. 2016).  For n = 256, B = 1024, L = 24:
sigma = 0.586; 40 seeds measured 0.585 (mean offset -0.155 against -sigma^2/2 = -0.172).
ReLU is homogeneous, so sigma does not depend on r.  Bands: every seed within 5 sigma, the
mean of S seeds within 4 sigma / sqrt(S); the wrong prediction (the other init's r^L) is
24 log(1/s(2)^2) = 6.16 away, 21 sigma/sqrt(S) for S = 4, so the test tells them apart.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from derive.maths.depth import depth_table
from tests.conftest import load_generated, require

WIDTH = 256
BATCH = 1024
LAYERS = 24
SEEDS = (11, 12, 13, 14)


def _relu_square_mean(t: float) -> float:
    """F(t) = E[relu(t + g)^2], g ~ N(0, 1)."""
    return (1 + t * t) * float(special.ndtr(t)) + t * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)


def _unit_relative_variance(c: float) -> float:
    """v(c) = Var[T] / E[T]^2 for T = (1 - c) F(sqrt(c / (1 - c)) m), E[T] = 1/2."""
    if c <= 0:
        return 0.0
    a = math.sqrt(c / (1 - c))
    second, _ = integrate.quad(
        lambda m: ((1 - c) * _relu_square_mean(a * m)) ** 2 * math.exp(-m * m / 2),
        -40,
        40,
        limit=200,
    )
    return 4 * second / math.sqrt(2 * math.pi) - 1


def log_ratio_sigma(width: int, batch: int, layers: int) -> float:
    c, total = 0.0, 0.0
    for _ in range(layers):
        total += _unit_relative_variance(c) + 5.0 / batch
        c = min(1.0, (math.sqrt(max(0.0, 1 - c * c)) + (math.pi - math.acos(c)) * c) / math.pi)
    return math.sqrt(total / width)


@pytest.fixture(scope="module")
def predictions() -> dict[str, float]:
    rows = {row.key: row for row in depth_table(LAYERS, "relu", None, ("2",), 20)}
    return {
        "corrected": float(rows["tf_he_normal"].r_layers),
        "uncorrected": float(rows["truncated_normal_uncorrected_k2"].r_layers),
        "s2": math.sqrt(float(rows["truncated_normal_uncorrected_k2"].r)),
    }


def test_fluctuation_theory_limits() -> None:
    assert _unit_relative_variance(0.0) == 0.0
    assert _unit_relative_variance(0.999999) == pytest.approx(5.0, rel=1e-2)
    assert log_ratio_sigma(WIDTH, BATCH, LAYERS) == pytest.approx(0.586, abs=0.002)


def _check(logs: dict[str, list[float]], predictions: dict[str, float]) -> None:
    sigma = log_ratio_sigma(WIDTH, BATCH, LAYERS)
    deviations = []
    for case, values in logs.items():
        expected = math.log(predictions[case]) - sigma**2 / 2
        wrong = math.log(predictions["uncorrected" if case == "corrected" else "corrected"])
        mean = sum(values) / len(values)
        band = 4 * sigma / math.sqrt(len(values))
        assert abs(mean - expected) < band, (case, mean, expected, band)
        assert abs(mean - wrong) > 3 * band, "the band cannot tell the two inits apart"
        for v in values:
            assert abs(v - expected) < 5 * sigma, (case, v, expected)
        deviations += [v - mean for v in values]
    # the derived sigma is the right size: pooled sample SD of 2(S - 1) dof within [1/4, 2.2]
    dof = len(deviations) - len(logs)
    sd = math.sqrt(sum(d * d for d in deviations) / dof)
    assert 0.25 < sd / sigma < 2.2, (sd, sigma)


def test_numpy_generated_inits_lose_r_to_the_L(predictions: dict[str, float]) -> None:
    """he_normal (corrected) keeps the second moment; truncated_normal with std
    sqrt(2/n) before truncation (= s(2) sqrt(2/n) after) loses 0.7737 per layer."""
    init = load_generated("numpy_init")
    logs: dict[str, list[float]] = {"corrected": [], "uncorrected": []}
    for case, offset in (("corrected", 0), ("uncorrected", 100)):
        for seed in SEEDS:
            rng = np.random.default_rng(seed + offset)
            x0 = rng.standard_normal((BATCH, WIDTH))
            x = x0
            for _ in range(LAYERS):
                if case == "corrected":
                    w = init.he_normal((WIDTH, WIDTH), rng=rng, dtype=np.float64)
                else:  # TF's truncated_normal(stddev=sqrt(2/n)): std after = s(2) sqrt(2/n)
                    std = predictions["s2"] * math.sqrt(2.0 / WIDTH)
                    w = init.truncated_normal((WIDTH, WIDTH), std=std, rng=rng, dtype=np.float64)
                x = np.maximum(x @ w, 0.0)
            logs[case].append(math.log(float(np.mean(x * x)) / float(np.mean(x0 * x0))))
    _check(logs, predictions)


def test_torch_generated_inits_lose_r_to_the_L(predictions: dict[str, float]) -> None:
    torch = require("torch")
    init = load_generated("torch_init")
    logs: dict[str, list[float]] = {"corrected": [], "uncorrected": []}
    for case, offset in (("corrected", 200), ("uncorrected", 300)):
        for seed in SEEDS:
            gen = torch.Generator().manual_seed(seed + offset)
            x0 = torch.randn(BATCH, WIDTH, generator=gen, dtype=torch.float64)
            x = x0
            for _ in range(LAYERS):
                w = torch.empty(WIDTH, WIDTH, dtype=torch.float64)
                if case == "corrected":
                    init.he_normal_(w, generator=gen)
                else:
                    std = predictions["s2"] * math.sqrt(2.0 / WIDTH)
                    init.truncated_normal_(w, std=std, generator=gen)
                x = torch.relu(x @ w.T)
            logs[case].append(math.log(float((x * x).mean()) / float((x0 * x0).mean())))
    _check(logs, predictions)
