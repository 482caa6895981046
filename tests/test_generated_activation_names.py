"""The generated files read the gains table by exact name, as the CLI does.

`activation=` of numpy_init, torch_init, tf_init and jax_init, and constants.gain(), refuse a
name that is not a key of GAINS with the closest key and the list, and a non-string with a
TypeError naming the argument (before: `activation=["relu"]` raised "unhashable type: 'list'"
and `constants.gain(True)` returned 1.0).

Every name-taking argument of every file (activation, torch's nonlinearity, mode,
distribution, layout) gives the same one-line ValueError, "{argument}: {value} is not ...;
did you mean {name}? (accepted: {names})": the hint names the accepted name equal up to case
and spaces, a well-known synonym with the reason (swish -> silu: swish with beta=1 is silu;
no synonym is accepted), or the closest name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.conftest import load_generated, require

FRAMEWORK = {
    "numpy_init": "numpy",
    "torch_init": "torch",
    "tf_init": "tensorflow",
    "jax_init": "jax",
}


def _module(name: str) -> ModuleType:
    require(FRAMEWORK[name])
    return load_generated(name)


@pytest.mark.parametrize("name", sorted(FRAMEWORK))
@pytest.mark.parametrize(
    ("activation", "hint"),
    [("GELU", "did you mean 'gelu'?"), ("relu ", "did you mean 'relu'?"), ("siluu", "'silu'")],
)
def test_unknown_activation_names_the_closest_built_in(
    name: str, activation: str, hint: str
) -> None:
    mod = _module(name)
    with pytest.raises(ValueError) as info:
        mod.activation_scale(1.0, activation)
    message = str(info.value)
    assert message.startswith(f"activation: {activation!r} is not a built-in; ") and hint in message
    assert message.endswith(f"(accepted: {', '.join(map(repr, mod.GAINS))})")


@pytest.mark.parametrize("name", sorted(FRAMEWORK))
@pytest.mark.parametrize("bad", [["relu"], True, 2.0])
def test_non_string_activation_is_a_type_error_naming_it(name: str, bad: object) -> None:
    mod = _module(name)
    with pytest.raises(TypeError, match=r"^activation: .* is not a string"):
        mod.activation_scale(1.0, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(FRAMEWORK))
def test_every_built_in_name_is_accepted(name: str) -> None:
    mod = _module(name)
    for key in mod.GAINS:
        assert mod.activation_scale(2.0, key) == 2.0 * mod.VARIANCE_GAINS[key]


def test_constants_gain_rejects_bools_and_suggests_names() -> None:
    constants = load_generated("constants")
    assert constants.gain("relu") == constants.GAINS["relu"] and constants.gain(1.5) == 1.5
    with pytest.raises(ValueError, match="True is not in the table"):
        constants.gain(True)
    with pytest.raises(ValueError, match="did you mean 'tanh'"):
        constants.gain("Tanh")


SYNONYM_CASES = [
    ("swish", "'silu'? (swish with beta=1 is silu)"),
    ("Swish", "'silu'? (swish with beta=1 is silu)"),
    ("gelu_new", "'gelu_tanh'? (the tanh approximation of GELU is gelu_tanh)"),
    ("gelu_pytorch_tanh", "'gelu_tanh'? (the tanh approximation of GELU is gelu_tanh)"),
    ("approximate_gelu", "'gelu_tanh'? (the tanh approximation of GELU is gelu_tanh)"),
    ("gelu_erf", "'gelu'? (the erf form of GELU is gelu)"),
    ("lrelu", "'leaky_relu'? (leaky_relu is the leaky ReLU of slope 0.01)"),
    ("LeakyReLU", "'leaky_relu'? (leaky_relu is the leaky ReLU of slope 0.01)"),
    ("leaky-relu", "'leaky_relu'?"),
    ("identity", "'linear'? (the identity is linear)"),
    ("logistic", "'sigmoid'? (the logistic function is sigmoid)"),
]


@pytest.mark.parametrize("name", sorted(FRAMEWORK))
@pytest.mark.parametrize(("activation", "hint"), SYNONYM_CASES)
def test_well_known_synonyms_are_refused_naming_the_built_in_and_why(
    name: str, activation: str, hint: str
) -> None:
    mod = _module(name)
    with pytest.raises(ValueError) as info:
        mod.activation_scale(1.0, activation)
    assert str(info.value).startswith(
        f"activation: {activation!r} is not a built-in; did you mean {hint}"
    ), str(info.value)


def test_constants_gain_names_the_synonyms_built_in_too() -> None:
    constants = load_generated("constants")
    with pytest.raises(ValueError, match=r"did you mean 'silu'\? \(swish with beta=1 is silu\)"):
        constants.gain("swish")


@pytest.mark.parametrize("name", [*sorted(FRAMEWORK), "constants"])
def test_the_synonyms_are_no_built_ins_and_each_names_one(name: str) -> None:
    from derive.maths.activations import SYNONYMS

    mod = load_generated(name) if name == "constants" else _module(name)
    assert mod._SYNONYMS == SYNONYMS
    for synonym, (target, _) in mod._SYNONYMS.items():
        assert synonym not in mod.GAINS and target in mod.GAINS, synonym


def _name_calls(name: str) -> list[tuple[str, str, str, Callable[[], object]]]:
    """(argument, bad value, the hinted name, a call passing that value) of one file."""
    mod = _module(name)
    if name == "numpy_init":
        return [
            ("mode", "FAN_IN", "fan_in", lambda: mod.variance_scaling((4, 3), mode="FAN_IN")),
            ("layout", "in-out", "in_out", lambda: mod.he_normal((4, 3), layout="in-out")),
            (
                "distribution",
                "uniformm",
                "uniform",
                lambda: mod.variance_scaling((4, 3), distribution="uniformm"),
            ),
            (
                "distribution",
                "Truncated_Normal",
                "truncated_normal",
                lambda: mod.he_normal((4, 3), distribution="Truncated_Normal"),
            ),
        ]
    if name == "torch_init":
        import torch

        w = torch.empty(3, 4)
        return [
            ("nonlinearity", "Relu", "relu", lambda: mod.he_normal_(w, nonlinearity="Relu")),
            (
                "nonlinearity",
                "swish",
                "silu",
                lambda: mod.he_uniform_(w, nonlinearity="swish"),
            ),
            (
                "nonlinearity",
                "conv_2d",
                "conv2d",
                lambda: mod.he_normal_(w, nonlinearity="conv_2d"),
            ),
            ("mode", "fan-out", "fan_out", lambda: mod.variance_scaling_(w, mode="fan-out")),
            (
                "distribution",
                "untruncated",
                "untruncated_normal",
                lambda: mod.glorot_normal_(w, distribution="untruncated"),
            ),
        ]
    if name == "tf_init":
        return [
            ("mode", "Fan_Avg", "fan_avg", lambda: mod.VarianceScaling(mode="Fan_Avg")),
            (
                "distribution",
                "truncated_norm",
                "truncated_normal",
                lambda: mod.HeNormal(distribution="truncated_norm"),
            ),
        ]
    return [
        ("mode", "fan_geo", "fan_geo_avg", lambda: mod.variance_scaling(1.0, "fan_geo", "normal")),
        (
            "distribution",
            "Uniform",
            "uniform",
            lambda: mod.variance_scaling(1.0, "fan_in", "Uniform"),
        ),
        (
            "distribution",
            "untruncated",
            "untruncated_normal",
            lambda: mod.he_normal(distribution="untruncated"),
        ),
    ]


@pytest.mark.parametrize("name", sorted(FRAMEWORK))
def test_every_name_taking_argument_names_the_closest_accepted_name(name: str) -> None:
    for argument, value, hinted, call in _name_calls(name):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        kind = "a built-in" if argument == "nonlinearity" else "known"
        assert message.startswith(
            f"{argument}: {value!r} is not {kind}; did you mean {hinted!r}?"
        ), message
        assert "\n" not in message and re.search(r" \(accepted: '.+'(; .+)?\)$", message), message
