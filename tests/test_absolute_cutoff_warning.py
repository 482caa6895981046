"""Cutoffs that look absolute warn once, in every generated file.

The generated initializers take ``lower``/``upper`` in units of the std, where
torch.nn.init.trunc_normal_ takes absolute values: trunc_normal_'s habit, a = -0.04,
b = 0.04 for std 0.02, passed here truncates at +-0.04 std, a nearly uniform law.  Every
std-units API of numpy_init, torch_init, tf_init and jax_init warns (UserWarning, one line,
naming the cutoffs and the fix) when |lower| and |upper| are both below 0.1; exactly once per
call, attributed to the caller's line, so that the default filter shows it once per call
site.  Cutoffs of 0.1 std or more, and the defaults, never warn.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.conftest import load_generated, require

PREFIX = "lower=-0.04, upper=0.04 are in units of the std, not absolute values; "
MESSAGE = PREFIX + (
    "did you mean absolute cutoffs? divide them by the std (lower=a / std, upper=b / std)"
)


@pytest.fixture(scope="module")
def modules() -> dict[str, ModuleType]:
    require("torch")
    require("tensorflow")
    require("jax")
    return {name: load_generated(f"{name}_init") for name in ("numpy", "torch", "tf", "jax")}


def _calls(modules: dict[str, ModuleType], **cutoffs: float) -> dict[str, Callable[[], Any]]:
    """Every std-units API of the four files, called with ``cutoffs``."""
    import jax
    import torch

    ni, ti, tfi, ji = (modules[name] for name in ("numpy", "torch", "tf", "jax"))
    w = torch.empty(8, 4)
    return {
        "numpy.truncated_normal": lambda: ni.truncated_normal((4, 8), std=0.02, **cutoffs),
        "numpy.truncated_normal_mean": lambda: ni.truncated_normal_mean(std=0.02, **cutoffs),
        "numpy.variance_scaling": lambda: ni.variance_scaling((4, 8), **cutoffs),
        "numpy.variance_scaling_mean": lambda: ni.variance_scaling_mean((4, 8), **cutoffs),
        "numpy.he_normal": lambda: ni.he_normal((4, 8), **cutoffs),
        "torch.truncated_normal_": lambda: ti.truncated_normal_(w, std=0.02, **cutoffs),
        "torch.truncated_normal_mean": lambda: ti.truncated_normal_mean(std=0.02, **cutoffs),
        "torch.variance_scaling_": lambda: ti.variance_scaling_(w, **cutoffs),
        "torch.variance_scaling_mean": lambda: ti.variance_scaling_mean(w, **cutoffs),
        "torch.he_normal_": lambda: ti.he_normal_(w, **cutoffs),
        "torch.glorot_normal_": lambda: ti.glorot_normal_(w, **cutoffs),
        "tf.TruncatedNormal": lambda: tfi.TruncatedNormal(stddev=0.02, seed=1, **cutoffs)((4, 8)),
        "tf.VarianceScaling": lambda: tfi.VarianceScaling(seed=1, **cutoffs)((4, 8)),
        "tf.HeNormal": lambda: tfi.HeNormal(seed=1, **cutoffs)((4, 8)),
        "jax.truncated_normal": lambda: ji.truncated_normal(0.02, **cutoffs)(
            jax.random.key(0), (4, 8)
        ),
        "jax.truncated_normal_mean": lambda: ji.truncated_normal_mean(0.02, **cutoffs),
        "jax.variance_scaling": lambda: ji.variance_scaling(
            1.0, "fan_in", "truncated_normal", **cutoffs
        )(jax.random.key(0), (4, 8)),
        "jax.lecun_normal": lambda: ji.lecun_normal(**cutoffs)(jax.random.key(0), (4, 8)),
    }


def _ours(records: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [r for r in records if str(r.message).startswith("lower=")]


def test_every_std_units_api_warns_once_per_call_at_the_callers_line(
    modules: dict[str, ModuleType],
) -> None:
    for name, call in _calls(modules, lower=-0.04, upper=0.04).items():
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            call()
        ours = _ours(records)
        assert len(ours) == 1, (name, [str(r.message) for r in ours])
        assert ours[0].category is UserWarning and str(ours[0].message) == MESSAGE, name
        assert ours[0].filename == __file__, (name, ours[0].filename)


def test_the_default_filter_shows_it_once_per_call_site(modules: dict[str, ModuleType]) -> None:
    ni = modules["numpy"]
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("default")
        for _ in range(3):
            ni.he_normal((4, 8), lower=-0.04, upper=0.04, rng=1)
        assert len(_ours(records)) == 1
        ni.glorot_normal((4, 8), lower=-0.04, upper=0.04, rng=1)  # another call site
        assert len(_ours(records)) == 2
        ni.he_normal((4, 8), lower=-0.05, upper=0.05, rng=1)  # other cutoffs, other message
        assert len(_ours(records)) == 3


@pytest.mark.parametrize(
    ("lower", "upper"),
    [(-2.0, 2.0), (-0.1, 0.1), (-0.05, 0.1), (0.0, 0.2), (0.05, float("inf")), (-3.0, 0.01)],
)
def test_cutoffs_of_a_tenth_of_a_std_or_more_do_not_warn(
    modules: dict[str, ModuleType], lower: float, upper: float
) -> None:
    for name, call in _calls(modules, lower=lower, upper=upper).items():
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            call()
        assert not _ours(records), name


def test_the_warning_changes_nothing_drawn(modules: dict[str, ModuleType]) -> None:
    """The cutoffs keep their std-units meaning: the values lie within +-0.04 sigma."""
    ni = modules["numpy"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = ni.truncated_normal((4096,), std=1.0, lower=-0.04, upper=0.04, dtype=np.float64, rng=2)
        sigma = 1.0 / ni.truncnorm_moments(-0.04, 0.04)[1]
    assert np.all(np.abs(x) <= 0.04 * sigma) and x.std() > 0.9
