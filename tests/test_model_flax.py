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
