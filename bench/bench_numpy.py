"""make bench, NumPy section: the generated numpy_init samplers against NumPy and SciPy."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

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
    tracemalloc_extra,
)

# ---------------------------------------------------------------------------------------------
# NumPy
# ---------------------------------------------------------------------------------------------


def naive_redraw(rng: Any, n: int, lower: float, upper: float, dtype: Any) -> Any:
    """Draw n normals, then redraw (only) those outside [lower, upper] until none is left."""
    import numpy as np

    x = rng.standard_normal(n, dtype=dtype)
    bad = np.flatnonzero((x < lower) | (x > upper))
    rounds = 0
    while bad.size:
        y = rng.standard_normal(bad.size, dtype=dtype)
        x[bad] = y
        bad = bad[(y < lower) | (y > upper)]
        rounds += 1
        if rounds > 100_000:
            raise RuntimeError(f"naive redraw: [{lower}, {upper}] not filled in 100000 rounds")
    return x


def scipy_rvs(stats: Any, rng: Any, n: int, lower: float, upper: float, dtype: Any) -> Any:
    return stats.truncnorm.rvs(lower, upper, size=n, random_state=rng).astype(dtype, copy=False)


def numpy_sampler(
    mod: Any, n: int, lower: float, upper: float, dtype: str, rng: Any
) -> Callable[[], Any]:
    import numpy as np

    func = mod.truncated_normal
    return call_adapter(
        func,
        {
            "shape": (n,),
            "std": 1.0,
            "lower": lower,
            "upper": upper,
            "mean": 0.0,
            "dtype": np.dtype(dtype),
            "rng": rng,
        },
    )


def section_numpy(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import numpy as np

    mod, why = load_generated("numpy_init")
    rng = np.random.default_rng(20240901)
    out: dict[str, Any] = {"generated": why or "generated/numpy_init.py", "cases": [], "memory": []}
    if memory:
        n = cfg["memory_n"]
        out["memory"].append(
            {
                "name": "calibration: x = floor(n); x * 2 (1.0x + the floor's own)",
                "n": n,
                "dtype": "float64",
                **rss_extra(
                    partial(calibration, partial(rng.standard_normal, n)), lambda x: x.nbytes
                ),
            }
        )
        for dtype in DTYPES:
            out["memory"].append(
                {
                    "name": "floor standard_normal",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(rng.standard_normal, n, dtype=dtype), lambda x: x.nbytes),
                }
            )
            if mod is None:
                continue
            for label, lo, hi in CUTOFFS:
                try:
                    fn = numpy_sampler(mod, n, lo, hi, dtype, rng)
                except Exception as exc:
                    out["memory"].append(
                        {"name": "generated", "cutoff": label, "error": error_text(exc)}
                    )
                    continue
                out["memory"].append(
                    {
                        "name": "generated",
                        "cutoff": label,
                        "n": n,
                        "dtype": dtype,
                        **rss_extra(fn, lambda x: x.nbytes),
                    }
                )
        return out

    from scipy import stats

    scipy_cache: dict[str, dict[str, Any]] = {}
    for n in cfg["sizes"]:
        for dtype in DTYPES:
            dt = np.dtype(dtype)
            log(f"numpy n=2^{n.bit_length() - 1} {dtype}: floor")
            floor = time_call(partial(rng.standard_normal, n, dtype=dt), cfg)
            for label, lo, hi in CUTOFFS:
                log(f"numpy n=2^{n.bit_length() - 1} {dtype} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dtype,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor,
                }
                # generated
                if mod is None:
                    case["generated"] = {"error": why}
                else:
                    try:
                        fn = numpy_sampler(mod, n, lo, hi, dtype, rng)
                        case["generated"] = time_call(fn, cfg)
                        if "error" not in case["generated"]:
                            case["generated"]["output_check"] = check_output(fn(), n, dtype, lo, hi)
                    except Exception as exc:
                        case["generated"] = {"error": error_text(exc)}
                # scipy (timed at scipy_n, extrapolated per element)
                key = label  # scipy draws float64 whatever the dtype; timed once per cutoff
                if key not in scipy_cache:
                    m = cfg["scipy_n"]
                    scipy_cache[key] = time_call(
                        partial(scipy_rvs, stats, rng, m, lo, hi, np.float64),
                        cfg,
                        reps=cfg["scipy_reps"],
                    )
                    scipy_cache[key]["timed_n"] = m
                sc = dict(scipy_cache[key])
                if "median_s" in sc and sc["timed_n"] != n:
                    sc["median_s"] = sc["median_s"] * n / sc["timed_n"]
                    sc["cpu_median_s"] = sc["cpu_median_s"] * n / sc["timed_n"]
                    sc["extrapolated_from_n"] = sc["timed_n"]
                    for k in ("min_s", "times_s", "warmup_s"):
                        sc.pop(k, None)
                case["scipy_truncnorm_rvs"] = sc
                # naive redraw: run only when n/Z draws are affordable
                z = (
                    float(stats.norm.cdf(hi) - stats.norm.cdf(lo))
                    if lo < 0
                    else float(stats.norm.sf(lo) - stats.norm.sf(hi))
                )
                expected = floor.get("median_s", 0.0) / max(z, 1e-300)
                if z >= 0.1 and expected < 3.0:
                    case["naive_redraw"] = time_call(partial(naive_redraw, rng, n, lo, hi, dt), cfg)
                else:
                    case["naive_redraw"] = {
                        "skipped": f"mass Z={z:.3g}: needs about n/Z = "
                        f"{1 / max(z, 1e-300):.3g}x the floor's draws",
                        "expected_s_at_least": expected,
                    }
                if mod is not None and n == cfg["sizes"][0]:
                    try:
                        case["generated_memory_tracemalloc"] = tracemalloc_extra(
                            numpy_sampler(mod, n, lo, hi, dtype, rng)
                        )
                    except Exception as exc:
                        case["generated_memory_tracemalloc"] = {"error": error_text(exc)}
                add_ratios(case, "floor", ["scipy_truncnorm_rvs", "naive_redraw"])
                out["cases"].append(case)
    if mod is not None:  # tracemalloc at the largest size too (one dtype each)
        n = cfg["sizes"][-1]
        for dtype in DTYPES:
            for label, lo, hi in CUTOFFS:
                try:
                    r = tracemalloc_extra(numpy_sampler(mod, n, lo, hi, dtype, rng))
                except Exception as exc:
                    r = {"error": error_text(exc)}
                out["memory"].append(
                    {"name": "generated", "cutoff": label, "n": n, "dtype": dtype, **r}
                )
    out["threads"] = {"numpy_generator": 1}
    return out


def add_ratios(case: dict[str, Any], floor_key: str, others: list[str]) -> None:
    """ratios[x] = time(generated) / time(x); >1 means the generated sampler is slower."""
    for field, name in (
        ("median_s", "ratio_generated_over"),
        ("cpu_median_s", "cpu_ratio_generated_over"),
    ):
        gen = case.get("generated", {}).get(field)
        ratios: dict[str, Any] = {}
        for key in [floor_key, *others]:
            other = case.get(key, {}).get(field)
            ratios[key] = gen / other if gen and other else None
        case[name] = ratios
