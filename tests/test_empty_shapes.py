"""A weight with a 0 dimension is a no-op in numpy_init and tf_init.

Every initializer given a shape with a 0 dimension returns an empty array of that shape and
dtype, without error or warning, whatever its fans (fan_in, fan_out or both may be 0 there:
a layer with no inputs or no outputs) -- as NumPy's, Keras's and PyTorch's own samplers do
for an empty shape.  The arguments are still checked (a bad mode, layout or rank is still
an error).  Before, variance_scaling and every named rule refused a zero fan.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.conftest import load_generated, require

# [..., in, out]: in = 0, out = 0, both, a zero kernel axis, a zero leading axis, rank 1
SHAPES = [(0, 4), (4, 0), (0, 0), (3, 3, 0, 4), (0, 3, 4, 5), (3, 0, 5), (4, 5, 3, 0), (0,)]
CUTOFFS = [(-2.0, 2.0), (3.0, 4.0), (-math.inf, math.inf)]


def _quietly(call: Callable[[], Any]) -> Any:
    """call() with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


def _numpy_calls(ni: ModuleType, shape: tuple[int, ...]) -> list[tuple[str, Callable[[], Any]]]:
    calls: list[tuple[str, Callable[[], Any]]] = []
    layouts = ["in_out"] + (["out_in"] if len(shape) >= 2 else [])
    for layout in layouts:
        for mode in ni.MODES:
            for distribution in ni.DISTRIBUTIONS:
                for dtype in (np.float32, np.complex64):
                    calls.append(
                        (
                            f"variance_scaling {layout} {mode} {distribution} {dtype.__name__}",
                            lambda layout=layout, mode=mode, d=distribution, t=dtype: (
                                ni.variance_scaling(
                                    shape, mode=mode, distribution=d, layout=layout, dtype=t, rng=1
                                )
                            ),
                        )
                    )
        for rule in ("he", "glorot", "lecun"):
            for law in ("normal", "uniform"):
                calls.append(
                    (
                        f"{rule}_{law} {layout}",
                        lambda name=f"{rule}_{law}", layout=layout: getattr(ni, name)(
                            shape, layout=layout, dtype=np.float64, rng=1
                        ),
                    )
                )
        if len(shape) >= 2:
            calls.append(("orthogonal", lambda layout=layout: ni.orthogonal(shape, layout=layout)))
        if 3 <= len(shape) <= 5:
            calls.append(
                (
                    "delta_orthogonal",
                    lambda layout=layout: ni.delta_orthogonal(shape, layout=layout),
                )
            )
    for lower, upper in CUTOFFS:
        calls.append(
            (
                f"truncated_normal {lower} {upper}",
                lambda lo=lower, hi=upper: ni.truncated_normal(shape, std=1.0, lower=lo, upper=hi),
            )
        )
    return calls


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_numpy_initializers_return_an_empty_array_for_a_zero_dimension(
    shape: tuple[int, ...],
) -> None:
    ni = load_generated("numpy_init")
    for name, call in _numpy_calls(ni, shape):
        out = _quietly(call)
        assert isinstance(out, np.ndarray) and out.shape == shape and out.size == 0, name


def test_numpy_still_checks_the_arguments_of_an_empty_weight() -> None:
    ni = load_generated("numpy_init")
    with pytest.raises(ValueError, match=r"^mode: 'fan' is not known"):
        ni.variance_scaling((0, 4), mode="fan")
    with pytest.raises(ValueError, match=r"^layout: 'oi' is not known"):
        ni.he_normal((0, 4), layout="oi")
    with pytest.raises(ValueError, match=r"^shape: \(0,\) has 1 dimensions"):
        ni.he_normal((0,), layout="out_in")
    with pytest.raises(TypeError, match=r"^dtype: int64 is not supported"):
        ni.he_normal((0, 4), dtype=np.int64)
    with pytest.raises(ValueError, match=r"^shape: \(-1, 4\) \(accepted: non-negative"):
        ni.he_normal((-1, 4))
    # the fans of an empty weight are still reported as what they are
    with pytest.raises(ValueError, match=r"^shape: fan_in is 0 for shape \(0, 4\)"):
        ni.variance_scaling_std((0, 4))


def _tf_calls(tfi: ModuleType, keras: ModuleType) -> list[tuple[str, Callable[[], Any]]]:
    calls: list[tuple[str, Callable[[], Any]]] = []
    for mode in tfi._MODES:
        for distribution in tfi._DISTRIBUTIONS:
            for lower, upper in CUTOFFS if distribution == "truncated_normal" else CUTOFFS[:1]:
                calls.append(
                    (
                        f"VarianceScaling {mode} {distribution} {lower} {upper}",
                        lambda m=mode, d=distribution, lo=lower, hi=upper: tfi.VarianceScaling(
                            mode=m, distribution=d, lower=lo, upper=hi, seed=1
                        ),
                    )
                )
    calls.append(
        (
            "VarianceScaling SeedGenerator",
            lambda: tfi.VarianceScaling(seed=keras.random.SeedGenerator(2)),
        )
    )
    for rule in ("He", "Glorot", "Lecun"):
        for law in ("Normal", "Uniform"):
            calls.append((rule + law, lambda name=rule + law: getattr(tfi, name)(seed=1)))
    for lower, upper in CUTOFFS:
        calls.append(
            (
                f"TruncatedNormal {lower} {upper}",
                lambda lo=lower, hi=upper: tfi.TruncatedNormal(seed=1, lower=lo, upper=hi),
            )
        )
    return calls


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_keras_initializers_return_an_empty_tensor_for_a_zero_dimension(
    shape: tuple[int, ...],
) -> None:
    keras = require("keras")
    require("tensorflow")
    tfi = load_generated("tf_init")
    makers = _tf_calls(tfi, keras)
    if len(shape) >= 2:
        makers.append(("Orthogonal", lambda: tfi.Orthogonal(seed=1)))
    if 3 <= len(shape) <= 5:
        makers.append(("DeltaOrthogonal", lambda: tfi.DeltaOrthogonal(seed=1)))
    for dtype in ("float32", "bfloat16"):
        for name, make in makers:
            out = _quietly(lambda make=make, dtype=dtype: make()(shape, dtype=dtype))
            assert tuple(out.shape) == shape and out.dtype.name == dtype, (name, dtype)


def test_an_empty_keras_draw_advances_a_seed_generator_as_keras_does() -> None:
    """An empty draw is still Keras's draw: a SeedGenerator moves on as it would in Keras."""
    keras = require("keras")
    require("tensorflow")
    tfi = load_generated("tf_init")
    ours = tfi.HeNormal(seed=keras.random.SeedGenerator(5))
    theirs = keras.initializers.HeNormal(seed=keras.random.SeedGenerator(5))
    for shape in [(0, 8), (16, 8)]:
        np.testing.assert_array_equal(np.asarray(ours(shape)), np.asarray(theirs(shape)))
