"""make bench, TensorFlow/Keras section: the generated tf_init initializers against TF's own."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from functools import partial
from typing import Any

from bench_numpy import add_ratios
from common import (
    CUTOFFS,
    DTYPES,
    calibration,
    call_adapter,
    check_output,
    cut_text,
    error_text,
    load_generated,
    log,
    rss_extra,
    time_call,
)

# ---------------------------------------------------------------------------------------------
# TensorFlow / Keras 3
# ---------------------------------------------------------------------------------------------


def tf_sampler(
    mod: Any, tf: Any, n: int, lower: float, upper: float, dtype: str
) -> Callable[[], Any]:
    func = getattr(mod, "truncated_normal", None)
    if func is None:
        raise AttributeError("generated/tf_init.py has no truncated_normal")
    if inspect.isclass(func):  # a Keras Initializer class: instance(shape, dtype)
        fixed = {"std": 1.0, "lower": lower, "upper": upper, "mean": 0.0, "rng": 20240901}
        init = call_adapter(func, fixed)()
        return lambda: init((n,), dtype=dtype)
    return call_adapter(
        func,
        {"shape": (n,), "std": 1.0, "lower": lower, "upper": upper, "mean": 0.0, "dtype": dtype},
    )


def section_tf(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.random.set_seed(20240901)
    mod, why = load_generated("tf_init")
    out: dict[str, Any] = {
        "generated": why or "generated/tf_init.py",
        "cases": [],
        "memory": [],
        "threads": {
            "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
    }

    def nbytes(t: Any) -> int:
        return int(tf.size(t).numpy()) * t.dtype.size

    def stateless(n: int, lo: float, hi: float, dtype: str) -> Callable[[], Any]:
        seed = tf.constant([1, 2], dtype=tf.int32)
        means, stds = tf.constant(0.0, dtype), tf.constant(1.0, dtype)
        a, b = tf.constant(lo, dtype), tf.constant(hi, dtype)
        return lambda: tf.random.stateless_parameterized_truncated_normal(
            shape=[n], seed=seed, means=means, stddevs=stds, minvals=a, maxvals=b
        )

    if memory:
        n = cfg["memory_n"]
        out["memory"].append(
            {
                "name": "calibration: x = floor(n); x * 2 (1.0x + the floor's own)",
                "n": n,
                "dtype": "float64",
                **rss_extra(
                    partial(calibration, partial(tf.random.normal, [n], dtype="float64")), nbytes
                ),
            }
        )
        for dtype in DTYPES:
            out["memory"].append(
                {
                    "name": "floor tf.random.normal",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(tf.random.normal, [n], dtype=dtype), nbytes),
                }
            )
            out["memory"].append(
                {
                    "name": "tf.random.truncated_normal",
                    "cutoff": "±2",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(tf.random.truncated_normal, [n], dtype=dtype), nbytes),
                }
            )
            if mod is None:
                continue
            for label, lo, hi in CUTOFFS:
                try:
                    r = rss_extra(tf_sampler(mod, tf, n, lo, hi, dtype), nbytes)
                except Exception as exc:
                    r = {"error": error_text(exc)}
                out["memory"].append(
                    {"name": "generated", "cutoff": label, "n": n, "dtype": dtype, **r}
                )
        return out

    for n in cfg["sizes"]:
        for dtype in DTYPES:
            log(f"tf n=2^{n.bit_length() - 1} {dtype}: floors")
            floor = time_call(partial(tf.random.normal, [n], dtype=dtype), cfg)
            tn = time_call(partial(tf.random.truncated_normal, [n], dtype=dtype), cfg)
            for label, lo, hi in CUTOFFS:
                log(f"tf n=2^{n.bit_length() - 1} {dtype} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dtype,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor,
                    "truncated_normal_pm2": tn,
                }
                if mod is None:
                    case["generated"] = {"error": why}
                else:
                    try:
                        fn = tf_sampler(mod, tf, n, lo, hi, dtype)
                        case["generated"] = time_call(fn, cfg)
                        if "error" not in case["generated"]:
                            case["generated"]["output_check"] = check_output(
                                fn().numpy(), n, dtype, lo, hi
                            )
                    except Exception as exc:
                        case["generated"] = {"error": error_text(exc)}
                try:
                    case["stateless_parameterized_truncated_normal"] = time_call(
                        stateless(n, lo, hi, dtype), cfg
                    )
                except Exception as exc:
                    case["stateless_parameterized_truncated_normal"] = {"error": error_text(exc)}
                add_ratios(
                    case,
                    "floor",
                    ["truncated_normal_pm2", "stateless_parameterized_truncated_normal"],
                )
                out["cases"].append(case)
    return out
