"""make bench, generator section: CLI queries, table sizes and `make generate` itself."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from common import (
    ROOT,
    log,
    time_call,
)

# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------


def moments_table(
    moments: Callable[..., Any], pairs: list[tuple[str, str]], digits: int
) -> list[Any]:
    return [moments(a, b, digits) for a, b in pairs]


def distinct_intervals(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` distinct cutoff pairs (decimal strings): symmetric, asymmetric, one-sided, tail."""
    import random

    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    while len(out) < count:
        kind = len(out) % 5
        if kind == 0:  # symmetric +-k
            k = f"{rng.uniform(0.05, 7):.4f}"
            pair = (f"-{k}", k)
        elif kind == 1:  # asymmetric around zero
            pair = (f"{-rng.uniform(0.05, 5):.4f}", f"{rng.uniform(0.05, 5):.4f}")
        elif kind == 2:  # one-sided
            a = f"{rng.uniform(-4, 8):.4f}"
            pair = (a, "inf") if rng.random() < 0.5 else ("-inf", a)
        else:  # tail intervals, far tails included, either side
            lo = rng.uniform(0.3, 12)
            hi = lo + rng.uniform(0.01, 3)
            pair = (f"{lo:.4f}", f"{hi:.4f}")
            if rng.random() < 0.5:
                pair = (f"{-hi:.4f}", f"{-lo:.4f}")
        if pair not in seen and pair[0] != pair[1]:
            seen.add(pair)
            out.append(pair)
    return out


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _jax_init_only_spec(directory: str) -> str:
    """The default spec with outputs = ["jax_init.py"]: what one output alone costs (the model
    derives only the tables its template reads)."""
    import re

    text = (ROOT / "pyproject.toml").read_text("utf-8")
    body = text[text.index("[tool.initref]") + len("[tool.initref]") : text.index("[tool.ruff]")]
    body = re.sub(r"outputs = \[[^\]]*\]", 'outputs = ["jax_init.py"]', body)
    path = os.path.join(directory, "jax_init_only.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)
    return path


def time_process(
    argv: list[str], reps: int, fresh_dir: bool = False, warmup: bool = True
) -> dict[str, Any]:
    """Median wall time of a whole process (warm-up run first: disk cache, .pyc files)."""
    times: list[float] = []
    cpu: list[float] = []
    last = ""
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(0 if warmup else 1, reps + 1):
            args = [a.replace("{tmp}", f"{tmp}/out{i}") if fresh_dir else a for a in argv]
            c0 = _children_cpu()
            t0 = time.perf_counter()
            proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            dc = _children_cpu() - c0
            if proc.returncode != 0:
                return {
                    "error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}",
                    "argv": argv,
                }
            last = proc.stdout
            if i:
                times.append(dt)
                cpu.append(dc)
    return {
        "median_s": statistics.median(times),
        "cpu_median_s": statistics.median(cpu),
        "cpu_times_s": cpu,
        "min_s": min(times),
        "reps": len(times),
        "times_s": times,
        "argv": [os.path.basename(argv[0]), *argv[1:]],
        "stdout_head": last.strip().splitlines()[0][:120] if last.strip() else "",
    }


def section_generator(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import mpmath

    from derive.maths.truncnorm import truncnorm_moments

    py = sys.executable
    out: dict[str, Any] = {"mpmath_backend": mpmath.libmp.BACKEND, "threads": {"python": 1}}
    proc = partial(time_process, reps=cfg["process_reps"], warmup=cfg["process_warmup"])
    log("generator: python -m derive generate --out <tmp>")
    out["generate_process"] = proc(
        [py, "-m", "derive", "generate", "--out", "{tmp}"], fresh_dir=True
    )
    log("generator: python -m derive generate --check")
    out["generate_check_process"] = proc([py, "-m", "derive", "generate", "--check"])
    with tempfile.TemporaryDirectory() as spec_dir:
        log("generator: python -m derive generate --spec <outputs = [jax_init.py]>")
        out["generate_jax_init_only_process"] = proc(
            [py, "-m", "derive", "generate", "--spec", _jax_init_only_spec(spec_dir), "--out",
             "{tmp}"],
            fresh_dir=True,
        )  # fmt: skip
    log("generator: CLI query vs scipy one-liner")
    out["cli_truncnorm_-2_2"] = proc([py, "-m", "derive", "truncnorm", "-2", "2"])
    out["scipy_oneliner_std_-2_2"] = proc(
        [py, "-c", "import scipy.stats; print(scipy.stats.truncnorm.std(-2, 2))"]
    )
    out["cli_truncnorm_-2_2_digits_1000"] = proc(
        [py, "-m", "derive", "truncnorm", "-2", "2", "--digits", "1000"]
    )

    # how time grows with the number of intervals (50 digits)
    truncnorm_moments("-2", "2", 50)  # warm-up: imports, mpmath constants
    growth = []
    for count in cfg["interval_counts"]:
        log(f"generator: {count} intervals at 50 digits")
        pairs = distinct_intervals(count, seed=count)
        r = time_call(
            partial(moments_table, truncnorm_moments, pairs, 50),
            {**cfg, "slow_call_s": 2.0, "very_slow_call_s": 30.0},
            reps=cfg["reps"] if count < 5000 else min(cfg["reps"], 3),
        )
        r.pop("warmup_s", None)
        r["intervals"] = count
        r["digits"] = 50
        if "median_s" in r:
            r["per_interval_ms"] = 1e3 * r["median_s"] / count
        growth.append(r)
    out["intervals_growth"] = growth

    # how time grows with the digits (one interval per call)
    digit_rows = []
    for digits in cfg["digits"]:
        for a, b in [("-2", "2"), ("-1", "3"), ("8", "9"), ("2", "inf")]:
            log(f"generator: [{a}, {b}] at {digits} digits")
            r = time_call(partial(truncnorm_moments, a, b, digits), cfg)
            r.pop("warmup_s", None)
            digit_rows.append({"digits": digits, "lower": a, "upper": b, **r})
    out["digits_growth"] = digit_rows
    return out
