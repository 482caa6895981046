"""The four generated initializers accept and reject the same arguments with the same words.

Numbers are real numbers: Python int and float, NumPy scalars and the file's own 0-d
framework scalars; bool, strings, containers, None and complex are a TypeError, values out of
range a ValueError.  One table runs against numpy_init, torch_init, tf_init and jax_init; for
every rejected value the four messages are the same line, "{argument}: {value} ... (accepted:
{range})" (jax_init's list of distributions also names JAX's "normal", which it accepts).
Seeds are Python or NumPy integers, never bool.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.conftest import load_generated, require

FRAMEWORKS = ("numpy", "torch", "tf", "jax")
SHAPE = (8, 4)  # numpy / Keras / JAX [in, out]; torch gets [out, in] (4, 8): fan_in 8 everywhere


@pytest.fixture(scope="module")
def modules() -> dict[str, ModuleType]:
    require("torch")
    require("tensorflow")
    require("jax")
    return {name: load_generated(f"{name}_init") for name in FRAMEWORKS}


def _draw(modules: dict[str, ModuleType], framework: str, **kwargs: Any) -> np.ndarray:
    """variance_scaling with ``kwargs`` in each file's idiom, seeded, as a NumPy array;
    ``mean`` and ``std`` go to the plain truncated-normal sampler instead."""
    plain = "mean" in kwargs
    if framework == "numpy":
        kwargs.setdefault("rng", 5)
        if plain:
            return modules["numpy"].truncated_normal(SHAPE, std=1.0, **kwargs)
        return modules["numpy"].variance_scaling(SHAPE, **kwargs)
    if framework == "torch":
        import torch

        w = torch.empty(SHAPE[::-1])
        kwargs.setdefault("generator", torch.Generator().manual_seed(5))
        if plain:
            return modules["torch"].truncated_normal_(w, std=1.0, **kwargs).numpy()
        return modules["torch"].variance_scaling_(w, **kwargs).numpy()
    if framework == "jax":
        import jax

        if plain:
            init = modules["jax"].truncated_normal(1.0, **kwargs)
        else:
            scale = kwargs.pop("scale", 1.0)
            mode = kwargs.pop("mode", "fan_in")
            distribution = kwargs.pop("distribution", "truncated_normal")
            init = modules["jax"].variance_scaling(scale, mode, distribution, **kwargs)
        return np.asarray(init(jax.random.key(5), SHAPE))
    kwargs.setdefault("seed", 5)
    if plain:
        init = modules["tf"].TruncatedNormal(stddev=1.0, **kwargs)
    else:
        init = modules["tf"].VarianceScaling(**kwargs)
    return np.asarray(init(SHAPE))


def _message(
    modules: dict[str, ModuleType], framework: str, error: type[Exception], **kwargs: Any
) -> str:
    with pytest.raises(error) as info:
        _draw(modules, framework, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- accepted numbers

ACCEPTED: list[tuple[str, Any]] = [
    ("scale", 2),
    ("scale", np.float32(2.0)),
    ("scale", np.float64(2.0)),
    ("scale", np.int64(2)),
    ("scale", np.uint8(2)),
    ("scale", Fraction(2)),
    ("lower", -3),
    ("lower", np.float32(-3.0)),
    ("lower", np.int16(-3)),
    ("upper", np.float64(math.inf)),
    ("gain", np.float32(1.5)),
    ("gain", 3),
    ("mean", np.float32(0.5)),
    ("mean", np.int32(-1)),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(("name", "value"), ACCEPTED, ids=lambda v: repr(v))
def test_python_and_numpy_real_numbers_draw_what_the_float_draws(
    modules: dict[str, ModuleType], framework: str, name: str, value: Any
) -> None:
    got = _draw(modules, framework, **{name: value})
    want = _draw(modules, framework, **{name: float(value)})
    np.testing.assert_array_equal(got, want)


def _framework_scalars(framework: str) -> tuple[list[Any], list[Any]]:
    """(0-d scalars worth 2, non-scalars and non-numbers) of a framework."""
    if framework == "numpy":
        return [np.array(2.0), np.array(2, dtype=np.int64)], [
            np.array([2.0]),
            np.array(True),
            np.array("2"),
        ]
    if framework == "torch":
        import torch

        return [torch.tensor(2.0), torch.tensor(2, dtype=torch.int32)], [
            torch.tensor([2.0]),
            torch.tensor(True),
            torch.tensor(2.0 + 0j),
        ]
    if framework == "jax":
        import jax.numpy as jnp

        return [jnp.array(2.0), jnp.array(2, dtype=jnp.int32)], [
            jnp.array([2.0]),
            jnp.array(True),
            jnp.array(2.0 + 0j),
        ]
    import tensorflow as tf

    return [tf.constant(2.0), tf.constant(2, dtype=tf.int64)], [
        tf.constant([2.0]),
        tf.constant(True),
        tf.constant("2"),
    ]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_frameworks_own_0d_scalars_are_numbers_and_its_arrays_are_not(
    modules: dict[str, ModuleType], framework: str
) -> None:
    scalars, others = _framework_scalars(framework)
    want = _draw(modules, framework, scale=2.0)
    for value in scalars:
        np.testing.assert_array_equal(_draw(modules, framework, scale=value), want)
    for value in others:
        message = _message(modules, framework, TypeError, scale=value)
        assert re.fullmatch(r"scale: .+ is not a real number \(accepted: .+\)", message), message


# --------------------------------------------------------------------------- rejected numbers

# (argument(s) named in the message, keyword arguments, error)
REJECTED: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("scale", {"scale": "2"}, TypeError),
    ("scale", {"scale": True}, TypeError),
    ("scale", {"scale": False}, TypeError),
    ("scale", {"scale": np.bool_(True)}, TypeError),
    ("scale", {"scale": None}, TypeError),
    ("scale", {"scale": b"2"}, TypeError),
    ("scale", {"scale": 2j}, TypeError),
    ("scale", {"scale": [2.0]}, TypeError),
    ("scale", {"scale": 0}, ValueError),
    ("scale", {"scale": -1.5}, ValueError),
    ("scale", {"scale": math.nan}, ValueError),
    ("scale", {"scale": math.inf}, ValueError),
    ("scale", {"scale": np.float32(0.0)}, ValueError),
    ("lower", {"lower": "-2"}, TypeError),
    ("lower", {"lower": True}, TypeError),
    ("upper", {"upper": "2"}, TypeError),
    ("upper", {"upper": np.bool_(False)}, TypeError),
    ("lower", {"lower": math.nan}, ValueError),
    ("upper", {"upper": np.float64(math.nan)}, ValueError),
    ("lower, upper", {"lower": 3}, ValueError),
    ("lower, upper", {"lower": 1.0, "upper": np.float32(1.0)}, ValueError),
    ("gain", {"gain": "1.5"}, TypeError),
    ("gain", {"gain": True}, TypeError),
    ("gain", {"gain": 0.0}, ValueError),
    ("gain", {"gain": -1}, ValueError),
    ("mean", {"mean": "0"}, TypeError),
    ("mean", {"mean": True}, TypeError),
    ("mean", {"mean": math.inf}, ValueError),
    ("mode", {"mode": "fan_sum"}, ValueError),
    ("mode", {"mode": 1}, ValueError),
    ("distribution", {"distribution": "cauchy"}, ValueError),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "error"), REJECTED, ids=[f"{r[0]}={list(r[1].values())!r}" for r in REJECTED]
)
def test_bad_numbers_raise_the_same_one_line_error_in_every_file(
    modules: dict[str, ModuleType], name: str, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    messages = {fw: _message(modules, fw, error, **kwargs) for fw in FRAMEWORKS}
    jax_message = messages.pop("jax")
    assert len(set(messages.values())) == 1, messages
    message = messages["numpy"]
    if name == "distribution":  # jax_init also accepts JAX's own "normal", and lists it
        message = message.replace(
            "'truncated_normal', 'untruncated_normal'",
            "'truncated_normal', 'normal', 'untruncated_normal'",
        )
    assert jax_message == message, (jax_message, message)
    message = messages["numpy"]
    assert "\n" not in message
    shown = re.escape(" ".join(repr(v) for v in kwargs.values()))
    if name == "lower, upper":
        shown = r"\(.+\)"
    assert re.fullmatch(rf"{re.escape(name)}: {shown} .+ \(accepted: .+\)", message), message


# --------------------------------------------------------------------------- radius


def _radius_message(
    modules: dict[str, ModuleType], framework: str, error: type[Exception], radius: Any
) -> str:
    """The error of the complex truncation radius ``radius`` in one file (no Keras twin)."""
    with pytest.raises(error) as info:
        if framework == "numpy":
            modules["numpy"].complex_variance_scaling((8, 4), radius=radius)
        elif framework == "torch":
            import torch

            w = torch.empty(4, 8, dtype=torch.complex64)
            modules["torch"].complex_variance_scaling_(w, radius=radius)
        else:
            modules["jax"].variance_scaling(1.0, "fan_in", "truncated_normal", radius=radius)
    return str(info.value)


@pytest.mark.parametrize(
    ("radius", "error"),
    [
        ("2", TypeError),
        (True, TypeError),
        (None, TypeError),
        (0, ValueError),
        (-1.5, ValueError),
        (math.nan, ValueError),
        (np.float32(0.0), ValueError),
    ],
    ids=repr,
)
def test_bad_radii_raise_the_same_one_line_error_in_every_file(
    modules: dict[str, ModuleType], radius: Any, error: type[Exception]
) -> None:
    messages = {fw: _radius_message(modules, fw, error, radius) for fw in ("numpy", "torch", "jax")}
    assert len(set(messages.values())) == 1, messages
    assert re.fullmatch(
        rf"radius: {re.escape(repr(radius))} .+ \(accepted: a real number, 0 < radius <= inf\)",
        messages["numpy"],
    ), messages


# --------------------------------------------------------------------------- seeds


def _seeded(modules: dict[str, ModuleType], framework: str, seed: Any) -> np.ndarray:
    if framework == "numpy":
        return modules["numpy"].he_normal(SHAPE, rng=seed)
    return np.asarray(modules["tf"].HeNormal(seed=seed)(SHAPE))


@pytest.mark.parametrize("framework", ["numpy", "tf"])
@pytest.mark.parametrize("seed", [np.int64(3), np.int32(3), np.uint16(3)], ids=repr)
def test_numpy_integer_seeds_draw_what_the_int_draws(
    modules: dict[str, ModuleType], framework: str, seed: Any
) -> None:
    np.testing.assert_array_equal(_seeded(modules, framework, seed), _seeded(modules, framework, 3))


def test_a_numpy_integer_seed_keeps_keras_parity_and_saves_as_an_int(
    modules: dict[str, ModuleType],
) -> None:
    keras = require("keras")
    init = modules["tf"].HeNormal(seed=np.int64(12))
    theirs = keras.initializers.HeNormal(seed=12)
    np.testing.assert_array_equal(np.asarray(init((30, 20))), np.asarray(theirs((30, 20))))
    assert init.get_config()["seed"] == 12 and type(init.get_config()["seed"]) is int


SEED_ARGUMENT = {"numpy": "rng", "tf": "seed"}


@pytest.mark.parametrize("framework", ["numpy", "tf"])
@pytest.mark.parametrize(
    ("seed", "error"),
    [(True, TypeError), (np.bool_(False), TypeError), (3.0, TypeError), ("3", TypeError)],
    ids=repr,
)
def test_bool_float_and_string_seeds_are_rejected(
    modules: dict[str, ModuleType], framework: str, seed: Any, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        _seeded(modules, framework, seed)
    name = SEED_ARGUMENT[framework]
    message = str(info.value)
    assert re.fullmatch(rf"{name}: {re.escape(repr(seed))} is not a seed \(accepted: .+\)", message)


def test_a_negative_numpy_seed_is_out_of_range(modules: dict[str, ModuleType]) -> None:
    with pytest.raises(ValueError, match=r"^rng: -1 is out of range \(accepted: .+\)$"):
        modules["numpy"].he_normal(SHAPE, rng=-1)


def test_torch_generator_must_be_a_torch_generator(modules: dict[str, ModuleType]) -> None:
    import torch

    w = torch.zeros(4, 8)
    for call in (
        lambda: modules["torch"].he_normal_(w, generator=3),
        lambda: modules["torch"].truncated_normal_(w, std=1.0, generator=np.random.default_rng()),
    ):
        with pytest.raises(TypeError, match=r"^generator: .+ is not a torch.Generator \(accepted"):
            call()
    assert bool((w == 0).all())


def test_long_values_are_shown_on_one_short_line(modules: dict[str, ModuleType]) -> None:
    big = np.arange(1000.0)
    calls: list[Callable[[], Any]] = [
        lambda: modules["numpy"].variance_scaling(SHAPE, scale=big),
        lambda: modules["tf"].VarianceScaling(scale=big),
    ]
    for call in calls:
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and len(message) < 140, message
