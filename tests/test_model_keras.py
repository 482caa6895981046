"""initref.keras.initialize and diagnose on real Keras 3 models (small widths)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.conftest import require

keras = require("keras")

import initref.keras as ik  # noqa: E402
from initref import constants  # noqa: E402
from initref._model import common  # noqa: E402

L, C = 12, 256
S2 = constants.TRUNCNORM[(-2.0, 2.0)]


def mlp(activation: str = "relu", *, use_bias: bool = False) -> Any:
    """L Dense layers of width C, each followed by an Activation layer, then a readout."""
    layers: list[Any] = [keras.Input((C,))]
    for _ in range(L):
        layers.append(keras.layers.Dense(C, use_bias=use_bias))
        layers.append(keras.layers.Activation(activation))
    layers.append(keras.layers.Dense(10))
    return keras.Sequential(layers)


def test_activations_come_from_configs_and_the_graph() -> None:
    inp = keras.Input((16,))
    x = keras.layers.Dense(32, activation="gelu", name="a")(inp)
    y = keras.layers.Dense(32, name="b")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Activation("tanh")(y)
    z = keras.layers.Dense(32, name="c")(keras.layers.Add()([x, y]))
    z = keras.layers.LeakyReLU(negative_slope=0.2)(z)
    out = keras.layers.Dense(3, name="d")(z)
    model = keras.Model(inp, out)
    r = ik.initialize(model, seed=0)
    got = {x.name: x.activation for x in r.layers}
    assert got == {"a": "gelu", "b": "tanh", "c": "leaky_relu(0.2)", "d": "linear"}
    c = next(x for x in r.layers if x.name == "c")
    assert c.weight_variance == 2.0 / (1.0 + 0.2 * 0.2)
    assert any("batch_normalization" in p for p in r.untouched)


def test_weights_follow_the_reported_law_and_diagnose_recognizes_them() -> None:
    model = keras.Sequential([keras.Input((512,)), keras.layers.Dense(256, activation="tanh")])
    r = ik.initialize(model, seed=3)
    w = np.asarray(model.layers[0].kernel)
    m = common.moments_of(w)
    assert abs((m.rms / r.layers[0].std - 1) / m.relative_se) < 4 and 4 * m.relative_se < 0.01
    assert common.shapes_of(m) == ("truncated_normal(+-2 sigma)",)
    d = ik.diagnose(model)
    assert d.layers[0].rule == "initref_gain" and abs(d.depth_ratio - 1) < 4 * 2 * m.relative_se


def test_keras_default_glorot_uniform_is_diagnosed() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((256,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(512, activation="relu"),
        ]
    )
    d = ik.diagnose(model)
    assert [x.rule for x in d.layers] == ["glorot", "glorot = lecun"]  # 512 x 512: equal
    assert all(x.shapes == ("uniform",) for x in d.layers)


def test_a_deep_net_keeps_its_second_moment_after_initialize_and_the_trap_loses_it() -> None:
    """12 ReLU layers of width 256, 8 seeds: R = mean(a_12^2)/mean(x^2) (E[R] = r^12 exactly
    at any width for ReLU without biases).  After initialize the seeds straddle 1; with the
    trap they straddle r^12 = s(2)^24, which diagnose predicts from the weights."""
    ratios: dict[str, list[float]] = {"init": [], "trap": []}
    for s in range(8):
        keras.utils.set_random_seed(s)
        model = mlp()
        rng = np.random.default_rng(100 + s)
        x = rng.standard_normal((4, C)).astype("float32")
        ik.initialize(model, seed=s)
        ratios["init"].append(_ratio(model, x))
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense) and layer is not model.layers[-1]:
                fan = int(layer.kernel.shape[0])
                init = ik.TruncatedNormal(stddev=S2.std * math.sqrt(2 / fan), seed=s)
                layer.kernel.assign(init(tuple(layer.kernel.shape)))
        ratios["trap"].append(_ratio(model, x))
        if s == 0:
            d = ik.diagnose(model)
            assert [x.rule for x in d.layers[1:L]] == ["he_std_before_truncation"] * (L - 1)
            assert d.rule_depth_ratio is not None
            conv = math.prod(x.rule_r for x in d.layers[:L] if x.rule_r is not None)
            assert abs(conv / S2.variance**L - 1) < 1e-13
    r12 = S2.variance**L
    lo, hi = min(ratios["init"]), max(ratios["init"])
    assert lo < 1 < hi, (lo, hi)
    trap = [v / r12 for v in ratios["trap"]]
    assert min(trap) < 1 < max(trap), trap
    assert max(ratios["trap"]) < min(ratios["init"])  # r^12 = 0.046: apart, seed by seed


def _ratio(model: Any, x: Any) -> float:
    """mean(a^2)/mean(x^2) after the last hidden layer's activation."""
    sub = keras.Model(model.inputs[0], model.layers[2 * L - 1].output)
    y = np.asarray(sub(x))
    return float(np.mean(y.astype(np.float64) ** 2) / np.mean(x.astype(np.float64) ** 2))


def test_critical_tanh_and_errors() -> None:
    model = mlp("tanh", use_bias=True)
    r = ik.initialize(model, bias_variance=0.05, critical=True, seed=1)
    point = constants.CRITICAL[("tanh", 0.05)][0]
    assert r.layers[0].weight_variance == point.weight_variance
    assert r.layers[-1].activation == "linear" and r.layers[-1].bias_std == 0.0
    b = np.asarray(model.layers[0].bias)
    assert np.all(b != 0)
    with pytest.raises(ValueError, match="critical point"):
        ik.initialize(mlp("relu", use_bias=True), bias_variance=0.05, critical=True)
    with pytest.raises(TypeError, match=r"is not a keras\.Model"):
        ik.initialize("x")
    custom = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu6")])
    with pytest.raises(ValueError, match=r"'dense.*' \(its activation= .* is not tabulated\)"):
        ik.initialize(custom)
    assert ik.initialize(custom, default_activation="relu").layers[0].found_by == "default"


def test_zero_size_layer_is_skipped_and_embedding_has_fan_1() -> None:
    inp = keras.Input((3,), dtype="int32")
    emb = keras.layers.Embedding(50, 8, name="emb")(inp)
    empty = keras.Input((0,))
    model = keras.Model([inp, empty], [emb, keras.layers.Dense(4, name="empty")(empty)])
    r = ik.initialize(model, seed=0)
    by = {x.name: x for x in r.layers}
    assert by["emb"].fan_in == 1 and by["emb"].activation == "linear"
    assert by["empty"].skipped == "skipped: zero-size"
    assert ik.diagnose(model).skipped == ("empty",)


def _residual_model(blocks: int) -> Any:
    """A stem, ``blocks`` residual blocks x + Dense(Dense(x, relu)), a readout."""
    inp = keras.Input((C,))
    x = keras.layers.Dense(C, activation="tanh", use_bias=False, name="stem")(inp)
    for i in range(blocks):
        h = keras.layers.Dense(C, activation="relu", use_bias=False, name=f"in{i}")(x)
        h = keras.layers.Dense(C, use_bias=False, name=f"out{i}")(h)
        x = keras.layers.Add(name=f"add{i}")([x, h])
    return keras.Model(inp, keras.layers.Dense(10, name="head")(x))


def test_residual_scaling_scales_the_last_layer_of_each_branch_by_one_over_sqrt_n() -> None:
    """3 residual additions: out0..out2 get 1/sqrt(3) (their std measured against g/sqrt(fan)
    x 1/sqrt(3), a band of 4 standard errors of a sample std of 65 536 truncated-normal
    weights, under 1%), every other layer 1."""
    model = _residual_model(3)
    r = ik.initialize(model, residual_scaling=True, seed=7)
    assert r.residual_adds == 3
    factor = 1 / math.sqrt(3)
    got = {x.name: (x.activation, x.residual_factor) for x in r.layers}
    assert got == {
        "stem": ("tanh", 1.0),
        **{f"in{i}": ("relu", 1.0) for i in range(3)},
        **{f"out{i}": ("linear", factor) for i in range(3)},
        "head": ("linear", 1.0),
    }
    se = math.sqrt((2 + S2.excess_kurtosis) / (4 * C * C))
    assert 4 * se < 0.01
    for x in r.layers[:-1]:
        expected = constants.GAINS[x.activation] / math.sqrt(C) * x.residual_factor
        assert x.std == pytest.approx(expected, rel=1e-12)
        w = np.asarray(model.get_layer(x.name).kernel, dtype=np.float64)
        assert abs(math.sqrt(np.mean(w * w)) / expected - 1) < 4 * se, x.name
    plain = ik.initialize(_residual_model(3), seed=7)
    assert plain.residual_adds == 0 and all(x.residual_factor == 1.0 for x in plain.layers)


def test_residual_scaling_without_a_residual_addition_is_an_error() -> None:
    with pytest.raises(ValueError, match="residual_scaling: True, but the model has no residual"):
        ik.initialize(mlp(), residual_scaling=True)
    inp = keras.Input((8,))  # an Add of two layers of the same input: not residual
    both = keras.layers.Add()([keras.layers.Dense(8)(inp), keras.layers.Dense(8)(inp)])
    with pytest.raises(ValueError, match="no residual addition"):
        ik.initialize(keras.Model(inp, both), residual_scaling=True)
    with pytest.raises(TypeError, match="residual_scaling: 1 is not a bool"):
        ik.initialize(_residual_model(1), residual_scaling=1)
