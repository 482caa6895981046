"""initref.flax.initialize and diagnose on real Flax models, linen and nnx (small widths)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest

from tests.conftest import require

jax = require("jax")
require("flax")
import jax.numpy as jnp  # noqa: E402
from flax import linen, nnx  # noqa: E402

import initref.flax as ifl  # noqa: E402
from initref import constants  # noqa: E402
from initref._model import common  # noqa: E402

L, W = 12, 256
S2 = constants.TRUNCNORM[(-2.0, 2.0)]


def nnx_mlp(act: Any = nnx.relu, seed: int = 0) -> Any:
    rngs = nnx.Rngs(seed)
    items: list[Any] = []
    for _ in range(L):
        items += [nnx.Linear(W, W, use_bias=False, rngs=rngs), act]
    return nnx.Sequential(*items, nnx.Linear(W, 10, rngs=rngs))


def _hidden_ratio(model: Any, x: Any) -> float:
    y = x
    for item in list(model.layers)[: 2 * L]:
        y = item(y)
    return float(jnp.mean(y.astype(jnp.float64) ** 2) / jnp.mean(x.astype(jnp.float64) ** 2))


def test_nnx_sequential_is_traced_and_keeps_the_second_moment() -> None:
    """E[R] = 1 for ReLU without biases at any width: 8 seeds straddle 1; Flax's default
    lecun_normal has r = 1/2 per ReLU layer (diagnose predicts 2^-12 and names it)."""
    init_r, default_r = [], []
    for s in range(8):
        model = nnx_mlp(seed=s)
        x = jax.random.normal(jax.random.key(100 + s), (4, W))
        d = ifl.diagnose(model)
        if s == 0:
            assert [x.rule for x in d.layers[:L]] == [
                "glorot = lecun"
            ] * L  # square W x W: 1/fan_avg = 1/fan_in
            assert d.rule_depth_ratio == pytest.approx(0.5**L, rel=1e-12)
        default_r.append(_hidden_ratio(model, x) / 0.5**L)
        r = ifl.initialize(model, seed=s)
        assert [x.activation for x in r.layers] == ["relu"] * L + ["linear"]
        init_r.append(_hidden_ratio(model, x))
    assert min(init_r) < 1 < max(init_r), init_r
    assert min(default_r) < 1 < max(default_r), default_r
    assert max(init_r) / min(init_r) < 20


def test_nnx_weights_follow_the_reported_law() -> None:
    model = nnx.Sequential(nnx.Linear(512, 256, rngs=nnx.Rngs(0)), nnx.tanh)
    r = ifl.initialize(model, seed=1)
    m = common.moments_of(np.asarray(model.layers[0].kernel[...]))
    assert abs((m.rms / r.layers[0].std - 1) / m.relative_se) < 4 and 4 * m.relative_se < 0.01
    assert common.shapes_of(m) == ("truncated_normal(+-2 sigma)",)
    assert r.layers[0].activation == "tanh" and np.all(np.asarray(model.layers[0].bias[...]) == 0)


def test_linen_sequential_returns_new_params_and_gelu_flavours_are_told_apart() -> None:
    exact = functools.partial(jax.nn.gelu, approximate=False)
    module = linen.Sequential(
        [linen.Dense(128), jax.nn.gelu, linen.Dense(128), exact, linen.Dense(4)]
    )
    variables = module.init(jax.random.key(0), jnp.ones((1, 64)))
    r = ifl.initialize(module, params=variables, seed=2)
    assert [x.activation for x in r.layers] == ["gelu_tanh", "gelu", "linear"]
    new = r.params["params"]
    old = variables["params"]
    assert not np.array_equal(
        np.asarray(new["layers_0"]["kernel"]), np.asarray(old["layers_0"]["kernel"])
    )
    d = ifl.diagnose(module, params=r.params)
    assert d.layers[0].activation == "gelu_tanh" and d.layers[0].rule == "initref_gain"


def test_a_linen_module_that_is_not_sequential_needs_the_map() -> None:
    class Net(linen.Module):
        @linen.compact
        def __call__(self, x: Any) -> Any:
            x = jax.nn.relu(linen.Dense(64, name="hidden")(x))
            return linen.Dense(2, name="out")(x)

    variables = Net().init(jax.random.key(0), jnp.ones((1, 32)))
    with pytest.raises(ValueError, match=r"'hidden' \(the model is not a Sequential"):
        ifl.initialize(Net(), params=variables)
    r = ifl.initialize(Net(), params=variables, activations={"hidden": "relu", "out": "linear"})
    assert r.layers[0].std == math.sqrt(2 / 32)
    r = ifl.initialize(
        Net(),
        params=variables,
        activations={"hidden": "tanh"},
        default_activation="linear",
        bias_variance=0.05,
        critical=True,
    )
    point = constants.CRITICAL[("tanh", 0.05)][0]
    assert r.layers[0].weight_variance == point.weight_variance
    b = np.asarray(r.params["params"]["hidden"]["bias"])
    assert np.all(b != 0) and np.all(np.asarray(r.params["params"]["out"]["bias"]) == 0)
    with pytest.raises(ValueError, match="'hiden' name no initializable layer"):
        ifl.initialize(Net(), params=variables, activations={"hiden": "relu"})
    with pytest.raises(TypeError, match="not a Flax module"):
        ifl.initialize(object())


def test_zero_size_and_embedding() -> None:
    model = nnx.Sequential(
        nnx.Embed(100, 16, rngs=nnx.Rngs(0)),
        nnx.Linear(16, 0, kernel_init=nnx.initializers.zeros, rngs=nnx.Rngs(1)),
    )
    r = ifl.initialize(model)
    assert r.layers[0].fan_in == 1 and r.layers[0].std == 1.0
    assert r.layers[1].skipped == "skipped: zero-size"
    assert ifl.diagnose(model).skipped == ("layers/1",)
    m = common.moments_of(np.asarray(model.layers[0].embedding[...]))
    assert abs((m.rms - 1) / m.relative_se) < 4


# ---------------------------------------------------------------------------------------------
# any model, traced with inputs=
# ---------------------------------------------------------------------------------------------

# a sample std of n weights of a law with excess kurtosis k has the relative standard error
# sqrt((2 + k) / (4 n)); the band is 4 of them, and 4 of them must be under 1% (n >= 54 641)
T_W = 256


def _band(n: int) -> float:
    se = math.sqrt((2 + S2.excess_kurtosis) / (4 * n))
    assert 4 * se < 0.01, "too few weights to catch a 1% error in the std"
    return 4 * se


def _check_std(kernel: Any, fan_in: int, activation: str, factor: float, reported: float) -> None:
    expected = constants.GAINS[activation] / math.sqrt(fan_in) * factor
    assert reported == pytest.approx(expected, rel=1e-12)
    w = np.asarray(kernel, dtype=np.float64)
    measured = float(np.sqrt(np.mean(w * w)))
    assert abs(measured / expected - 1) < _band(w.size), (activation, measured, expected)


class _LinenBlock(linen.Module):
    @linen.compact
    def __call__(self, x: Any) -> Any:
        h = linen.relu(linen.Dense(T_W, use_bias=False, name="inner")(x))
        return x + linen.Dense(T_W, use_bias=False, name="outer")(h)


class _LinenNet(linen.Module):
    """tanh stem, two residual blocks x + Dense(relu(Dense(x))), a readout."""

    @linen.compact
    def __call__(self, x: Any) -> Any:
        x = jnp.tanh(linen.Dense(T_W, use_bias=False, name="stem")(x))
        x = _LinenBlock(name="block0")(x)
        x = _LinenBlock(name="block1")(x)
        return linen.Dense(10, name="head")(x)


def test_a_traced_linen_model_gets_each_layers_activation_std_and_residual_factor() -> None:
    x = jnp.ones((2, T_W))
    variables = _LinenNet().init(jax.random.key(0), x)
    r = ifl.initialize(_LinenNet(), params=variables, inputs=x, residual_scaling=True, seed=3)
    got = {y.name: (y.activation, y.found_by, y.residual_factor) for y in r.layers}
    half = 1 / math.sqrt(2)
    assert got == {
        "stem": ("tanh", "traced", 1.0),
        "block0/inner": ("relu", "traced", 1.0),
        "block0/outer": ("linear", "traced", half),
        "block1/inner": ("relu", "traced", 1.0),
        "block1/outer": ("linear", "traced", half),
        "head": ("linear", "traced", 1.0),
    }
    assert r.residual_adds == 2
    new = r.params["params"]
    for y in r.layers[:-1]:
        node = new
        for k in y.name.split("/"):
            node = node[k]
        _check_std(node["kernel"], T_W, y.activation, y.residual_factor, y.std)
    # without residual_scaling: the same activations, no factor; diagnose traces the same way
    plain = ifl.initialize(_LinenNet(), params=variables, inputs=x, seed=3)
    assert [y.residual_factor for y in plain.layers] == [1.0] * 6 and plain.residual_adds == 0
    d = ifl.diagnose(_LinenNet(), params=plain.params, inputs=x)
    assert [y.activation for y in d.layers] == [y.activation for y in plain.layers]
    assert d.layers[0].rule == "initref_gain"  # tanh's derived gain, after truncation


class _NnxNet(nnx.Module):
    """A custom module: Linear -> relu -> two residual blocks x + Linear(tanh(Linear(x))) ->
    Linear, with a LayerNorm and a Dropout between the first layer and its activation."""

    def __init__(self, rngs: Any) -> None:
        self.first = nnx.Linear(T_W, T_W, use_bias=False, rngs=rngs)
        self.norm = nnx.LayerNorm(T_W, rngs=rngs)
        self.drop = nnx.Dropout(0.1, rngs=rngs)
        self.blocks = nnx.List([nnx.Linear(T_W, T_W, use_bias=False, rngs=rngs) for _ in range(4)])
        self.last = nnx.Linear(T_W, 4, rngs=rngs)

    def __call__(self, x: Any) -> Any:
        x = nnx.relu(self.drop(self.norm(self.first(x))))
        for i in (0, 2):
            x = x + self.blocks[i + 1](jnp.tanh(self.blocks[i](x)))
        return self.last(x)


def test_a_traced_nnx_model_gets_each_layers_activation_std_and_residual_factor() -> None:
    model = _NnxNet(nnx.Rngs(0))
    sample = jax.ShapeDtypeStruct((3, T_W), jnp.float32)
    r = ifl.initialize(model, inputs=sample, residual_scaling=True, seed=5)
    got = {y.name: (y.activation, y.residual_factor) for y in r.layers}
    half = 1 / math.sqrt(2)
    assert got == {
        "first": ("relu", 1.0),
        "blocks/0": ("tanh", 1.0),
        "blocks/1": ("linear", half),
        "blocks/2": ("tanh", 1.0),
        "blocks/3": ("linear", half),
        "last": ("linear", 1.0),
    }
    assert r.residual_adds == 2
    by = {y.name: y for y in r.layers}
    _check_std(model.first.kernel[...], T_W, "relu", 1.0, by["first"].std)
    for i in range(4):
        y = by[f"blocks/{i}"]
        _check_std(model.blocks[i].kernel[...], T_W, y.activation, y.residual_factor, y.std)
    # the model still runs as it did (the trace used a copy)
    assert model(jnp.ones((1, T_W))).shape == (1, 4)


def test_every_tabulated_activation_is_recognized_from_its_primitives() -> None:
    acts: list[tuple[Any, str]] = [
        (nnx.relu, "relu"),
        (lambda x: jnp.maximum(x, 0.0), "relu"),
        (jnp.tanh, "tanh"),
        (jax.nn.sigmoid, "sigmoid"),
        (jax.nn.gelu, "gelu_tanh"),
        (functools.partial(jax.nn.gelu, approximate=False), "gelu"),
        (jax.nn.silu, "silu"),
        (lambda x: x * jax.nn.sigmoid(x), "silu"),
        (jax.nn.softplus, "softplus"),
        (jax.nn.elu, "elu"),
        (jax.nn.selu, "selu"),
        (jax.nn.leaky_relu, "leaky_relu"),
        (lambda x: jnp.where(x > 0, x, 0.2 * x), "leaky_relu(0.2)"),
        (jax.nn.mish, "mish"),
    ]

    class Chain(nnx.Module):
        def __init__(self) -> None:
            self.layers = nnx.List(
                [nnx.Linear(4, 4, rngs=nnx.Rngs(i)) for i in range(len(acts) + 1)]
            )

        def __call__(self, x: Any) -> Any:
            for layer, (fn, _) in zip(self.layers, acts, strict=False):
                x = fn(layer(x))
            return self.layers[-1](x)

    r = ifl.initialize(Chain(), inputs=jnp.ones((1, 4)))
    assert [y.activation for y in r.layers] == [name for _, name in acts] + ["linear"]
    assert r.layers[12].weight_variance == 2 / (1 + 0.2 * 0.2)


def test_an_unknown_activation_is_an_error_naming_the_layer_unless_given() -> None:
    class Net(linen.Module):
        @linen.compact
        def __call__(self, x: Any) -> Any:
            h = linen.Dense(8, name="hidden")(x)
            h = linen.Dense(8, name="odd")(jnp.sin(h))
            return linen.Dense(2, name="out")(jax.nn.elu(h, alpha=2.0))

    x = jnp.ones((1, 4))
    variables = Net().init(jax.random.key(0), x)
    with pytest.raises(
        ValueError, match=r"2 layers: 'hidden' \(its output reaches an elementwise .*sin"
    ) as info:
        ifl.initialize(Net(), params=variables, inputs=x)
    assert "'odd' (its output reaches" in str(info.value)
    r = ifl.initialize(
        Net(), params=variables, inputs=x, activations={"hidden": "tanh"}, default_activation=1.0
    )
    assert [(y.activation, y.found_by) for y in r.layers] == [
        ("tanh", "map"),
        ("gain=1.0", "default"),
        ("linear", "traced"),
    ]
    # an explicit entry wins over what is traced
    r = ifl.initialize(
        Net(),
        params=variables,
        inputs=x,
        activations={"hidden": "relu", "odd": "elu", "out": "tanh"},
    )
    assert [y.activation for y in r.layers] == ["relu", "elu", "tanh"]


def test_residual_scaling_needs_a_residual_addition_and_the_trace() -> None:
    model = nnx_mlp()
    with pytest.raises(ValueError, match="residual_scaling: True, but the model has no residual"):
        ifl.initialize(model, inputs=jnp.ones((1, W)), residual_scaling=True)

    class TwoBranches(nnx.Module):  # a + b of two layers of the same input: not residual
        def __init__(self) -> None:
            self.a = nnx.Linear(4, 4, rngs=nnx.Rngs(0))
            self.b = nnx.Linear(4, 4, rngs=nnx.Rngs(1))

        def __call__(self, x: Any) -> Any:
            return self.a(x) + self.b(x)

    with pytest.raises(ValueError, match="no residual addition"):
        ifl.initialize(TwoBranches(), inputs=jnp.ones((1, 4)), residual_scaling=True)
    with pytest.raises(ValueError, match="residual_scaling: True needs the traced forward pass"):
        ifl.initialize(TwoBranches(), residual_scaling=True)
    with pytest.raises(ValueError, match="inputs: tracing the model's call on them failed"):
        ifl.initialize(TwoBranches(), inputs=jnp.ones((1, 5)))
    with pytest.raises(TypeError, match="inputs: str holds no array"):
        ifl.initialize(TwoBranches(), inputs="x")


def test_the_trace_passes_normalization_pooling_dropout_and_ends_at_a_softmax() -> None:
    class CNN(linen.Module):
        @linen.compact
        def __call__(self, x: Any, train: bool) -> Any:
            x = linen.BatchNorm(use_running_average=not train)(linen.Conv(8, (3, 3), name="c0")(x))
            x = linen.Conv(8, (3, 3), name="c1")(linen.avg_pool(linen.relu(x), (2, 2)))
            x = jax.nn.gelu(linen.max_pool(x, (2, 2))).reshape((x.shape[0], -1))
            x = linen.Dense(4, name="d")(linen.Dropout(0.5, deterministic=not train)(x))
            return jax.nn.log_softmax(x)

    x = jnp.ones((2, 8, 8, 3))
    variables = CNN().init(jax.random.key(0), x, False)
    for train in (False, True):  # a flag in inputs= is passed as it is
        r = ifl.initialize(CNN(), params=variables, inputs=(x, train))
        assert [(y.name, y.activation) for y in r.layers] == [
            ("c0", "relu"),
            ("c1", "gelu_tanh"),
            ("d", "linear"),
        ]

    class Jitted(nnx.Module):  # nnx.jit copies the module inside the call
        def __init__(self) -> None:
            self.a = nnx.Linear(4, 4, rngs=nnx.Rngs(0))

        @nnx.jit
        def __call__(self, x: Any) -> Any:
            return jax.nn.softmax(jax.nn.silu(self.a(x)) @ jnp.ones((4, 3)))

    assert ifl.diagnose(Jitted(), inputs=jnp.ones((1, 4))).layers[0].activation == "silu"
