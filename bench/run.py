#!/usr/bin/env python
"""`make bench`: time the generated samplers against their frameworks, and the generator itself.

One run measures everything and prints a table of times and ratios; the results go to
``bench/results/bench-<mode>.json`` (or ``--out PATH``) as JSON with sorted keys.

Method
------
* Every timing is ``time.perf_counter`` around one call that returns a fresh output (the output's
  allocation is part of every candidate, floors included), after one untimed warm-up call; the
  figure reported is the median of the repetitions (5 by default; fewer only when one call takes
  seconds, and then the count is recorded next to the time).
* Each framework runs in its own subprocess (``--section``), so PyTorch and TensorFlow never share
  a process, their thread pools are set before first use, and one framework's memory cannot
  colour another's.  Thread counts are set explicitly (``--threads``, default: all cores) and
  recorded; ``OPENBLAS_CORETYPE`` is recorded, never changed.
* The generated modules are imported from ``generated/<name>.py`` by path, as a user's copy is.
* Peak extra memory (what a sampler needs beyond its own output, in units of the output's size):
  - NumPy: ``tracemalloc`` (NumPy reports its buffers to it) peak during the call, minus the
    traced size before the call, minus the output's ``nbytes``.
  - All three frameworks (NumPy again as a cross-check): the kernel's peak resident set.  A
    separate subprocess runs with ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB, so every large
    buffer is its own mmap and goes back to the kernel when freed; before the call the peak
    (``VmHWM``) is reset to the current RSS by writing 5 to ``/proc/self/clear_refs``; after
    it, extra = (VmHWM - RSS before - output bytes) / output bytes.  A calibration case
    (``x = normal(n); return x * 2``: exactly 1.0x extra) is measured the same way.
* SciPy's ``truncnorm.rvs`` takes 1-2 s per 2^20 draws, so it is timed at 2^20 only (3 reps)
  and its 2^24 time is that per-element time times 2^24 (marked ``extrapolated_from_n``).
  Its output is float64 whatever the dtype, so it is timed once per cutoff (float64) and that
  time stands for both dtypes.
* The naive "redraw what falls outside" sampler needs about n/Z normals (Z the interval's
  mass); it is run only where that is affordable and otherwise reported as skipped with the
  expected cost (never as a time).
* The ``jax_sharded`` section runs with XLA_FLAGS=--xla_force_host_platform_device_count=8
  (8 simulated CPU devices sharing the machine's cores) and times ``jax.jit(...,
  out_shardings=...)`` on a 2 x 4 mesh, ours against JAX's own samplers with the same
  sharding (bench/bench_jax.py); only its ratios are meaningful.
* Whole processes (``make generate``, CLI queries) are timed by wall clock and by the CPU time
  of the child (``resource.getrusage(RUSAGE_CHILDREN)``), which other work on the machine
  inflates less.
* ``--device cuda`` runs only the CUDA section (bench/bench_torch_cuda.py: CUDA-event medians,
  ``torch.cuda.max_memory_allocated``, syncs per call; its docstring has the method),
  ``--device cpu`` only the others; the default runs both, and the CUDA section reports
  "skipped: no CUDA device" where there is none.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_generator import section_generator
from bench_jax import section_jax, section_jax_sharded, sharded_env
from bench_model import model_table, section_model
from bench_numpy import section_numpy
from bench_orthogonal import (
    orthogonal_table,
    orthogonal_targets,
    section_orthogonal_numpy,
    section_orthogonal_tf,
    section_orthogonal_torch,
)
from bench_tf import section_tf
from bench_torch import section_torch
from bench_torch_cuda import section_torch_cuda
from bench_torch_cuda import table as cuda_table
from bench_torch_dtensor import section_torch_dtensor
from bench_torch_dtensor import table as dtensor_table
from bench_torch_small import section_torch_small
from bench_torch_small import table as small_table
from common import (
    CPU_SECTIONS,
    FULL,
    NO_MEMORY_SECTIONS,
    QUICK,
    RESULTS,
    ROOT,
    SECTION_GROUPS,
    SECTIONS,
    log,
)

# ---------------------------------------------------------------------------------------------
# orchestration, targets, table
# ---------------------------------------------------------------------------------------------


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name, dists in [
        ("numpy", ["numpy"]),
        ("scipy", ["scipy"]),
        ("mpmath", ["mpmath"]),
        ("sympy", ["sympy"]),
        ("torch", ["torch"]),
        ("tensorflow", ["tensorflow-cpu", "tensorflow"]),
        ("keras", ["keras"]),
    ]:
        out[name] = None
        for dist in dists:
            with contextlib.suppress(PackageNotFoundError):
                out[name] = version(dist)
                break
    return out


def loadavg() -> str:
    """/proc/loadavg: other work on the machine inflates times (and ratios of many-op samplers)."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "unknown"


def run_section(name: str, args: argparse.Namespace, memory: bool) -> dict[str, Any]:
    """Run one section in a fresh interpreter and return its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{name}.json"
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--section",
            name,
            "--out",
            str(target),
            "--threads",
            str(args.threads),
        ]
        if args.quick:
            argv.append("--quick")
        env = dict(os.environ)
        if name == "jax_sharded":  # 8 simulated CPU devices, fixed before JAX's import
            env.update(sharded_env())
        if memory:
            argv.append("--memory")
            env["MALLOC_MMAP_THRESHOLD_"] = "65536"
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        took = time.perf_counter() - t0
        if proc.returncode != 0 or not target.exists():
            return {
                "error": f"section {name}{' --memory' if memory else ''} exited {proc.returncode}",
                "wall_s": took,
            }
        data = json.loads(target.read_text())
        data["wall_s"] = took
        data["loadavg_after"] = loadavg()
        return data


def geq(value: float | None, bound: float) -> bool | None:
    return None if value is None else value >= bound


def evaluate_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Each issue-4 target with the measured worst case and pass/miss (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, worst: float | None, ok: bool | None, where: str = "") -> None:
        rows.append(
            {"target": name, "limit": target, "measured": worst, "pass": ok, "worst_case": where}
        )

    def worst(
        cases: list[dict[str, Any]],
        key: str,
        pick: Callable[[dict[str, Any]], bool],
        invert: bool = False,
    ) -> tuple[float | None, str]:
        best: tuple[float | None, str] = (None, "")
        for c in cases:
            if not pick(c):
                continue
            r = c.get("ratio_generated_over", {}).get(key)
            if r is None:
                continue
            v = 1 / r if invert else r
            if best[0] is None or (v < best[0] if invert else v > best[0]):
                best = (v, f"n=2^{c['n'].bit_length() - 1} {c['dtype']} {c['cutoff']}")
        return best

    np_cases = res.get("numpy", {}).get("cases", [])
    v, w = worst(np_cases, "floor", lambda c: c["cutoff"] == "±2")
    add("numpy ±2 vs standard_normal", "≤ 1.3×", v, None if v is None else v <= 1.3, w)
    v, w = worst(np_cases, "floor", lambda c: True)
    add("numpy every cutoff vs standard_normal", "≤ 3×", v, None if v is None else v <= 3, w)
    v, w = worst(np_cases, "scipy_truncnorm_rvs", lambda c: True, invert=True)
    add("numpy speed-up over scipy truncnorm.rvs", "≥ 10×", v, geq(v, 10), w)

    t_cases = res.get("torch", {}).get("cases", [])
    v, w = worst(t_cases, "trunc_normal_", lambda c: True)
    add("torch vs trunc_normal_ (where it runs)", "≤ 1×", v, None if v is None else v <= 1, w)
    v, w = worst(t_cases, "floor", lambda c: c["cutoff"] == "±2")
    add("torch ±2 vs normal_", "≤ 2×", v, None if v is None else v <= 2, w)

    small = res.get("torch_small", {}).get("cases", [])
    for condition, label in (("idle", "1 and 2 threads"), ("contended", "2 threads, cores busy")):
        found = [
            (max(c["ratio_over_trunc_normal_"][k] for k in ("he_normal_", "truncated_normal_")), c)
            for c in small
            if c["condition"] == condition
        ]
        v, c = max(found, key=lambda rc: rc[0]) if found else (None, None)
        where = "" if c is None else f"{'x'.join(map(str, c['shape']))} {c['threads']} thread(s)"
        add(
            f"torch small tensors vs trunc_normal_ ({label})",
            "≤ 2×",
            v,
            None if v is None else v <= 2,
            where,
        )
    dt = res.get("torch_dtensor", {}).get("cases", [])
    found = [
        (c["ratios"]["ours he_normal_ / torch trunc_normal_"], c)
        for c in dt
        if c["ratios"].get("ours he_normal_ / torch trunc_normal_") is not None
    ]
    v, c = max(found, key=lambda rc: rc[0]) if found else (None, None)
    where = "" if c is None else f"{'x'.join(map(str, c['shape']))} {c['placement']}"
    add("torch DTensor he_normal_ vs trunc_normal_ (2 ranks)", "-", v, None, where)

    tf_cases = res.get("tf", {}).get("cases", [])
    v, w = worst(tf_cases, "truncated_normal_pm2", lambda c: c["cutoff"] == "±2")
    add("tf ±2 vs tf.random.truncated_normal", "≤ 1.5×", v, None if v is None else v <= 1.5, w)

    jax_cases = res.get("jax", {}).get("cases", [])
    v, w = worst(jax_cases, "truncated_normal_pm2", lambda c: c["cutoff"] == "±2")
    add("jax ±2 vs jax.random.truncated_normal", "≤ 1.5×", v, None if v is None else v <= 1.5, w)
    tails = ("[3, 4]", "[8, 9]", "[2, inf)")
    v, w = worst(jax_cases, "floor", lambda c: c["cutoff"] in tails)
    add("jax tail cutoffs vs jax.random.normal", "≤ 3×", v, None if v is None else v <= 3, w)
    v, w = worst(jax_cases, "floor", lambda c: True)
    add("jax every cutoff vs jax.random.normal", "-", v, None, w)

    sharded = res.get("jax_sharded", {}).get("cases", [])
    v, w = worst(sharded, "jax_he_normal", lambda c: c["cutoff"] == "±2")
    add(
        "jax sharded he_normal vs jax.nn.initializers.he_normal (same out_shardings)",
        "≤ 1.5×",
        v,
        None if v is None else v <= 1.5,
        w,
    )
    v, w = worst(sharded, "floor", lambda c: c["cutoff"] in tails)
    add("jax sharded tails vs jax.random.normal (same out_shardings)", "≤ 3×", v,
        None if v is None else v <= 3, w)  # fmt: skip
    v, w = worst(sharded, "jax_truncated_normal", lambda c: True)
    add("jax sharded vs jax.random.truncated_normal (same cutoffs)", "-", v, None, w)
    same = [c["generated"].get("equals_unsharded") for c in sharded if "generated" in c]
    add(
        "jax sharded values equal the unsharded call",
        "all (1.0)",
        None if not same else sum(bool(x) for x in same) / len(same),
        None if not same else all(same),
        f"{sum(bool(x) for x in same)} of {len(same)} cases" if same else "",
    )

    mem_worst: tuple[float | None, str] = (None, "")
    for fw in ("numpy", "torch", "tf"):
        for m in res.get(fw, {}).get("memory", []) + res.get(fw + "_memory", {}).get("memory", []):
            if m.get("name") != "generated" or "peak_extra_ratio" not in m:
                continue
            if mem_worst[0] is None or m["peak_extra_ratio"] > mem_worst[0]:
                mem_worst = (
                    m["peak_extra_ratio"],
                    f"{fw} {m.get('method', '')[:11]} n=2^{m['n'].bit_length() - 1} "
                    f"{m['dtype']} {m['cutoff']}",
                )
    add(
        "peak extra memory of generated samplers",
        "≤ 1× output",
        mem_worst[0],
        None if mem_worst[0] is None else mem_worst[0] <= 1.0,
        mem_worst[1],
    )

    cuda_targets(res.get("torch_cuda", {}), add)
    big = res.get("model", {}).get("large", {})
    for dist in ("truncated_normal", "untruncated_normal"):
        v = big.get(f"ratio_{dist}")
        add(f"model initialize ({dist}) vs torch default init, 1e8 params CPU", "≤ 1.5×", v,
            None if v is None else v <= 1.5,
            f"{big.get('parameters', 0):.3g} parameters, {big.get('threads')} threads")
    v = big.get("ratio_truncated_normal_one_thread")
    add("model initialize (truncated_normal) vs torch default init, 1 thread", "-", v, None)

    g = res.get("generator", {})
    t = g.get("generate_process", {}).get("median_s")
    add("make generate (python -m derive generate)", "< 5 s", t, None if t is None else t < 5)
    t = g.get("generate_process", {}).get("cpu_median_s")
    add("make generate, CPU time of the process", "-", t, None)
    cli = g.get("cli_truncnorm_-2_2", {}).get("median_s")
    sp = g.get("scipy_oneliner_std_-2_2", {}).get("median_s")
    add(
        "CLI query / scipy one-liner (time ratio)",
        "≤ 1×",
        cli / sp if cli and sp else None,
        None if not (cli and sp) else cli <= sp,
    )
    big = [r for r in g.get("intervals_growth", []) if r.get("intervals") == 10000]
    t = big[0].get("median_s") if big else None
    add("10,000 intervals at 50 digits", "< 10 s", t, None if t is None else t < 10)
    for what, ratio, where in orthogonal_targets(res):
        add(what, "≤ 1×", ratio, None if ratio is None else ratio <= 1.0, where)

    rows_1000 = [r for r in g.get("digits_growth", []) if r["digits"] == 1000 and "median_s" in r]
    if rows_1000:
        r = max(rows_1000, key=lambda r: r["median_s"])
        add(
            "one interval at 1,000 digits (slowest of 4)",
            "< 1 s",
            r["median_s"],
            r["median_s"] < 1,
            f"[{r['lower']}, {r['upper']}]",
        )
    else:
        add("one interval at 1,000 digits (slowest of 4)", "< 1 s", None, None)
    return rows


def cuda_targets(sec: dict[str, Any], add: Callable[..., None]) -> None:
    """Issue 11's targets on CUDA (n >= 2^24, ratios to normal_ in the same run)."""
    cases = [c for c in sec.get("cases", []) if c["n"] >= 2**24]

    def worst(pick: Callable[[dict[str, Any]], bool], value: Callable[[dict[str, Any]], Any]):
        found = [(value(c), c) for c in cases if pick(c) and value(c) is not None]
        if not found:
            return None, ""
        v, c = max(found, key=lambda vc: vc[0])
        return v, f"n=2^{c['n'].bit_length() - 1} {c['dtype']} {c['cutoff']}"

    def ratio(key: str) -> Callable[[dict[str, Any]], Any]:
        return lambda c: c.get("ratio_generated_over", {}).get(key)

    for dtype, limit in (("float32", 2.5), ("bfloat16", 2.0)):
        v, w = worst(lambda c, d=dtype: c["cutoff"] == "±2" and c["dtype"] == d, ratio("floor"))
        add(f"cuda ±2 {dtype} vs normal_", f"≤ {limit}×", v, None if v is None else v <= limit, w)
    v, w = worst(lambda c: c["cutoff"] == "±2", ratio("trunc_normal_"))
    add("cuda ±2 vs trunc_normal_ ±2", "< 1×", v, None if v is None else v < 1, w)
    v, w = worst(lambda c: c["cutoff"] != "±2", ratio("floor"))
    add("cuda [3,4], [8,9], [2,inf) vs normal_", "≤ 4×", v, None if v is None else v <= 4, w)
    v, w = worst(lambda c: True, lambda c: c.get("memory", {}).get("peak_extra_ratio"))
    add("cuda peak extra memory", "≤ 0.5× output", v, None if v is None else v <= 0.5, w)
    designed = sec.get("syncs_per_call_designed")
    v, w = worst(
        lambda c: isinstance(c.get("syncs_per_call"), float), lambda c: c.get("syncs_per_call")
    )
    add(
        "cuda syncs per steady-state call",
        f"≤ {designed}" if designed is not None else "as designed",
        v,
        None if v is None or designed is None else v <= designed,
        w,
    )


def fmt_t(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    if "median_s" in entry:
        s = entry["median_s"]
        text = f"{s * 1e3:.1f}" if s < 10 else f"{s * 1e3:.0f}"
        if entry.get("extrapolated_from_n"):
            text += "*"
        return text
    if "skipped" in entry:
        return "skip"
    return "error"


def fmt_r(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def report(res: dict[str, Any]) -> str:
    parts: list[str] = []
    others = {
        "numpy": [("scipy_truncnorm_rvs", "scipy"), ("naive_redraw", "naive")],
        "torch": [("trunc_normal_", "trunc_normal_")],
        "tf": [
            ("truncated_normal_pm2", "tf.trunc±2"),
            ("stateless_parameterized_truncated_normal", "stateless_param"),
        ],
        "jax": [
            ("truncated_normal_pm2", "jax.trunc±2"),
            ("jax_truncated_normal", "jax.trunc(same)"),
        ],
        "jax_sharded": [
            ("jax_he_normal", "jax.he_normal"),
            ("jax_truncated_normal", "jax.trunc(same)"),
        ],
    }
    for fw, extra in others.items():
        sec = res.get(fw)
        if not sec:
            continue
        if "error" in sec:
            parts.append(f"\n== {fw}: {sec['error']}")
            continue
        parts.append(
            f"\n== {fw} ({sec.get('generated')}) — times in ms (median), ratio = generated / other"
        )
        headers = ["n", "dtype", "cutoff", "generated", "floor", "gen/floor"]
        for _, short in extra:
            headers += [short, f"gen/{short}"]
        headers.append("check")
        rows = []
        for c in sec["cases"]:
            r = c.get("ratio_generated_over", {})
            row = [
                f"2^{c['n'].bit_length() - 1}",
                c["dtype"],
                c["cutoff"],
                fmt_t(c.get("generated")),
                fmt_t(c.get("floor")),
                fmt_r(r.get("floor")),
            ]
            for key, _ in extra:
                row += [fmt_t(c.get(key)), fmt_r(r.get(key))]
            gen = c.get("generated", {})
            row.append(gen.get("output_check", "") if "error" not in gen else gen["error"][:40])
            rows.append(row)
        parts.append(table(headers, rows))
        if fw == "numpy":
            at = res["config"]["scipy_n"].bit_length() - 1
            parts.append(f"* scipy timed at n = 2^{at} and scaled per element")
        mem = sec.get("memory", []) + res.get(fw + "_memory", {}).get("memory", [])
        if mem:
            parts.append(f"\n-- {fw} peak extra memory / output size")
            rows = [
                [
                    m.get("name", "")[:34],
                    m.get("method", "")[:20],
                    f"2^{m['n'].bit_length() - 1}" if "n" in m else "",
                    m.get("dtype", ""),
                    m.get("cutoff", ""),
                    fmt_r(m.get("peak_extra_ratio")) if "error" not in m else m["error"][:40],
                ]
                for m in mem
            ]
            parts.append(table(["what", "method", "n", "dtype", "cutoff", "extra/output"], rows))
    parts += orthogonal_table(res, table)
    parts += model_table(res, table)
    g = res.get("generator")
    if g and "error" not in g:
        parts.append(f"\n== generator (mpmath backend: {g.get('mpmath_backend')})")
        rows = []
        for key in (
            "generate_process",
            "cli_truncnorm_-2_2",
            "scipy_oneliner_std_-2_2",
            "cli_truncnorm_-2_2_digits_1000",
            "generate_check_process",
            "generate_jax_init_only_process",
        ):
            entry = g.get(key, {})
            cpu = entry.get("cpu_median_s")
            rows.append(
                [
                    key,
                    fmt_t(entry),
                    "-" if cpu is None else f"{cpu * 1e3:.0f}",
                    str(entry.get("reps", "")),
                ]
            )
        parts.append(table(["process", "ms", "cpu ms", "reps"], rows))
        rows = [
            [
                str(r["intervals"]),
                str(r["digits"]),
                fmt_t(r),
                f"{r['per_interval_ms']:.3f}" if "per_interval_ms" in r else "-",
                str(r.get("reps", "")),
            ]
            for r in g.get("intervals_growth", [])
        ]
        parts.append(table(["intervals", "digits", "ms", "ms/interval", "reps"], rows))
        rows = [
            [str(r["digits"]), f"[{r['lower']}, {r['upper']}]", fmt_t(r)]
            for r in g.get("digits_growth", [])
        ]
        parts.append(table(["digits", "interval", "ms"], rows))
    elif g:
        parts.append(f"\n== generator: {g['error']}")
    for key, title, render in (
        ("torch_small", "torch small tensors: us per call (ours / trunc_normal_)", small_table),
        ("torch_dtensor", "torch DTensor, 2 gloo ranks on CPU (slowest rank)", dtensor_table),
    ):
        sec = res.get(key)
        if sec and "error" not in sec:
            parts.append(f"\n== {title}")
            parts.append(render(sec, table))
        elif sec:
            parts.append(f"\n== {key}: {sec['error']}")
    if res.get("torch_cuda"):
        parts.append("\n" + cuda_table(res["torch_cuda"]))
    rows = [
        [
            t["target"],
            t["limit"],
            "-" if t["measured"] is None else f"{t['measured']:.3g}",
            {True: "pass", False: "MISS", None: "n/a"}[t["pass"]],
            t["worst_case"],
        ]
        for t in res.get("targets", [])
    ]
    parts.append("\n== targets (measured = worst case; times in s, else ratios)")
    parts.append(table(["target", "limit", "measured", "", "worst case"], rows))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny n, 1 rep (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="numpy|torch|torch_small|torch_dtensor|tf|jax|jax_sharded|generator|orthogonal "
        "(the three orthogonal_* sections)|model|torch_cuda (repeatable or comma-separated)",
    )
    parser.add_argument(
        "--device",
        choices=("all", "cpu", "cuda"),
        default="all",
        help="cuda: only the CUDA section (torch_cuda); cpu: all but it (default: all)",
    )
    parser.add_argument("--out", help="results JSON path (default bench/results/bench-<mode>.json)")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch / TF thread count (default: all cores)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS memory subprocesses")
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    sys.path.insert(0, str(ROOT))

    if args.section:  # child process: one section, JSON to --out
        func = {
            "numpy": section_numpy,
            "torch": section_torch,
            "tf": section_tf,
            "jax": section_jax,
            "jax_sharded": section_jax_sharded,
            "generator": section_generator,
            "orthogonal_numpy": section_orthogonal_numpy,
            "orthogonal_torch": section_orthogonal_torch,
            "orthogonal_tf": section_orthogonal_tf,
            "model": section_model,
            "torch_cuda": lambda cfg, threads, memory: section_torch_cuda(args.quick),
            "torch_small": section_torch_small,
            "torch_dtensor": section_torch_dtensor,
        }[args.section]
        data = func(cfg, args.threads, args.memory)
        Path(args.out).write_text(json.dumps(data, sort_keys=True, allow_nan=False))
        return 0

    only = [s.strip() for part in args.only for s in part.split(",") if s.strip()] or list(SECTIONS)
    only = [name for s in only for name in SECTION_GROUPS.get(s, (s,))]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        accepted = ", ".join([*SECTIONS, *SECTION_GROUPS])
        parser.error(f"--only: {', '.join(bad)} (accepted: {accepted})")
    on_device = {"all": SECTIONS, "cpu": CPU_SECTIONS, "cuda": ("torch_cuda",)}[args.device]
    only = [s for s in only if s in on_device]
    if not only:
        parser.error(f"--only with --device {args.device}: no section left")
    t_start = time.perf_counter()
    res: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "sections": only,
            "versions": versions(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads_requested": args.threads,
            "OPENBLAS_CORETYPE": {
                "present": "OPENBLAS_CORETYPE" in os.environ,
                "value": os.environ.get("OPENBLAS_CORETYPE"),
            },
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_start": loadavg(),
        },
        "config": cfg,
    }
    for name in only:
        log(f"[bench] section {name}")
        res[name] = run_section(name, args, memory=False)
        if name not in NO_MEMORY_SECTIONS and not args.no_memory:
            log(f"[bench] section {name}: memory")
            res[name + "_memory"] = run_section(name, args, memory=True)
    res["targets"] = evaluate_targets(res)
    res["meta"]["wall_s"] = time.perf_counter() - t_start
    res["meta"]["loadavg_end"] = loadavg()
    out = Path(args.out) if args.out else RESULTS / f"bench-{res['meta']['mode']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, sort_keys=True, indent=1, allow_nan=False) + "\n")
    print(report(res))
    print(f"\nresults: {out}  (wall {res['meta']['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
