"""generated/jax_init.py on 8 simulated CPU devices: sharding never changes a value.

JAX reads the device count (XLA_FLAGS=--xla_force_host_platform_device_count=8) once per
process, before its first import, so the draws run in a subprocess (tests/jax_sharding.py, its
docstring lists the cases) once with JAX 0.10.2's default jax_threefry_partitionable=True and
once (a subset) with False; this module only reads their reports, so the pytest worker's own
JAX is left as it is.  Every case compares the bytes of the sharded array with the unsharded
call on the same key: jax.jit(init, out_shardings=...) on Auto meshes 1x8, 2x4, 8x1 over each
axis and both, the rejection cutoffs [5, 6], [8, 9] and the tails included, and out_sharding=
on an Explicit mesh for every kind of initializer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT, require

FULL_CASES = 26  # tests/jax_sharding.py: 17 jit cases, 9 out_sharding cases
REDUCED_CASES = 7


def _report(*flags: str) -> dict[str, Any]:
    require("jax")
    done = subprocess.run(
        [sys.executable, "-m", "tests.jax_sharding", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def partitionable() -> dict[str, Any]:
    return _report()


@pytest.fixture(scope="module")
def not_partitionable() -> dict[str, Any]:
    return _report("--no-partitionable")


def _check(case: dict[str, Any]) -> None:
    assert case["equal"], f"{case['id']}: the sharded values differ from the unsharded ones"
    assert case["placed"], f"{case['id']}: not laid out as asked"
    assert case["devices"] == 8, case


def test_the_subprocess_ran_on_eight_devices_with_the_default_flag(
    partitionable: dict[str, Any],
) -> None:
    assert partitionable["devices"] == 8
    assert partitionable["partitionable"] is True  # JAX 0.10.2's default
    assert len(partitionable["cases"]) == FULL_CASES


def test_jit_with_out_shardings_gives_the_unsharded_bits_on_every_mesh_and_spec(
    partitionable: dict[str, Any],
) -> None:
    jit = [c for c in partitionable["cases"] if c["id"].startswith("jit ")]
    assert len(jit) == 17
    for case in jit:
        _check(case)
    ids = " ".join(c["id"] for c in jit)
    for mesh in ("1x8", "2x4", "8x1"):
        for spec in ("P('x', None)", "P(None, 'y')", "P('x', 'y')"):
            assert f"[8, 9] (64, 48) {mesh} {spec}" in ids, (mesh, spec)
    for cutoffs in ("[5, 6]", "[2, inf)", "(-inf, -5]", "+-1", "he_normal +-2", "large"):
        assert cutoffs in ids, cutoffs


def test_each_device_holds_only_its_shard(partitionable: dict[str, Any]) -> None:
    """2x4 over both axes: 64 x 48 splits into 8 shards of 32 x 12, 512 x 264 into 256 x 66."""
    by_id = {c["id"]: c for c in partitionable["cases"]}
    assert by_id["jit [8, 9] (64, 48) 2x4 P('x', 'y')"]["shards"] == [[32, 12]]
    assert by_id["jit [8, 9] large (512, 264) 2x4 P('x', 'y')"]["shards"] == [[256, 66]]
    assert by_id["jit [8, 9] (64, 48) 8x1 P('x', None)"]["shards"] == [[8, 48]]


def test_out_sharding_gives_the_unsharded_bits_for_every_kind_of_initializer(
    partitionable: dict[str, Any],
) -> None:
    placed = [c for c in partitionable["cases"] if c["id"].startswith("out_sharding ")]
    assert len(placed) == 9
    for case in placed:
        _check(case)
    kinds = " ".join(c["id"] for c in placed)
    for kind in ("he_normal", "[5, 6]", "glorot_uniform", "complex", "orthogonal", "delta_"):
        assert kind in kinds, kind


def test_out_sharding_of_he_normal_is_jax_nn_initializers_bit_for_bit(
    partitionable: dict[str, Any],
) -> None:
    (case,) = [c for c in partitionable["cases"] if "jax.nn.initializers" in c["id"]]
    _check(case)


def test_a_zero_size_shape_gives_an_empty_array_laid_out_as_asked(
    partitionable: dict[str, Any],
) -> None:
    (case,) = [c for c in partitionable["cases"] if "zero-size" in c["id"]]
    _check(case)
    assert case["shape"] == [0, 48] and case["dtype"] == "float32"


def test_without_partitionable_threefry_the_values_still_ignore_the_sharding(
    partitionable: dict[str, Any], not_partitionable: dict[str, Any]
) -> None:
    """jax_threefry_partitionable=False changes which bits a key gives (the unsharded values
    differ from the default's), never whether the sharding matters."""
    assert not_partitionable["partitionable"] is False
    assert len(not_partitionable["cases"]) == REDUCED_CASES
    for case in not_partitionable["cases"]:
        _check(case)
    assert not_partitionable["he_normal_sha256"] != partitionable["he_normal_sha256"]
