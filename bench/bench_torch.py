"""make bench, PyTorch section: the generated torch_init samplers against torch's own."""

from __future__ import annotations

import inspect
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
# PyTorch
# ---------------------------------------------------------------------------------------------


def torch_floor(torch: Any, n: int, dtype: Any) -> Any:
    return torch.empty(n, dtype=dtype).normal_()


def torch_trunc(torch: Any, n: int, dtype: Any, lower: float, upper: float) -> Any:
    """nn.init.trunc_normal_ with std 1: its absolute cutoffs a*std, b*std are lower, upper."""
    return torch.nn.init.trunc_normal_(torch.empty(n, dtype=dtype), 0.0, 1.0, lower, upper)


def budgeted(
    per_element: dict[Any, float], key: Any, n: int, fn: Callable[[], Any], cfg: dict[str, Any]
) -> dict[str, Any]:
    """time_call, unless the time per element seen at a smaller n predicts a call too long to
    afford; then that per-element time times n (a lower bound: rejection rounds grow with log n)."""
    if key in per_element and per_element[key][1] < n:
        per, at = per_element[key]
        if per * n > cfg["max_extrapolated_call_s"]:
            return {
                "median_s": per * n,
                "reps": 0,
                "extrapolated_from_n": at,
                "note": "not run: predicted > max_extrapolated_call_s; scaled per element "
                "from the smaller n (a lower bound)",
            }
    r = time_call(fn, cfg)
    if "median_s" in r:
        per_element[key] = (r["median_s"] / n, n)
    return r


def torch_sampler(
    mod: Any, torch: Any, n: int, lower: float, upper: float, dtype: Any
) -> Callable[[], Any]:
    func = getattr(mod, "truncated_normal_", None) or mod.truncated_normal
    params = inspect.signature(func).parameters
    first = next(iter(params))
    if first in ("tensor", "t", "w", "weight"):  # in-place, torch.nn.init style
        kw = {}
        for key, value in {"std": 1.0, "lower": lower, "upper": upper, "mean": 0.0}.items():
            for name in {
                "std": ("std", "stddev"),
                "lower": ("lower", "a"),
                "upper": ("upper", "b"),
                "mean": ("mean",),
            }[key]:
                if name in params:
                    kw[name] = value
                    break
        return lambda: func(torch.empty(n, dtype=dtype), **kw)
    return call_adapter(
        func,
        {"shape": (n,), "std": 1.0, "lower": lower, "upper": upper, "mean": 0.0, "dtype": dtype},
    )


def section_torch(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(20240901)
    mod, why = load_generated("torch_init")
    out: dict[str, Any] = {
        "generated": why or "generated/torch_init.py",
        "cases": [],
        "memory": [],
        "threads": {
            "torch_num_threads": torch.get_num_threads(),
            "torch_num_interop_threads": torch.get_num_interop_threads(),
        },
    }
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    per_element: dict[Any, Any] = {}

    def nbytes(t: Any) -> int:
        return t.numel() * t.element_size()

    if memory:
        n = cfg["memory_n"]
        out["memory"].append(
            {
                "name": "calibration: x = floor(n); x * 2 (1.0x + the floor's own)",
                "n": n,
                "dtype": "float64",
                **rss_extra(
                    partial(calibration, partial(torch_floor, torch, n, torch.float64)), nbytes
                ),
            }
        )
        for dtype in DTYPES:
            dt = dtypes[dtype]
            out["memory"].append(
                {
                    "name": "floor normal_",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(torch_floor, torch, n, dt), nbytes),
                }
            )
            # trunc_normal_ for reference at +-2 only (its tail cases take minutes at this n)
            out["memory"].append(
                {
                    "name": "trunc_normal_",
                    "cutoff": "±2",
                    "n": n,
                    "dtype": dtype,
                    **rss_extra(partial(torch_trunc, torch, n, dt, -2.0, 2.0), nbytes),
                }
            )
            for label, lo, hi in CUTOFFS:
                if mod is None:
                    continue
                try:
                    fn = torch_sampler(mod, torch, n, lo, hi, dt)
                    r = rss_extra(fn, nbytes)
                except Exception as exc:
                    r = {"error": error_text(exc)}
                out["memory"].append(
                    {"name": "generated", "cutoff": label, "n": n, "dtype": dtype, **r}
                )
        return out

    for n in cfg["sizes"]:
        for dtype in DTYPES:
            dt = dtypes[dtype]
            log(f"torch n=2^{n.bit_length() - 1} {dtype}: floor")
            floor = time_call(partial(torch_floor, torch, n, dt), cfg)
            for label, lo, hi in CUTOFFS:
                log(f"torch n=2^{n.bit_length() - 1} {dtype} {label}")
                case: dict[str, Any] = {
                    "n": n,
                    "dtype": dtype,
                    "cutoff": label,
                    "lower": cut_text(lo),
                    "upper": cut_text(hi),
                    "floor": floor,
                }
                if mod is None:
                    case["generated"] = {"error": why}
                else:
                    try:
                        fn = torch_sampler(mod, torch, n, lo, hi, dt)
                        case["generated"] = time_call(fn, cfg)
                        if "error" not in case["generated"]:
                            case["generated"]["output_check"] = check_output(
                                fn().numpy(), n, dtype, lo, hi
                            )
                    except Exception as exc:
                        case["generated"] = {"error": error_text(exc)}
                # std 1, absolute cutoffs a*std = lo, b*std = hi
                case["trunc_normal_"] = budgeted(
                    per_element, (dtype, label), n, partial(torch_trunc, torch, n, dt, lo, hi), cfg
                )
                add_ratios(case, "floor", ["trunc_normal_"])
                out["cases"].append(case)
    return out
