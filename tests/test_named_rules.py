"""The named rules' signatures.

* torch_init's he_normal_ / he_uniform_ take torch.nn.init.kaiming_normal_'s and
  kaiming_uniform_'s arguments in their order -- (tensor, a, mode, nonlinearity, generator) --
  and draw the same bits where the law is the same (untruncated; nonlinearity relu,
  leaky_relu with any slope a, linear and torch's conv names).  Other nonlinearities take the
  derived gain; a slope a that would be ignored is an error.
* In all four files the named rules (he / glorot / lecun x normal / uniform) take
  ``activation=`` and ``gain=``, which replace the rule's own gain: he_normal(activation=X)
  draws what variance_scaling(scale=1, activation=X) draws, and the rule's own gain by name
  (relu for He, linear for Glorot and LeCun) draws the plain rule's bits.
"""

from __future__ import annotations

import decimal
import inspect
import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from derive.maths.gains import gains
from tests.conftest import load_generated, require


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return require("torch")


@pytest.fixture(scope="module")
def ti(torch: ModuleType) -> ModuleType:
    return load_generated("torch_init")


def _gen(torch: ModuleType, seed: int) -> Any:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- torch drop-in


@pytest.mark.parametrize("name", ["normal", "uniform"])
def test_he_takes_kaimings_arguments_in_kaimings_order(
    torch: ModuleType, ti: ModuleType, name: str
) -> None:
    ours = inspect.signature(getattr(ti, f"he_{name}_")).parameters
    theirs = inspect.signature(getattr(torch.nn.init, f"kaiming_{name}_")).parameters
    assert list(ours)[:5] == list(theirs) == ["tensor", "a", "mode", "nonlinearity", "generator"]
    for p in list(ours.values())[:5]:
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert ours["a"].default == theirs["a"].default == 0 and ours["mode"].default == "fan_in"


KAIMING_CASES = [
    (0, "fan_in", "leaky_relu"),  # torch's defaults: ReLU
    (0, "fan_out", "relu"),
    (0.01, "fan_in", "leaky_relu"),
    (0.2, "fan_out", "leaky_relu"),
    (math.sqrt(5.0), "fan_in", "leaky_relu"),  # nn.Linear's and nn.Conv's default init
    (-0.3, "fan_in", "leaky_relu"),
    (3, "fan_in", "leaky_relu"),
    (0, "fan_in", "linear"),
    (0, "fan_out", "conv2d"),
    (0, "fan_in", "conv_transpose3d"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(64, 32), (16, 8, 3, 3), (7, 5, 2)], ids=str)
@pytest.mark.parametrize(("a", "mode", "nonlinearity"), KAIMING_CASES, ids=str)
def test_he_normal_and_he_uniform_draw_kaimings_bits_given_kaimings_positional_arguments(
    torch: ModuleType,
    ti: ModuleType,
    a: float,
    mode: str,
    nonlinearity: str,
    shape: tuple[int, ...],
    dtype: str,
) -> None:
    kind = getattr(torch, dtype)
    ours, theirs = torch.empty(shape, dtype=kind), torch.empty(shape, dtype=kind)
    ti.he_normal_(ours, a, mode, nonlinearity, _gen(torch, 3), distribution="untruncated_normal")
    torch.nn.init.kaiming_normal_(theirs, a, mode, nonlinearity, _gen(torch, 3))
    assert torch.equal(ours, theirs)
    ti.he_uniform_(ours, a, mode, nonlinearity, _gen(torch, 4))
    torch.nn.init.kaiming_uniform_(theirs, a, mode, nonlinearity, _gen(torch, 4))
    assert torch.equal(ours, theirs)
    # and by name
    ti.he_uniform_(ours, a=a, mode=mode, nonlinearity=nonlinearity, generator=_gen(torch, 5))
    torch.nn.init.kaiming_uniform_(
        theirs, a=a, mode=mode, nonlinearity=nonlinearity, generator=_gen(torch, 5)
    )
    assert torch.equal(ours, theirs)


def test_the_defaults_are_kaimings_under_the_global_generator(
    torch: ModuleType, ti: ModuleType
) -> None:
    ours, theirs = torch.empty(96, 40), torch.empty(96, 40)
    torch.manual_seed(8)
    ti.he_uniform_(ours)
    torch.manual_seed(8)
    torch.nn.init.kaiming_uniform_(theirs)
    assert torch.equal(ours, theirs)
    torch.manual_seed(9)
    ti.he_normal_(ours, 0, "fan_in", distribution="untruncated_normal")  # the reported call
    torch.manual_seed(9)
    torch.nn.init.kaiming_normal_(theirs, 0, "fan_in")
    assert torch.equal(ours, theirs)


def test_the_truncated_default_keeps_its_bits(torch: ModuleType, ti: ModuleType) -> None:
    """he_normal_(w) (truncated at +-2) draws what variance_scaling_(w, scale=2) draws."""
    ours, ref = torch.empty(64, 48), torch.empty(64, 48)
    ti.he_normal_(ours, generator=_gen(torch, 6))
    ti.variance_scaling_(ref, scale=2.0, generator=_gen(torch, 6))
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("slope", ["0", "0.01", "0.2", "1", "2.2360679774997896", "3"])
def test_the_leaky_relu_gain_is_the_derived_one_within_2_ulps(ti: ModuleType, slope: str) -> None:
    exact = float(gains("leaky_relu", decimal.Decimal(slope), 30).forward_gain)
    assert ti._he_gain(float(slope), "leaky_relu", None, None) == pytest.approx(exact, rel=4.5e-16)


@pytest.mark.parametrize("name", ["gelu", "silu", "tanh", "sigmoid", "selu", "elu", "relu"])
def test_other_nonlinearities_take_the_derived_gain(
    torch: ModuleType, ti: ModuleType, name: str
) -> None:
    ours, ref = torch.empty(64, 48), torch.empty(64, 48)
    ti.he_normal_(ours, nonlinearity=name, generator=_gen(torch, 7))
    ti.variance_scaling_(ref, activation=name, generator=_gen(torch, 7))
    assert torch.equal(ours, ref)
    assert ti._he_gain(0, name, None, None) == ti.GAINS[name]


def test_tanh_takes_the_derived_gain_not_torchs_five_thirds(
    torch: ModuleType, ti: ModuleType
) -> None:
    w = torch.empty(512, 2048, dtype=torch.float64)  # fan_in 2048, 2**20 values
    ti.he_normal_(w, 0, "fan_in", "tanh", _gen(torch, 8), distribution="untruncated_normal")
    std = float(w.std()) * math.sqrt(2048)
    # SE of the std: std / sqrt(2 n) = 0.07%; 5/3 is 4.7% above the derived 1.5925
    assert std == pytest.approx(ti.GAINS["tanh"], rel=0.005)
    assert abs(std - 5.0 / 3.0) > 0.05


SWISH = "nonlinearity: 'swish' is not a built-in"
BAD_GAIN_CALLS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"a": 0.1, "nonlinearity": "relu"}, ValueError, "a: 0.1 is the leaky_relu slope"),
    ({"a": 0.1, "activation": "gelu"}, ValueError, "a: 0.1 is the leaky_relu slope"),
    ({"a": 0.2, "gain": 1.5}, ValueError, "a: 0.2 is the leaky_relu slope"),
    ({"nonlinearity": "relu", "activation": "relu"}, ValueError, "nonlinearity, activation:"),
    ({"nonlinearity": "tanh", "gain": 1.5}, ValueError, "nonlinearity, gain:"),
    ({"activation": "gelu", "gain": 1.5}, ValueError, "activation, gain:"),
    ({"nonlinearity": "swish"}, ValueError, f"{SWISH}; did you mean 'silu'? (swish with beta=1"),
    (
        {"nonlinearity": "ReLU"},
        ValueError,
        "nonlinearity: 'ReLU' is not a built-in; did you mean 'relu'?",
    ),
    ({"activation": "gelu2"}, ValueError, "activation: 'gelu2' is not a built-in; did you mean"),
    ({"a": True}, TypeError, "a: True is not a real number"),
    ({"a": "0.2"}, TypeError, "a: '0.2' is not a real number"),
    ({"a": math.nan}, ValueError, "a: nan is out of range"),
    ({"a": 1e200}, ValueError, "a: 1e+200 is out of range"),
    ({"gain": 0.0}, ValueError, "gain: 0.0 is out of range"),
]


@pytest.mark.parametrize(("kwargs", "error", "start"), BAD_GAIN_CALLS, ids=str)
@pytest.mark.parametrize("name", ["he_normal_", "he_uniform_"])
def test_an_ignored_slope_and_conflicting_gains_are_errors(
    torch: ModuleType,
    ti: ModuleType,
    name: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    start: str,
) -> None:
    w = torch.zeros(8, 4)
    with pytest.raises(error) as info:
        getattr(ti, name)(w, **kwargs)
    message = str(info.value)
    assert message.startswith(start) and "\n" not in message and "(accepted: " in message
    assert bool((w == 0).all())


# --------------------------------------------------------------------------- activation / gain

RULES = [("he", 2.0, "fan_in"), ("glorot", 1.0, "fan_avg"), ("lecun", 1.0, "fan_in")]


@pytest.mark.parametrize(("rule", "scale", "mode"), RULES)
@pytest.mark.parametrize("law", ["normal", "uniform"])
@pytest.mark.parametrize("framework", ["numpy", "torch", "tf", "jax"])
def test_named_rules_take_activation_and_gain_in_place_of_their_own_gain(
    framework: str, rule: str, scale: float, mode: str, law: str
) -> None:
    distribution = "truncated_normal" if law == "normal" else "uniform"
    draw = _drawer(framework)
    g = 1.25  # g * g = 1.5625 exactly: the gain's scale has no rounding
    cases = [
        ({}, {"scale": scale}),
        ({"activation": "gelu"}, {"scale": 1.0, "activation": "gelu"}),
        ({"gain": g}, {"scale": g * g}),
    ]
    for rule_kwargs, reference_kwargs in cases:
        ours = draw(f"{rule}_{law}", rule_kwargs)
        ref = draw(
            "variance_scaling", {"mode": mode, "distribution": distribution, **reference_kwargs}
        )
        np.testing.assert_array_equal(ours, ref, err_msg=str(rule_kwargs))


def _drawer(framework: str) -> Any:
    """A function (name, kwargs) -> float64 array drawing with a fixed seed from one file."""
    if framework == "numpy":
        npi = load_generated("numpy_init")
        return lambda name, kw: getattr(npi, name)((40, 24), dtype=np.float64, rng=1, **kw)
    if framework == "torch":
        torch = require("torch")
        ti = load_generated("torch_init")

        def fill(name: str, kw: dict[str, Any]) -> np.ndarray:
            w = torch.empty(24, 40, dtype=torch.float64)
            fill_ = getattr(ti, f"{name}_")
            return fill_(w, generator=torch.Generator().manual_seed(1), **kw).numpy()

        return fill
    if framework == "jax":
        jax = require("jax")
        ji = load_generated("jax_init")

        def init(name: str, kw: dict[str, Any]) -> np.ndarray:
            kw = dict(kw)
            if name == "variance_scaling":
                made = ji.variance_scaling(
                    kw.pop("scale"), kw.pop("mode"), kw.pop("distribution"), **kw
                )
            else:
                made = getattr(ji, name)(**kw)
            return np.asarray(made(jax.random.key(1), (40, 24)))

        return init
    require("tensorflow")
    tfi = load_generated("tf_init")
    classes = {"variance_scaling": tfi.VarianceScaling}
    for rule, _, _ in RULES:
        for law in ("normal", "uniform"):
            classes[f"{rule}_{law}"] = getattr(tfi, f"{rule.capitalize()}{law.capitalize()}")
    return lambda name, kw: np.asarray(classes[name](seed=1, **kw)((40, 24), dtype="float64"))


def test_keras_named_rules_keep_activation_and_gain_through_their_config() -> None:
    require("tensorflow")
    tfi = load_generated("tf_init")
    for cls, kw in [
        (tfi.HeNormal, {"activation": "gelu", "lower": -3.0, "upper": 3.0}),
        (tfi.GlorotUniform, {"gain": 1.25}),
        (tfi.LecunNormal, {"activation": "selu", "distribution": "untruncated_normal"}),
    ]:
        init = cls(seed=4, **kw)
        clone = cls.from_config(init.get_config())
        assert clone.get_config() == init.get_config()
        np.testing.assert_array_equal(np.asarray(clone((16, 8))), np.asarray(init((16, 8))))


# ---------------------------------------------------------------------------
# activation= scales by the correctly rounded g**2, not fl(g) * fl(g)
# ---------------------------------------------------------------------------


FRAMEWORK_OF = {
    "numpy_init": "numpy",
    "torch_init": "torch",
    "tf_init": "tensorflow",
    "jax_init": "jax",
}


@pytest.mark.parametrize("name", sorted(FRAMEWORK_OF))
def test_variance_gains_are_the_correctly_rounded_inverse_second_moments(name: str) -> None:
    require(FRAMEWORK_OF[name])
    module = load_generated(name)
    import mpmath

    assert list(module.VARIANCE_GAINS) == list(module.GAINS)
    for activation, value in module.VARIANCE_GAINS.items():
        g = gains(activation, None, 30)
        with mpmath.workdps(40):
            assert value == float(1 / g.second_moment), activation
    # fl(sqrt 2)**2 = 2.0000000000000004: squaring the tabulated gain would be an ulp off
    assert module.GAINS["relu"] ** 2 != 2.0 and module.VARIANCE_GAINS["relu"] == 2.0


def test_he_normal_with_activation_relu_draws_the_bits_of_plain_he_normal() -> None:
    numpy_init = load_generated("numpy_init")
    for shape in [(3, 5), (7, 11), (64, 3)]:  # fans for which 2.0000000000000004/fan rounds apart
        plain = numpy_init.he_normal(shape, rng=np.random.default_rng(5))
        relu = numpy_init.he_normal(shape, activation="relu", rng=np.random.default_rng(5))
        assert np.array_equal(plain, relu), shape


@pytest.mark.parametrize(
    ("rule", "own"), [("he", "relu"), ("glorot", "linear"), ("lecun", "linear")]
)
@pytest.mark.parametrize("law", ["normal", "uniform"])
def test_jax_named_rules_with_their_own_activation_draw_jaxs_bits(
    rule: str, own: str, law: str
) -> None:
    """jax_init.he_normal(activation="relu") (and glorot / lecun with "linear") draws the bits
    of the plain rule and of jax.nn.initializers' rule, as VARIANCE_GAINS holds 2 and 1
    exactly; a different activation or gain changes the draw."""
    jax = require("jax")
    ji = load_generated("jax_init")
    key, shape = jax.random.key(11), (3, 3, 20, 12)
    make = getattr(ji, f"{rule}_{law}")
    plain = np.asarray(make()(key, shape))
    np.testing.assert_array_equal(np.asarray(make(activation=own)(key, shape)), plain)
    theirs = getattr(jax.nn.initializers, f"{rule}_{law}")()
    np.testing.assert_array_equal(np.asarray(theirs(key, shape)), plain)
    other = np.asarray(make(activation="gelu")(key, shape))
    assert not np.array_equal(other, plain)
    np.testing.assert_allclose(other, plain * (ji.GAINS["gelu"] / ji.GAINS[own]), rtol=2e-6)


def test_jax_named_rules_refuse_activation_and_gain_together() -> None:
    require("jax")
    ji = load_generated("jax_init")
    for make in (ji.he_normal, ji.glorot_uniform, ji.lecun_normal):
        with pytest.raises(ValueError, match=r"^activation, gain: 'gelu' and 1.5 both given"):
            make(activation="gelu", gain=1.5)
        with pytest.raises(ValueError, match=r"^activation: 'Gelu' is not a built-in; did you"):
            make(activation="Gelu")
        with pytest.raises(ValueError, match=r"^gain: 0.0 is out of range"):
            make(gain=0.0)
