"""make bench, JAX section: the generated jax_init initializers against JAX's own samplers.

Every sampler is ``jax.jit``-compiled once per (n, dtype, cutoffs) by an untimed first
call, then warmed up and timed by time_call; each timed call ends with
``block_until_ready()``.  float64 runs with ``jax_enable_x64`` (this section runs in
its own process).  Ratios: generated / ``jax.random.normal`` (the floor) and generated /
``jax.random.truncated_normal`` at ±2 and at the same cutoffs (the latter inverts the CDF and
collapses far in a tail, see the output check column of JAX's own draw).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench_numpy import add_ratios
from common import (
    CUTOFFS,
    DTYPES,
    check_output,
    cut_text,
    error_text,
    load_generated,
    log,
    time_call,
)


def _timed(fn: Callable[[Any], Any], key: Any) -> Callable[[], Any]:
    """Compile (one call, not timed: time_call's own warm-up call would otherwise count the
    compilation whenever it exceeds its single-call limit), then time the call."""
    fn(key).block_until_ready()
    return lambda: fn(key).block_until_ready()


def section_jax(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    mod, why = load_generated("jax_init")
    out: dict[str, Any] = {
        "generated": why or "generated/jax_init.py",
        "cases": [],
        "memory": [],
        "threads": {"xla_cpu_devices": len(jax.devices("cpu")), "requested": threads},
        "note": "XLA's CPU client uses every core; jit + block_until_ready, compile excluded",
    }
    if memory:  # peak-RSS accounting is not meaningful for XLA's own allocator here
        out["memory_note"] = "not measured for JAX"
        return out
    key = jax.random.key(20240901)
    for n in cfg["sizes"]:
        for dtype_name in DTYPES:
            dtype = jnp.dtype(dtype_name)
            log(f"jax n=2^{n.bit_length() - 1} {dtype_name}: floors")
            normal = jax.jit(lambda k, n=n, dtype=dtype: jax.random.normal(k, (n,), dtype))
            floor = time_call(_timed(normal, key), cfg)
            pm2 = jax.jit(
                lambda k, n=n, dtype=dtype: jax.random.truncated_normal(k, -2.0, 2.0, (n,), dtype)
            )
            tn = time_call(_timed(pm2, key), cfg)
            for label, lo, hi in CUTOFFS:
                log(f"jax n=2^{n.bit_length() - 1} {dtype_name} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dtype_name,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor,
                    "truncated_normal_pm2": tn,
                }
                same = jax.jit(
                    lambda k, n=n, dtype=dtype, lo=lo, hi=hi: jax.random.truncated_normal(
                        k, lo, hi, (n,), dtype
                    )
                )
                case["jax_truncated_normal"] = time_call(_timed(same, key), cfg)
                if "error" not in case["jax_truncated_normal"]:
                    case["jax_truncated_normal"]["output_check"] = check_output(
                        same(key) / _std(lo, hi), n, dtype_name, lo, hi
                    )
                if mod is None:
                    case["generated"] = {"error": why}
                else:
                    try:
                        init = mod.truncated_normal(1.0, dtype, lo, hi)
                        fn = jax.jit(lambda k, init=init, n=n: init(k, (n,)))
                        case["generated"] = time_call(_timed(fn, key), cfg)
                        if "error" not in case["generated"]:
                            case["generated"]["output_check"] = check_output(
                                fn(key), n, dtype_name, lo, hi
                            )
                    except Exception as exc:
                        case["generated"] = {"error": error_text(exc)}
                add_ratios(case, "floor", ["truncated_normal_pm2", "jax_truncated_normal"])
                out["cases"].append(case)
    return out


def _std(lower: float, upper: float) -> float:
    from common import truncnorm_std_f64

    return truncnorm_std_f64(lower, upper)[1]


# ---------------------------------------------------------------------------------------------
# sharded: jit with out_shardings on 8 simulated CPU devices
# ---------------------------------------------------------------------------------------------

SHARDED_DEVICES = 8
SHARDED_MESH = (2, 4)  # ("x", "y"), Auto axes; every array is sharded over both
SHARDED_CUTOFFS: list[tuple[str, float, float]] = [
    ("±2", -2.0, 2.0),
    ("±1", -1.0, 1.0),
    ("[8, 9]", 8.0, 9.0),
    ("[2, inf)", 2.0, float("inf")),
]


def sharded_env() -> dict[str, str]:
    """The section's environment: 8 simulated CPU devices (read once, before JAX's import)."""
    import os

    flags = os.environ.get("XLA_FLAGS", "")
    return {
        "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count={SHARDED_DEVICES}".strip()
    }


def section_jax_sharded(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    """Ours against JAX's own samplers, each ``jax.jit(..., out_shardings=NamedSharding(mesh,
    P("x", "y")))`` on a 2 x 4 mesh of simulated CPU devices (float32, square arrays of n
    values, n in cfg["sharded_sizes"]): he_normal (JAX's draw at ±2) /
    jax.nn.initializers.he_normal, truncated_normal / jax.random.truncated_normal at the same
    cutoffs and / jax.random.normal (the floor), all with the same sharding.  The 8 devices
    share this machine's cores, so only the ratios mean anything; every generated output is
    also checked to equal the unsharded call."""
    import math

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    mod, why = load_generated("jax_init")
    devices = len(jax.devices("cpu"))
    out: dict[str, Any] = {
        "generated": why or "generated/jax_init.py",
        "cases": [],
        "devices": devices,
        "mesh": list(SHARDED_MESH),
        "spec": "P('x', 'y')",
        "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "note": "jit(out_shardings) + block_until_ready, compile excluded; simulated devices",
    }
    if memory:
        out["memory_note"] = "not measured for JAX"
        return out
    if devices != SHARDED_DEVICES:
        out["error"] = f"{devices} CPU devices, not {SHARDED_DEVICES} (XLA_FLAGS set too late?)"
        return out
    mesh = jax.make_mesh(SHARDED_MESH, ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    sharding = NamedSharding(mesh, P("x", "y"))
    key = jax.random.key(20240901)
    dtype = jnp.float32
    for n in cfg["sharded_sizes"]:
        side = 1 << (n.bit_length() // 2)  # 2^20 -> 1024 x 1024, 2^22 -> 2048 x 2048
        shape = (side, n // side)
        exp = f"2^{n.bit_length() - 1}"
        log(f"jax_sharded n={exp}: floor and jax.nn.initializers.he_normal")

        def jitted(fn: Callable[[Any], Any]) -> Any:
            return jax.jit(fn, out_shardings=sharding)

        normal = jitted(lambda k, s=shape: jax.random.normal(k, s, dtype))
        floor = time_call(_timed(normal, key), cfg)
        jax_he = jitted(lambda k, s=shape: jax.nn.initializers.he_normal()(k, s, dtype))
        he_time = time_call(_timed(jax_he, key), cfg)
        for label, lo, hi in SHARDED_CUTOFFS:
            log(f"jax_sharded n={exp} {label}")
            case: dict[str, Any] = {
                "n": n,
                "shape": list(shape),
                "dtype": "float32",
                "cutoff": label,
                "lower": cut_text(lo),
                "upper": cut_text(hi),
                "floor": floor,
            }
            same = jitted(
                lambda k, lo=lo, hi=hi, s=shape: jax.random.truncated_normal(k, lo, hi, s)
            )
            case["jax_truncated_normal"] = time_call(_timed(same, key), cfg)
            if label == "±2":
                case["jax_he_normal"] = he_time
            if mod is None:
                case["generated"] = {"error": why}
            else:
                try:
                    if label == "±2":
                        init = mod.he_normal()
                    else:
                        init = mod.truncated_normal(1.0, dtype, lo, hi)
                    fn = jitted(lambda k, init=init, s=shape: init(k, s))
                    case["generated"] = time_call(_timed(fn, key), cfg)
                    if "error" not in case["generated"]:
                        got = fn(key)
                        plain = jax.jit(lambda k, init=init, s=shape: init(k, s))
                        unsharded = np.asarray(plain(key))
                        equal = np.asarray(got).tobytes() == unsharded.tobytes()
                        case["generated"]["equals_unsharded"] = equal
                        case["generated"]["shards"] = len(got.addressable_shards)
                        scale = 1.0 if label != "±2" else math.sqrt(2.0 / shape[0])
                        case["generated"]["output_check"] = check_output(
                            got.reshape(-1) / scale, n, "float32", lo, hi
                        )
                except Exception as exc:
                    case["generated"] = {"error": error_text(exc)}
            add_ratios(case, "floor", ["jax_truncated_normal", "jax_he_normal"])
            out["cases"].append(case)
    return out
