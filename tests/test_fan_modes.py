"""All four generated initializers accept the same fan modes, fan_geo_avg included.

``mode="fan_geo_avg"`` is jax.nn.initializers' fan = sqrt(fan_in * fan_out).  numpy_init,
torch_init and tf_init take it too, with the fans of the same weight read in their own
layout ([..., in, out] for NumPy, Keras and JAX; [out, in, *kernel] for PyTorch), and the
denominator equals, bit for bit, the one JAX's own _compute_fans and variance_scaling give.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import load_generated, require

# [*kernel, in, out] (JAX / Keras / NumPy layout); PyTorch's weight is [out, in, *kernel]
SHAPES = [(8, 4), (1, 1), (3, 3, 16, 32), (5, 7, 2, 3, 11), (2, 97, 1009)]
SCALES = [1.0, 2.0, 0.3]


@pytest.fixture(scope="module")
def modules() -> dict[str, ModuleType]:
    require("torch")
    require("tensorflow")
    require("jax")
    return {name: load_generated(f"{name}_init") for name in ("numpy", "torch", "tf", "jax")}


def _jax_denominator(shape: tuple[int, ...]) -> float:
    """JAX's own fan_geo_avg denominator: jax.nn.initializers' _compute_fans, then
    (fan_in * fan_out) ** 0.5 as its variance_scaling writes it."""
    from jax._src.nn.initializers import _compute_fans

    fan_in, fan_out = _compute_fans(shape)
    return float((fan_in * fan_out) ** 0.5)


def _torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The PyTorch weight [out, in, *kernel] of the JAX kernel [*kernel, in, out]."""
    return (shape[-1], shape[-2], *shape[:-2])


def test_every_file_accepts_the_same_modes(modules: dict[str, ModuleType]) -> None:
    want = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
    assert modules["numpy"].MODES == modules["torch"].MODES == want
    assert modules["tf"]._MODES == modules["jax"].MODES == want


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fan_geo_avg_is_jaxs_denominator_in_every_file(
    modules: dict[str, ModuleType], shape: tuple[int, ...]
) -> None:
    import torch

    denominator = _jax_denominator(shape)
    assert modules["jax"]._denominator(shape, "fan_geo_avg", -2, -1, ()) == denominator
    w = torch.empty(_torch_shape(shape))
    assert modules["torch"]._fan(w, "fan_geo_avg") == denominator
    for scale in SCALES:
        want = math.sqrt(scale / denominator)
        got = modules["numpy"].variance_scaling_std(shape, scale=scale, mode="fan_geo_avg")
        assert got == want
        tf_init = modules["tf"].VarianceScaling(scale=scale, mode="fan_geo_avg", seed=1)
        assert tf_init.moments(shape) == (0.0, want)


@pytest.mark.parametrize("shape", [(64, 16), (3, 3, 8, 32)], ids=str)
def test_fan_geo_avg_draws_use_that_denominator(
    modules: dict[str, ModuleType], shape: tuple[int, ...]
) -> None:
    """Uniform draws, bit for bit: U(-L, L), L = sqrt(3 scale / fan), fan from JAX's rule,
    against each framework's own uniform sampler fed that L (JAX: jax.nn.initializers)."""
    import jax
    import torch

    denominator, scale = _jax_denominator(shape), 2.0
    key = jax.random.key(3)
    ours = modules["jax"].variance_scaling(scale, "fan_geo_avg", "uniform")(key, shape)
    theirs = jax.nn.initializers.variance_scaling(scale, "fan_geo_avg", "uniform")(key, shape)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))

    limit = math.sqrt(3.0) * math.sqrt(scale / denominator)  # as numpy_init writes it
    rng = np.random.default_rng(4)
    want = rng.random(shape, dtype=np.float64) * (2.0 * limit) - limit
    got = modules["numpy"].variance_scaling(
        shape, scale=scale, mode="fan_geo_avg", distribution="uniform", dtype=np.float64, rng=4
    )
    np.testing.assert_array_equal(got, want)

    w, ref = torch.empty(_torch_shape(shape)), torch.empty(_torch_shape(shape))
    modules["torch"].variance_scaling_(
        w,
        scale=scale,
        mode="fan_geo_avg",
        distribution="uniform",
        generator=torch.Generator().manual_seed(5),
    )
    bound = math.sqrt(3.0) * (math.sqrt(scale) / math.sqrt(denominator))
    ref.uniform_(-bound, bound, generator=torch.Generator().manual_seed(5))
    assert torch.equal(w, ref)
    modules["torch"].he_uniform_(w, mode="fan_geo_avg", generator=torch.Generator().manual_seed(5))
    assert torch.equal(w, ref)  # He's gain sqrt(2): scale 2 written as torch writes it

    keras = require("keras")
    limit = math.sqrt(3.0 * (scale / denominator))  # as tf_init (and Keras) write it
    got_tf = modules["tf"].VarianceScaling(scale, "fan_geo_avg", "uniform", seed=6)(shape)
    want_tf = keras.random.uniform(shape, minval=-limit, maxval=limit, seed=6)
    np.testing.assert_array_equal(np.asarray(got_tf), np.asarray(want_tf))
