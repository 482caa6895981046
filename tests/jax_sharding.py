"""Sharded draws of generated/jax_init.py on 8 simulated CPU devices, in a process of its own.

``python -m tests.jax_sharding [--no-partitionable]`` sets
XLA_FLAGS=--xla_force_host_platform_device_count=8 before JAX is imported (it must be: the
device count is read once per process, which is why tests/test_jax_sharding.py runs this as a
subprocess instead of in its pytest worker), draws every case once unsharded and once sharded,
and prints one JSON object: per case its id, whether the sharded array has the unsharded one's
bytes, dtype and shape, and the shapes of its shards.  ``--no-partitionable`` sets
jax_threefry_partitionable to False first (True is JAX 0.10.2's default).

Cases (all with the key jax.random.key(2024)):

* jax.jit(init, out_shardings=NamedSharding(mesh, spec)) on Auto meshes 1x8, 2x4 and 8x1 with
  the specs P("x", None), P(None, "y"), P("x", "y") (and P(("x", "y"), None) on 2x4): the
  rejection samplers at [8, 9] on every mesh and spec, [5, 6], [2, inf), (-inf, -5] and
  +-1 on some, JAX's own draw at +-2 (he_normal), a 512 x 264 array (the refill path that
  gathers the rejected slots, n > 2^16) and bfloat16;
* out_sharding= (a PartitionSpec under jax.set_mesh, or a NamedSharding) on an Explicit 2x4
  mesh, eager and under jit, for each kind of initializer: he_normal (compared with
  jax.nn.initializers.he_normal(out_sharding=...) too), truncated_normal [5, 6], glorot_uniform,
  complex variance_scaling, orthogonal, delta_orthogonal, and a zero-size shape.

With --no-partitionable a subset runs: [8, 9] on 2x4 P("x", "y"), [2, inf) on 8x1,
he_normal, the large array, and truncated_normal [5, 6] through out_sharding.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

DEVICES = 8
GENERATED = Path(__file__).resolve().parent.parent / "generated" / "jax_init.py"
MESHES = ((1, 8), (2, 4), (8, 1))
SMALL = (64, 48)  # divisible by every mesh axis size
LARGE = (512, 264)  # 135168 values: above the in-place refill's 2^16


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-partitionable", action="store_true")
    args = parser.parse_args(argv)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={DEVICES}"
    ).strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    if args.no_partitionable:
        jax.config.update("jax_threefry_partitionable", False)
    print(json.dumps(run(jax, reduced=args.no_partitionable)))
    return 0


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("jax_init_sharded", GENERATED)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(jax: Any, reduced: bool = False) -> dict[str, Any]:
    """Every case (module docstring); ``reduced``: one of each kind (the second flag's run)."""
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    ji = _load()
    key = jax.random.key(2024)
    inf = math.inf
    cases: list[dict[str, Any]] = []

    def record(case_id: str, got: Any, ref: Any, sharding: Any) -> None:
        got_np = np.asarray(got) if got.size else np.zeros(got.shape, got.dtype)
        ref_np = np.asarray(ref)
        cases.append(
            {
                "id": case_id,
                "equal": bool(
                    got_np.shape == ref_np.shape
                    and got_np.dtype == ref_np.dtype
                    and got_np.tobytes() == ref_np.tobytes()
                ),
                "dtype": str(got_np.dtype),
                "shape": list(got.shape),
                "placed": bool(got.sharding.is_equivalent_to(sharding, got.ndim)),
                "shards": sorted({tuple(s.data.shape) for s in got.addressable_shards}),
                "devices": len(got.sharding.device_set),
            }
        )

    def truncated(lower: float, upper: float) -> Any:
        return ji.truncated_normal(1.0, lower=lower, upper=upper)

    # jit with out_shardings on Auto meshes
    auto = {m: jax.make_mesh(m, ("x", "y"), axis_types=(AxisType.Auto,) * 2) for m in MESHES}
    jit_cases: list[tuple[str, Any, tuple[int, ...], Any, tuple[int, int], Any]] = []
    for mesh_shape in MESHES:
        for spec in (P("x", None), P(None, "y"), P("x", "y")):
            jit_cases.append(("[8, 9]", truncated(8.0, 9.0), SMALL, jnp.float32, mesh_shape, spec))
    jit_cases += [
        ("[5, 6]", truncated(5.0, 6.0), SMALL, jnp.float32, (2, 4), P("x", "y")),
        ("[5, 6]", truncated(5.0, 6.0), SMALL, jnp.float32, (1, 8), P(None, "y")),
        ("[2, inf)", truncated(2.0, inf), SMALL, jnp.float32, (8, 1), P("x", None)),
        ("(-inf, -5]", truncated(-inf, -5.0), SMALL, jnp.float32, (2, 4), P(("x", "y"), None)),
        ("+-1", truncated(-1.0, 1.0), SMALL, jnp.float32, (2, 4), P(None, "y")),
        ("he_normal +-2", ji.he_normal(), SMALL, jnp.float32, (2, 4), P("x", "y")),
        ("[8, 9] large", truncated(8.0, 9.0), LARGE, jnp.float32, (2, 4), P("x", "y")),
        ("[5, 6] bfloat16", truncated(5.0, 6.0), SMALL, jnp.bfloat16, (8, 1), P("x", None)),
    ]
    if reduced:
        jit_cases = [jit_cases[i] for i in (5, 11, 14, 15)]
    for name, init, shape, dtype, mesh_shape, spec in jit_cases:
        sharding = NamedSharding(auto[mesh_shape], spec)
        ref = init(key, shape, dtype)
        got = jax.jit(lambda k, init=init, shape=shape, dtype=dtype: init(k, shape, dtype),
                      out_shardings=sharding)(key)  # fmt: skip
        mesh_text = "x".join(map(str, mesh_shape))
        record(f"jit {name} {shape} {mesh_text} {spec}", got, ref, sharding)

    # out_sharding= on an Explicit mesh
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
    explicit: list[tuple[str, Any, tuple[int, ...], Any, Any, bool]] = [
        ("he_normal", ji.he_normal(), SMALL, jnp.float32, P("x", "y"), False),
        ("[5, 6]", truncated(5.0, 6.0), SMALL, jnp.float32, P("x", "y"), False),
        ("[5, 6]", truncated(5.0, 6.0), SMALL, jnp.float32, P(None, "y"), True),
        ("glorot_uniform", ji.glorot_uniform(), SMALL, jnp.float32, P("y", "x"), True),
        (
            "complex variance_scaling",
            ji.variance_scaling(1.0, "fan_avg", "truncated_normal"),
            SMALL,
            jnp.complex64,
            P("x", None),
            False,
        ),
        ("orthogonal", ji.orthogonal(), SMALL, jnp.float32, P("x", "y"), False),
        (
            "delta_orthogonal",
            ji.delta_orthogonal(),
            (3, 16, 24),
            jnp.float32,
            P(None, "x", "y"),
            True,
        ),
        ("zero-size he_normal", ji.he_normal(), (0, 48), jnp.float32, P("x", "y"), False),
    ]
    if reduced:
        explicit = explicit[1:3]
    for name, init, shape, dtype, spec, jitted in explicit:
        ref = init(key, shape, dtype)
        sharding = NamedSharding(mesh, spec)
        with jax.set_mesh(mesh):
            if jitted:  # a NamedSharding, inside jit
                fn = jax.jit(
                    lambda k, i=init, s=shape, d=dtype, o=sharding: i(k, s, d, out_sharding=o)
                )
                got = fn(key)
            else:  # a PartitionSpec of the context mesh, eager
                got = init(key, shape, dtype, out_sharding=spec)
        record(
            f"out_sharding {name} {shape} {'jit' if jitted else 'eager'} {spec}", got, ref, sharding
        )
    with jax.set_mesh(mesh):
        jax_he = jax.nn.initializers.he_normal()(key, SMALL, jnp.float32, out_sharding=P("x", "y"))
        ours = ji.he_normal()(key, SMALL, jnp.float32, out_sharding=P("x", "y"))
    record("out_sharding he_normal == jax.nn.initializers.he_normal", ours, jax_he,
           NamedSharding(mesh, P("x", "y")))  # fmt: skip
    he = np.asarray(ji.he_normal()(key, SMALL))
    return {
        "devices": len(jax.devices()),
        "partitionable": bool(jax.config.jax_threefry_partitionable),
        "he_normal_sha256": hashlib.sha256(he.tobytes()).hexdigest(),
        "cases": cases,
    }


if __name__ == "__main__":
    sys.exit(main())
