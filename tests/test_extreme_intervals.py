"""Extreme cutoffs through every generated module.

* A spec of extreme intervals renders constants.py and the three initializers; each module
  imports (constants.py once held ``correction=inf``, a NameError) and holds the correctly
  rounded float64 of every value: inf where a value overflows float64, 0.0 where it
  underflows.
* Intervals on which N(0, 1)'s density is constant to float64's resolution
  ([1e-300, 2e-300]: the float64 std underflowed to 0 and NumPy and PyTorch divided by it)
  are sampled as the uniform law they are, std = width / sqrt(12), by NumPy, PyTorch and
  Keras alike; cutoffs whose std after truncation is below float64's normal range are
  refused by all three with the same ValueError.

Sample checks use tests/stats.py: n = 2**20 draws, |z| < 6 for the mean and the variance,
with the uniform law's excess kurtosis -6/5 in the variance's standard error
sqrt((gamma_2 + 2) / n) = 0.087%: a 1% error in the std (2% in the variance, z ~ 23) cannot
pass, which each test shows on its own draws scaled by 1.01.
"""

from __future__ import annotations

import decimal
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from derive.emit.render import render
from derive.maths.truncnorm import truncnorm_moments
from derive.model.spec import parse_spec
from derive.model.tables import QUANTITIES, build_model
from tests.conftest import load_generated, require
from tests.stats import moment_z

EXTREME_SPEC = {
    "digits": 20,
    "gain_digits": 5,  # the gain table is not what this checks; 5 digits keep it fast
    "outputs": ["constants.py", "numpy_init.py", "tf_init.py", "torch_init.py"],
    "symmetric": {"start": "2", "stop": "2", "step": "1"},
    "intervals": [
        ["-1e-400", "1e-400"],  # correction 1.7e400 overflows; mass, std underflow
        ["1e-300", "2e-300"],  # correction 3.5e300: finite
        ["1e-320", "2e-320"],  # subnormal cutoffs and std
        ["1e100", "inf"],
        ["-inf", "-1e100"],  # mass ~ 10^-(2.2e199): 0.0
        ["-1000", "1000"],  # excess kurtosis ~ -5e-217139: -0.0
        ["1000", "1001"],
        ["0", "1e-400"],  # rounds to the floats [0.0, 0.0], as [-1e-400, 1e-400] does
        ["-0.1", "0.1"],  # not binary-exact: the float table holds [fl(-0.1), fl(0.1)]
        ["-0.1000000000000000000001", "0.1"],  # the same float key as the row above
    ],
}


@pytest.fixture(scope="module")
def extreme_modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = parse_spec(EXTREME_SPEC)
    model = build_model(spec)
    out = tmp_path_factory.mktemp("extreme")
    for name, text in render(model, spec.outputs).items():
        (out / name).write_text(text, encoding="utf-8")
    return {"dir": out, "rows": model["intervals"]}


def _import(path: Path) -> ModuleType:
    """Import a rendered module.  A tf_init registers its classes in Keras's process-wide
    registry of custom objects under "initref>Name"; that registry is restored afterwards, so
    this copy never stands in for generated/tf_init.py in another test of the same process."""
    spec = importlib.util.spec_from_file_location(f"initref_extreme_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    if path.stem != "tf_init":
        spec.loader.exec_module(module)
        return module
    import keras

    registry = keras.saving.get_custom_objects()
    saved = dict(registry)
    try:
        spec.loader.exec_module(module)
    finally:
        registry.clear()
        registry.update(saved)
    return module


def _exact(lower: object, upper: object) -> dict[str, float]:
    """The correctly rounded float64 of each quantity (mpf -> float rounds to nearest)."""
    m = truncnorm_moments(lower, upper, 20).as_dict()
    return {q: float(m[q]) for q in QUANTITIES}


def _float_keys(rows: list[dict[str, Any]]) -> dict[tuple[float, float], dict[str, float]]:
    """What a float-keyed table must hold: for each spec interval whose float ends form an
    interval, the moments of the interval with exactly those float ends (Decimal(float) is
    exact); ends that round to no interval ([-1e-400, 1e-400] -> [-0.0, 0.0]) have no key."""
    want = {}
    for row in rows:
        fa, fb = float(row["lower"]), float(row["upper"])
        exact = [decimal.Decimal(fa), decimal.Decimal(fb)]
        if fa < fb and all(not d.is_finite() or d == 0 or 1e-400 < abs(d) <= 1e100 for d in exact):
            want[(fa, fb)] = _exact(*exact)
    return want


def _same(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def test_constants_py_of_extreme_intervals_imports_with_every_float64_right(
    extreme_modules: dict[str, Any],
) -> None:
    constants = _import(extreme_modules["dir"] / "constants.py")
    rows = extreme_modules["rows"]
    want = _float_keys(rows)
    assert len(rows) == 11 and sorted(constants.TRUNCNORM) == sorted(want) and len(want) == 6
    for key, exact in want.items():
        for q, value in exact.items():
            assert _same(getattr(constants.TRUNCNORM[key], q), value), (key, q)
    for row in rows:  # the decimal table keeps every spec interval, colliding ones included
        assert constants.TRUNCNORM_DECIMAL[(row["lower"], row["upper"])] == {
            q: row["values"][q]["decimal"] for q in QUANTITIES
        }
    tiny = constants.TRUNCNORM_DECIMAL[("-1E-400", "1E-400")]
    assert float(tiny["correction"]) == math.inf and float(tiny["std"]) == 0.0
    assert (0.0, 0.0) not in constants.TRUNCNORM  # no caller can pass an empty interval
    # fl(1e100) is beyond the cutoffs derive accepts: the float64 routine serves that key
    assert (1e100, math.inf) not in constants.TRUNCNORM
    # [-0.1, 0.1] and [-0.1000000000000000000001, 0.1] share one key, holding neither decimal
    # interval's values but the float interval's: its std differs from [-0.1, 0.1]'s in the
    # last bits of float64 or below
    assert constants.TRUNCNORM[(-0.1, 0.1)].std == want[(-0.1, 0.1)]["std"]


@pytest.mark.parametrize(
    ("name", "framework"),
    [("numpy_init", "numpy"), ("torch_init", "torch"), ("tf_init", "tensorflow")],
)
def test_initializers_of_extreme_intervals_import_with_their_table_right(
    extreme_modules: dict[str, Any], name: str, framework: str
) -> None:
    require(framework)
    module = _import(extreme_modules["dir"] / f"{name}.py")
    want = _float_keys(extreme_modules["rows"])
    assert sorted(module._TRUNCNORM_TABLE) == sorted(want)
    for key, exact in want.items():
        mean, std = module._TRUNCNORM_TABLE[key]
        assert _same(mean, exact["mean"]) and _same(std, exact["std"]), key
    exact = truncnorm_moments("1e-300", "2e-300", 20)  # a table hit: the rounded exact value
    assert module.truncnorm_moments(1e-300, 2e-300) == (float(exact.mean), float(exact.std))
    with pytest.raises(ValueError, match=r"has a std after truncation of 2\.88"):
        module.truncnorm_moments(1e-320, 2e-320)  # in the table, but subnormal


# ---------------------------------------------------------------------------
# Sampling intervals narrower than float64 resolves
# ---------------------------------------------------------------------------

N = 2**20
NARROW = [(1e-300, 2e-300), (-1e-300, 2e-300), (1e-40, 2e-40)]
REFUSED = [(1e-320, 2e-320), (0.0, 5e-324)]
MESSAGE = r"^lower, upper: \(.*\) has a std after truncation of .*, outside float64's normal range"


def _check_uniform(values: Any, lower: float, upper: float, std: float, mean: float) -> None:
    """Inside [mean + lower sigma, mean + upper sigma] (up to one rounding to the output
    dtype) and uniform there with std ``std``: sigma = std / s, s = (upper - lower) / sqrt 12."""
    x = np.asarray(values)
    eps = float(np.finfo(x.dtype).eps)
    x = x.astype(np.float64).ravel()
    sigma = std * math.sqrt(12.0) / (upper - lower)
    lo, hi = mean + sigma * lower, mean + sigma * upper
    slack = eps * max(abs(lo), abs(hi))
    assert x.size == N and lo - slack <= x.min() and x.max() <= hi + slack
    centre = 0.5 * (lo + hi)
    check = moment_z(x, centre, std, -1.2)
    assert check.ok, check
    wider = moment_z(centre + (x - centre) * 1.01, centre, std, -1.2)
    assert not wider.ok and abs(wider.z_var) > 15, wider  # the check sees a 1% error


# narrow intervals near 0 on purpose: the absolute-looking-cutoff warning is expected
@pytest.mark.filterwarnings("ignore:lower=.* are in units of the std:UserWarning")
@pytest.mark.parametrize(("lower", "upper"), NARROW)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_samples_a_too_narrow_interval_as_its_uniform_law(
    lower: float, upper: float, dtype: str
) -> None:
    mod = load_generated("numpy_init")
    values = mod.truncated_normal(
        N, std=1.0, lower=lower, upper=upper, mean=0.5, dtype=dtype, rng=np.random.default_rng(7)
    )
    assert values.dtype == np.dtype(dtype)
    _check_uniform(values, lower, upper, 1.0, 0.5)
    assert mod.truncated_normal(5, std=1.0, lower=1e-300, upper=2e-300).shape == (5,)


# narrow intervals near 0 on purpose: the absolute-looking-cutoff warning is expected
@pytest.mark.filterwarnings("ignore:lower=.* are in units of the std:UserWarning")
@pytest.mark.parametrize(("lower", "upper"), NARROW)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_torch_samples_a_too_narrow_interval_as_its_uniform_law(
    lower: float, upper: float, dtype: str
) -> None:
    torch = require("torch")
    mod = load_generated("torch_init")
    tensor = torch.empty(N, dtype=getattr(torch, dtype))
    generator = torch.Generator().manual_seed(7)
    mod.truncated_normal_(tensor, std=1.0, lower=lower, upper=upper, mean=0.5, generator=generator)
    _check_uniform(tensor.numpy(), lower, upper, 1.0, 0.5)


# narrow intervals near 0 on purpose: the absolute-looking-cutoff warning is expected
@pytest.mark.filterwarnings("ignore:lower=.* are in units of the std:UserWarning")
@pytest.mark.parametrize(("lower", "upper"), NARROW)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_samples_a_too_narrow_interval_as_its_uniform_law(
    lower: float, upper: float, dtype: str
) -> None:
    """float32 cutoffs of 1e-300 are 0 (TensorFlow's sampler gave up on [1e-40, 2e-40])."""
    require("tensorflow")
    mod = load_generated("tf_init")
    init = mod.TruncatedNormal(mean=0.5, stddev=1.0, seed=7, lower=lower, upper=upper)
    values = np.asarray(init((N,), dtype=dtype))
    assert values.dtype == np.dtype(dtype)
    _check_uniform(values, lower, upper, 1.0, 0.5)


@pytest.mark.filterwarnings("ignore:lower=.* are in units of the std:UserWarning")
@pytest.mark.parametrize(("lower", "upper"), REFUSED)
def test_all_three_refuse_a_std_below_float64s_normal_range_with_one_message(
    lower: float, upper: float
) -> None:
    """[1e-320, 2e-320]: std 2.9e-321 has 10 significant bits; [0, 5e-324]: std 0."""
    np_mod = load_generated("numpy_init")
    with pytest.raises(ValueError, match=MESSAGE):
        np_mod.truncated_normal(5, std=1.0, lower=lower, upper=upper)
    torch = require("torch")
    with pytest.raises(ValueError, match=MESSAGE):
        load_generated("torch_init").truncated_normal_(
            torch.empty(5), std=1.0, lower=lower, upper=upper
        )
    require("tensorflow")
    with pytest.raises(ValueError, match=MESSAGE):
        load_generated("tf_init").TruncatedNormal(stddev=1.0, lower=lower, upper=upper)


OVERFLOW = r"^lower, upper: \(1e\+200, 1e\+201\) put the values mean \+ sigma \* cutoff beyond"


def test_all_three_refuse_a_tail_whose_values_overflow_float64_with_one_message() -> None:
    """[1e200, 1e201] has std 1e-200 after truncation (the float64 routine gets it right;
    its variance once underflowed to 0, and NumPy and PyTorch divided by it): sigma = std /
    1e-200 puts the values near std 1e400, beyond float64.  Refused when drawing, in all
    three, with one message."""
    np_mod = load_generated("numpy_init")
    with pytest.raises(ValueError, match=OVERFLOW):
        np_mod.truncated_normal(5, std=1.0, lower=1e200, upper=1e201)
    torch = require("torch")
    torch_mod = load_generated("torch_init")
    with pytest.raises(ValueError, match=OVERFLOW):
        torch_mod.truncated_normal_(torch.empty(5), std=1.0, lower=1e200, upper=1e201)
    require("tensorflow")
    tf_mod = load_generated("tf_init")
    with pytest.raises(ValueError, match=OVERFLOW):
        tf_mod.TruncatedNormal(stddev=1.0, lower=1e200, upper=1e201)((5,), dtype="float64")
