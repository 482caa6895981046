"""initref.torch.initialize and diagnose on real torch models, and the seed's experiment.

The seed's experiment: a 24-layer ReLU CNN (3x3 convolutions, 128 channels, circular padding
so every position has the full fan, no biases) initialized "He by hand" with a truncated
normal cut at +-2 sigma whose std BEFORE truncation is sqrt(2/fan_in) (the trap), over 16
fixed seeds.  For a ReLU network without biases and with symmetric weights,
E[q_l | layer l-1] = r q_{l-1} exactly at any width (the pre-activation of each output channel
is symmetric with E[h^2] = Var[w] * sum of the squared inputs of its patch; ReLU keeps half),
so E[R] = r^24 for R = mean(a_24^2) / mean(x^2).  Around it single networks spread: the
per-layer factor's conditional relative variance is at most 5/C (C channels; Cauchy-Schwarz
over positions, 5 = Var[relu(h)^2] / E[relu(h)^2]^2 for Gaussian h), so
Var[R] / E[R]^2 <= (1 + 5/C)^24 - 1.  The band is measured: the range of R / r^24 over the
16 seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

torch = require("torch")
nn = torch.nn

import initref.torch as it  # noqa: E402
from initref import constants  # noqa: E402
from initref._model import common  # noqa: E402

L, C, H, BATCH, SEEDS = 24, 128, 4, 2, 16
S2 = constants.TRUNCNORM[(-2.0, 2.0)]
TRAP_R24 = constants.DEPTH_R["truncated_normal_uncorrected_k2"][1]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: on 2 shared cores OpenMP barriers cost more than they save."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cnn(act: type[Any] = nn.ReLU, *, channels: int = C, bias: bool = False) -> Any:
    mods: list[Any] = []
    cin = 3
    for _ in range(L):
        mods += [nn.Conv2d(cin, channels, 3, padding=1, padding_mode="circular", bias=bias), act()]
        cin = channels
    return nn.Sequential(*mods)


def trap_by_hand(model: Any, generator: Any, *, torch_trunc: bool = False) -> None:
    """truncated at +-2 sigma, sigma = sqrt(2/fan_in) the std before truncation."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            sigma = math.sqrt(2.0 / m.weight[0].numel())
            if torch_trunc:  # the code people write
                nn.init.trunc_normal_(m.weight, 0.0, sigma, -2 * sigma, 2 * sigma, generator)
            else:  # the same law: std after truncation sigma * s(2)
                it.truncated_normal_(m.weight, std=sigma * S2.std, generator=generator)


def ratio(model: Any, seed: int, x2: float) -> float:
    g = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(BATCH, 3, H, H, generator=g) * math.sqrt(x2)
    with torch.no_grad():
        y = model(x)
    return float(y.pow(2).mean() / x.pow(2).mean())


def fixed_point_input(report: common.InitReport) -> float:
    """E[x^2] that puts the first layer's pre-activations at q*: (q* - sigma_b^2) / sigma_w^2."""
    (s,) = [s for s in report.stability if s.activation != "linear"]
    if s.q_star is None:
        return 1.0
    return (s.q_star - s.bias_variance) / s.weight_variance


@pytest.fixture(scope="module")
def seed_runs() -> dict[str, Any]:
    """R over the seeds for the trap and, after initialize, for relu, tanh (critical at
    sigma_b^2 = 0.05), gelu (critical at 0.2, the one stable GELU point tabulated) and gelu
    without bias at its derived gain (q* = 1, unstable)."""
    out: dict[str, Any] = {"trap": [], "diagnosis": None}
    for s in range(SEEDS):
        torch.manual_seed(s)
        model = cnn()
        trap_by_hand(model, torch.Generator().manual_seed(s))
        if s == 0:
            out["diagnosis"] = it.diagnose(model)
        out["trap"].append(ratio(model, s, 1.0))
    cases = {
        "relu": (nn.ReLU, False, {}),
        "tanh": (nn.Tanh, True, {"bias_variance": 0.05, "critical": True}),
        "gelu": (nn.GELU, True, {"bias_variance": 0.2, "critical": True}),
        "gelu_no_bias": (nn.GELU, False, {}),
    }
    for name, (act, bias, kw) in cases.items():
        rs = []
        for s in range(SEEDS):
            torch.manual_seed(s)
            model = cnn(act, bias=bias)
            report = it.initialize(model, generator=torch.Generator().manual_seed(s), **kw)
            out[name + "_report"] = report
            rs.append(ratio(model, s, fixed_point_input(report)))
        out[name] = rs
    return out


def test_diagnose_names_the_seeds_trap_and_predicts_r24(seed_runs: dict[str, Any]) -> None:
    d: common.DiagnoseReport = seed_runs["diagnosis"]
    assert len(d.layers) == L
    assert all(x.rule == "he_std_before_truncation" for x in d.layers), [
        x.verdict for x in d.layers
    ]
    assert all("truncated_normal(+-2 sigma)" in x.shapes for x in d.layers)
    # the matched rule's r^24: 24 products of s(2)^2, each rounded once
    assert d.rule_depth_ratio is not None
    assert abs(d.rule_depth_ratio / TRAP_R24 - 1) <= 24 * 2.0**-52
    assert f"{TRAP_R24:.3g}" == "0.00212"
    # from the weights themselves: within 4 standard errors (each r has relative SE 2 * SE(std))
    se = 2 * math.sqrt(sum(x.relative_se**2 for x in d.layers))
    assert abs(d.depth_ratio / TRAP_R24 - 1) < 4 * se, (d.depth_ratio, se)
    assert "he_std_before_truncation" in d.table() and "0.00212" in d.table()


def test_torch_trunc_normal_by_hand_is_diagnosed_as_the_trap() -> None:
    torch.manual_seed(0)
    model = cnn(channels=64)
    trap_by_hand(model, torch.Generator().manual_seed(1), torch_trunc=True)
    d = it.diagnose(model)
    assert [x.rule for x in d.layers[1:]] == ["he_std_before_truncation"] * (L - 1)
    assert d.layers[0].rule == "he_std_before_truncation"  # 3 -> 64 channels: 1728 weights


def _band(values: list[float], prediction: float) -> tuple[float, float]:
    scaled = [v / prediction for v in values]
    return min(scaled), max(scaled)


def test_the_trap_prediction_is_within_the_seed_to_seed_band(seed_runs: dict[str, Any]) -> None:
    lo, hi = _band(seed_runs["trap"], TRAP_R24)
    assert lo < 1.0 < hi, (lo, hi)
    assert hi / lo < 20  # the band is a measurement: it excludes He (x 472) and r^22 (x 0.6^-1)
    # the mean against the finite-width bound: |mean/r^24 - 1| < 4 sqrt(((1 + 5/C)^24 - 1) / S)
    mean = statistics.fmean(v / TRAP_R24 for v in seed_runs["trap"])
    bound = 4 * math.sqrt(((1 + 5 / C) ** L - 1) / SEEDS)
    assert abs(mean - 1) < bound, (mean, bound)


def test_the_trap_network_is_r24_times_the_corrected_one_seed_by_seed(
    seed_runs: dict[str, Any],
) -> None:
    """The same standard draws scaled by s(2) (initialize's std after truncation vs the trap's
    std before): ReLU is positively homogeneous, so R_trap / R_he = s(2)^48 = r^24 for every
    network, up to float32 rounding over 24 layers."""
    for trap, he in zip(seed_runs["trap"], seed_runs["relu"], strict=True):
        assert abs(trap / he / TRAP_R24 - 1) < 1e-4


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu"])
def test_after_initialize_the_ratio_at_layer_24_is_within_the_band_of_1(
    seed_runs: dict[str, Any], name: str
) -> None:
    lo, hi = _band(seed_runs["trap"], TRAP_R24)
    median = statistics.median(seed_runs[name])
    geometric = math.exp(statistics.fmean(math.log(v) for v in seed_runs[name]))
    assert lo < median < hi and lo < geometric < hi, (name, median, geometric, lo, hi)
    (s,) = [s for s in seed_runs[name + "_report"].stability if s.activation != "linear"]
    assert s.stability in ("stable", "neutral"), s


def test_gelu_without_bias_sits_on_an_unstable_fixed_point_and_drifts(
    seed_runs: dict[str, Any],
) -> None:
    """The derived gain puts GELU at q* = 1 with T'(1) = 1.144 > 1: the report says unstable,
    and finite-width deviations grow by T'(1) per layer (x 25 over 24), so single networks
    spread far wider than the ReLU ones (neutral, T' = 1)."""
    (s,) = seed_runs["gelu_no_bias_report"].stability
    assert s.stability == "unstable" and s.q_star == 1.0
    assert s.slope == constants.VARIANCE_PRESERVING_SLOPE["gelu"] > 1
    spread = {
        k: statistics.stdev(math.log(v) for v in seed_runs[k]) for k in ("relu", "gelu_no_bias")
    }
    assert spread["gelu_no_bias"] > 2 * spread["relu"], spread


def test_initialize_reports_every_layer_with_fan_rule_std_and_gain() -> None:
    model = nn.Sequential(
        nn.Linear(32, 64),
        nn.GELU(approximate="tanh"),
        nn.Dropout(0.1),
        nn.Linear(64, 64),
        nn.LayerNorm(64),
        nn.SiLU(),
        nn.Linear(64, 10),
    )
    r = it.initialize(model, generator=torch.Generator().manual_seed(0))
    assert [x.activation for x in r.layers] == ["gelu_tanh", "silu", "linear"]
    first = r.layers[0]
    assert (first.fan_in, first.fan_out) == (32, 64)
    assert first.std == math.sqrt(it._generated.VARIANCE_GAINS["gelu_tanh"] / 32)
    assert first.gain == math.sqrt(it._generated.VARIANCE_GAINS["gelu_tanh"])
    assert r.untouched == ("4.weight", "4.bias")  # the LayerNorm
    assert torch.all(model[0].bias == 0)
    assert "gelu_tanh" in str(r) and "stability" in str(r)


def test_weights_follow_the_law_initialize_reports() -> None:
    """131,072 weights: the relative SE of the std is 0.15%, so the 4-sigma band (0.6%)
    catches a 1% error; the shape is the +-2 sigma truncated normal."""
    model = nn.Sequential(nn.Linear(512, 256), nn.Tanh())
    r = it.initialize(model, generator=torch.Generator().manual_seed(3))
    m = common.moments_of(model[0].weight.detach().numpy())
    z = (m.rms / r.layers[0].std - 1) / m.relative_se
    assert abs(z) < 4 and 4 * m.relative_se < 0.01
    assert common.shapes_of(m) == ("truncated_normal(+-2 sigma)",)
    assert float(model[0].weight.detach().abs().max()) <= 2 * r.layers[0].std / S2.std * (1 + 1e-6)


def test_critical_tanh_sets_the_tabulated_weight_and_bias_variances() -> None:
    model = nn.Sequential(nn.Linear(256, 1024), nn.Tanh(), nn.Linear(1024, 4))
    r = it.initialize(
        model, bias_variance=0.1, critical=True, generator=torch.Generator().manual_seed(0)
    )
    point = constants.CRITICAL[("tanh", 0.1)][0]
    assert r.layers[0].weight_variance == point.weight_variance
    b = common.moments_of(model[0].bias.detach().numpy())
    assert abs((b.rms / math.sqrt(0.1) - 1) / b.relative_se) < 4
    assert r.layers[1].bias_std == 0.0 and torch.all(model[2].bias == 0)  # the readout
    (s,) = [s for s in r.stability if s.activation == "tanh"]
    assert (s.q_star, s.slope, s.stability) == (point.q_star, point.slope, "stable")


def test_embedding_has_fan_1_and_its_padding_row_is_zero() -> None:
    model = nn.Sequential(nn.Embedding(1000, 64, padding_idx=0), nn.ReLU(), nn.Linear(64, 8))
    r = it.initialize(model, generator=torch.Generator().manual_seed(0))
    assert r.layers[0].fan_in == 1 and r.layers[0].std == math.sqrt(2.0)
    assert torch.all(model[0].weight[0] == 0)
    m = common.moments_of(model[0].weight[1:].detach().numpy())
    assert abs((m.rms / math.sqrt(2.0) - 1) / m.relative_se) < 4


def test_a_zero_size_layer_is_skipped_not_an_error() -> None:
    model = nn.Sequential(nn.Linear(8, 0), nn.ReLU(), nn.Linear(0, 4))
    r = it.initialize(model)
    assert [x.skipped for x in r.layers] == ["skipped: zero-size"] * 2
    assert it.diagnose(model).skipped == ("0", "2")


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)
        self.b = nn.Linear(16, 4)

    def forward(self, x: Any) -> Any:
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            x = x * 2
        return self.b(torch.relu(self.a(x)))


def test_an_untraceable_model_needs_the_map_and_says_which_layers() -> None:
    model = Untraceable()
    with pytest.raises(ValueError, match=r"no activation known for 2 layers: 'a' \(torch.fx could"):
        it.initialize(model)
    r = it.initialize(model, activations={"a": "relu", "b": "linear"})
    assert [(x.activation, x.found_by) for x in r.layers] == [("relu", "map"), ("linear", "map")]
    r = it.initialize(model, activations={"a": "relu"}, default_activation="linear")
    assert [x.found_by for x in r.layers] == ["map", "default"]


def test_ambiguous_and_wrong_maps_are_errors_naming_the_layer() -> None:
    class Gated(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate, self.up = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x: Any) -> Any:
            return torch.nn.functional.silu(self.gate(x)) * self.up(x)

    with pytest.raises(ValueError, match=r"'up' \(its output reaches call_function mul\)"):
        it.initialize(Gated())
    assert it.initialize(Gated(), activations={"up": "linear"}).layers[0].activation == "silu"
    with pytest.raises(ValueError, match=r"'upp' name no initializable layer"):
        it.initialize(Gated(), activations={"upp": "linear"})
    with pytest.raises(
        ValueError, match=r"'rleu' is not a built-in activation; did you mean 'relu'"
    ):
        it.initialize(Gated(), activations={"up": "rleu"})
    with pytest.raises(ValueError, match="bias_variance: None with critical=True"):
        it.initialize(Gated(), critical=True)
    with pytest.raises(ValueError, match=r"^0: relu has no critical point at bias_variance=0.05"):
        it.initialize(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), bias_variance=0.05, critical=True)
    with pytest.raises(TypeError, match=r"is not a torch\.nn\.Module"):
        it.initialize("model")  # type: ignore[arg-type]


def test_residual_scaling_scales_the_last_layer_of_each_branch() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(32, 32), nn.Linear(32, 32)

        def forward(self, x: Any) -> Any:
            return x + self.fc2(torch.relu(self.fc1(x)))

    model = nn.Sequential(Block(), Block(), Block(), Block(), nn.Linear(32, 2))
    r = it.initialize(model, residual_scaling=True)
    assert r.residual_adds == 4
    factors = {x.name: x.residual_factor for x in r.layers}
    assert factors["0.fc2"] == factors["3.fc2"] == 0.5 and factors["0.fc1"] == 1.0
    assert factors["4"] == 1.0
    with pytest.raises(ValueError, match="no residual addition"):
        it.initialize(nn.Sequential(nn.Linear(2, 2)), residual_scaling=True)


def test_a_meta_device_model_is_initialized_after_to_empty() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 256))
    with pytest.raises(ValueError, match=r"meta device .* model.to_empty\(device=...\) first"):
        it.initialize(model)
    model.to_empty(device="cpu")
    r = it.initialize(model, generator=torch.Generator().manual_seed(5))
    m = common.moments_of(model[0].weight.detach().numpy())
    assert abs((m.rms / math.sqrt(2 / 512) - 1) / m.relative_se) < 4
    assert common.shapes_of(m) == ("truncated_normal(+-2 sigma)",)
    assert torch.all(model[0].bias == 0) and r.layers[1].activation == "linear"


def test_diagnose_knows_torchs_default_and_draws_the_figure(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
    d = it.diagnose(model)
    assert [x.rule for x in d.layers] == ["torch_default", "torch_default"]
    assert all(x.shapes == ("uniform",) for x in d.layers)
    assert abs(d.rule_depth_ratio - constants.DEPTH_R["torch_default_linear"][0] ** 2) < 1e-15  # type: ignore[operator]
    d.figure(tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_parameters_are_filled_on_the_gpu() -> None:
    model = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 8)).cuda()
    r = it.initialize(model, generator=torch.Generator(device="cuda").manual_seed(0))
    assert all(p.is_cuda for p in model.parameters())
    d = it.diagnose(model)
    assert d.layers[0].rule is not None and "he" in d.layers[0].rule, d.layers[0].verdict
    assert r.layers[0].std == math.sqrt(2 / 1024)
