"""The generated files read the gains table by exact name, as the CLI does (issue 9, item 1).

`activation=` of numpy_init, torch_init and tf_init, and constants.gain(), refuse a name that
is not a key of GAINS with the closest key and the list, and a non-string with a TypeError
naming the argument (before: `activation=["relu"]` raised "unhashable type: 'list'" and
`constants.gain(True)` returned 1.0).
"""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conftest import load_generated, require

FRAMEWORK = {"numpy_init": "numpy", "torch_init": "torch", "tf_init": "tensorflow"}


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
    assert ", ".join(mod.GAINS) in message


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
