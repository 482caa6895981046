"""tf_init.TruncatedNormal and jax_init.truncated_normal say on their first docstring line
that their std is the std AFTER truncation, where the framework's function of the same name
takes the std BEFORE truncation, and both halves of that line are true: at the cutoffs +-2,
from the same seed, ours is the framework's draw times 1 / s(-2, 2) = 1 / 0.8796..., value
by value.
"""

from __future__ import annotations

import numpy as np

from tests.conftest import load_generated, require

S = 0.87962566103423978  # the std of N(0, 1) truncated to [-2, 2]


def test_tf_truncated_normal_says_after_and_kerass_is_before() -> None:
    keras = require("keras")
    require("tensorflow")
    tfi = load_generated("tf_init")
    first = tfi.TruncatedNormal.__doc__.splitlines()[0]
    assert "std AFTER truncation" in first and "Keras's: BEFORE" in first, first
    ours = np.asarray(tfi.TruncatedNormal(stddev=0.05, seed=3)((64, 64)), dtype=np.float64)
    theirs = np.asarray(keras.initializers.TruncatedNormal(stddev=0.05, seed=3)((64, 64)))
    np.testing.assert_allclose(ours, theirs.astype(np.float64) / S, rtol=3e-7)
    assert tfi.TruncatedNormal(stddev=0.05).moments() == (0.0, 0.05)


def test_jax_truncated_normal_says_after_and_jaxs_is_before() -> None:
    jax = require("jax")
    ji = load_generated("jax_init")
    first = ji.truncated_normal.__doc__.splitlines()[0]
    assert "std AFTER truncation" in first and "JAX's ``stddev``: BEFORE" in first, first
    key = jax.random.key(4)
    ours = np.asarray(ji.truncated_normal(0.05)(key, (64, 64)), dtype=np.float64)
    theirs = np.asarray(jax.nn.initializers.truncated_normal(0.05)(key, (64, 64)))
    np.testing.assert_allclose(ours, theirs.astype(np.float64) / S, rtol=3e-7)
