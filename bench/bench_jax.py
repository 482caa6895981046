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
