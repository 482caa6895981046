"""make bench, section "model": initref.torch.initialize against anyinit 0.4.0 and torch's own
default init, on the same models (torch, CPU).

* Time: median of the init call on the same model object (one warm-up call), for
  initref.initialize (truncated normal, the default; and untruncated), anyinit.initialize
  (analytic mode, its default) and torch's default init (``reset_parameters()`` on every
  module).
* Second moment at depth: ``mean(a_L^2) / mean(a_1^2)``, the last hidden layer's second
  moment over the first's (so the input's scale drops out), over several seeds (one fresh
  init and one fixed input batch per seed): mean, geometric mean, min and max.
* Models: a 24-layer ReLU CNN (3x3, 64 channels, circular padding, no bias), a 24-layer tanh
  MLP (width 256, biases; initref at the critical point sigma_b^2 = 0.05) and a 24-layer GELU
  MLP (width 256, biases; initref at the critical point sigma_b^2 = 0.2, the stable one).
* torch on CPU at 1e8 parameters (16 x nn.Linear(2500, 2500)): initialize's time over the
  default init's in the same process (target <= 1.5x).

anyinit is optional: without it its columns are skipped with the reason.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from common import log, time_call

DEPTH = 24


def _anyinit() -> tuple[Any, str | None]:
    try:
        import anyinit
    except ImportError as exc:
        return None, f"anyinit not installed ({exc}): pip install anyinit==0.4.0"
    return anyinit, None


def _models(quick: bool) -> dict[str, Any]:
    import torch
    from torch import nn

    width, channels = (32, 8) if quick else (256, 64)

    def cnn() -> Any:
        mods: list[Any] = []
        for i in range(DEPTH):
            mods += [
                nn.Conv2d(
                    3 if i == 0 else channels,
                    channels,
                    3,
                    padding=1,
                    padding_mode="circular",
                    bias=False,
                ),
                nn.ReLU(),
            ]
        return nn.Sequential(*mods)

    def mlp(act: type[Any]) -> Any:
        mods: list[Any] = []
        for _ in range(DEPTH):
            mods += [nn.Linear(width, width), act()]
        return nn.Sequential(*mods)

    return {
        "relu_cnn": (cnn, lambda g: torch.randn(2, 3, 4, 4, generator=g), {}),
        "tanh_mlp": (
            lambda: mlp(nn.Tanh),
            lambda g: torch.randn(8, width, generator=g),
            {"bias_variance": 0.05, "critical": True},
        ),
        "gelu_mlp": (
            lambda: mlp(nn.GELU),
            lambda g: torch.randn(8, width, generator=g),
            {"bias_variance": 0.2, "critical": True},
        ),
    }


def _depth_ratio(model: Any, x: Any) -> float:
    import torch

    acts = [m for m in model if not isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    seen: list[float] = []
    hooks = [
        a.register_forward_hook(lambda m, i, o: seen.append(float(o.pow(2).mean())))
        for a in (acts[0], acts[-1])
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen[1] / seen[0]


def _summary(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    return {
        "mean": statistics.fmean(values),
        "geometric_mean": math.exp(statistics.fmean(math.log(v) for v in finite)),
        "min": min(values),
        "max": max(values),
        "seeds": len(values),
    }


def section_model(cfg: dict[str, Any], threads: int, memory: bool) -> dict[str, Any]:
    import torch

    import initref.torch as it

    torch.set_num_threads(threads)
    quick = cfg["reps"] == 1
    anyinit, why = _anyinit()
    out: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": threads,
        "anyinit": getattr(anyinit, "__version__", None),
        "anyinit_skipped": why,
        "models": {},
    }
    seeds = 2 if quick else 8
    for name, (build, draw, kw) in _models(quick).items():
        log(f"[bench model] {name}")
        methods: dict[str, Any] = {
            "initref": lambda m, s, kw=kw: it.initialize(
                m, generator=torch.Generator().manual_seed(s), **kw
            ),
            "initref_untruncated": lambda m, s, kw=kw: it.initialize(
                m,
                generator=torch.Generator().manual_seed(s),
                distribution="untruncated_normal",
                **kw,
            ),
            "torch_default": lambda m, s: [
                x.reset_parameters() for x in m.modules() if hasattr(x, "reset_parameters")
            ],
        }
        if anyinit is not None:
            methods["anyinit"] = lambda m, s: anyinit.initialize(m, seed=s)
        row: dict[str, Any] = {}
        for method, fn in methods.items():
            torch.manual_seed(0)
            model = build()
            timing = time_call(lambda fn=fn, model=model: fn(model, 0), cfg)
            ratios = []
            for s in range(seeds):
                torch.manual_seed(s)
                fn(model, s)
                ratios.append(_depth_ratio(model, draw(torch.Generator().manual_seed(1000 + s))))
            row[method] = {"time": timing, "second_moment_L_over_1": _summary(ratios)}
        if anyinit is None:
            row["anyinit"] = {"skipped": why}
        out["models"][name] = row
    out["large"] = _large(cfg, quick, threads)
    return out


def _large(cfg: dict[str, Any], quick: bool, threads: int) -> dict[str, Any]:
    """1e8 parameters: initialize vs reset_parameters on every module, same process, at the
    section's thread count (torch's default init is serial at any count; initref draws runs
    of tiles on that many threads), then the truncated normal again on one thread."""
    import torch
    from torch import nn

    import initref.torch as it

    n, count = (250, 4) if quick else (2500, 16)
    with torch.device("meta"):
        model = nn.Sequential(*[nn.Linear(n, n, bias=True) for _ in range(count)])
    model.to_empty(device="cpu")
    params = sum(p.numel() for p in model.parameters())
    log(f"[bench model] {params:.3g} parameters")
    reps = {**cfg, "reps": 1 if quick else 3}

    def default() -> None:
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    res: dict[str, Any] = {"parameters": params, "layers": count}
    res["torch_default"] = time_call(default, reps)
    for dist in ("truncated_normal", "untruncated_normal", "uniform"):
        t0 = time.perf_counter()
        res[f"initref_{dist}"] = time_call(
            lambda d=dist: it.initialize(model, distribution=d, default_activation="relu"), reps
        )
        res[f"initref_{dist}"]["wall_s"] = time.perf_counter() - t0
        base = res["torch_default"].get("median_s")
        mine = res[f"initref_{dist}"].get("median_s")
        res[f"ratio_{dist}"] = mine / base if base and mine else None
    if threads > 1:
        torch.set_num_threads(1)
        try:
            res["torch_default_one_thread"] = time_call(default, reps)
            res["initref_truncated_normal_one_thread"] = time_call(
                lambda: it.initialize(model, default_activation="relu"), reps
            )
        finally:
            torch.set_num_threads(threads)
        base = res["torch_default_one_thread"].get("median_s")
        mine = res["initref_truncated_normal_one_thread"].get("median_s")
        res["ratio_truncated_normal_one_thread"] = mine / base if base and mine else None
    res["threads"] = threads
    return res


def model_table(res: dict[str, Any], table: Any) -> list[str]:
    sec = res.get("model")
    if not sec:
        return []
    if "error" in sec:
        return [f"\n== model: {sec['error']}"]
    parts = [
        f"\n== model level (torch {sec.get('torch')}, {sec.get('threads')} threads; "
        f"anyinit {sec.get('anyinit') or 'skipped: ' + str(sec.get('anyinit_skipped'))})"
    ]
    rows = []
    for name, row in sec["models"].items():
        for method, r in row.items():
            if "skipped" in r:
                rows.append([name, method, "skip", "-", "-", "-", r["skipped"][:40]])
                continue
            t = r["time"].get("median_s")
            m = r["second_moment_L_over_1"]
            rows.append(
                [
                    name,
                    method,
                    "-" if t is None else f"{t * 1e3:.1f}",
                    f"{m['mean']:.3g}",
                    f"{m['geometric_mean']:.3g}",
                    f"[{m['min']:.3g}, {m['max']:.3g}]",
                    str(m["seeds"]),
                ]
            )
    parts.append(
        table(["model", "init", "ms", "E[a_L^2]/E[a_1^2] mean", "geo mean", "range", "seeds"], rows)
    )
    big = sec.get("large", {})
    if big:
        rows = [
            [
                k,
                f"{big[k]['median_s']:.3f}" if "median_s" in big[k] else "error",
                "-" if k.startswith("torch_default") else f"{big['ratio_' + k[8:]]:.2f}",
            ]
            for k in (
                "torch_default",
                "initref_truncated_normal",
                "initref_untruncated_normal",
                "initref_uniform",
                "torch_default_one_thread",
                "initref_truncated_normal_one_thread",
            )
            if k in big
        ]
        parts.append(
            f"\n-- {big['parameters']:.3g} parameters on CPU, {big.get('threads')} threads "
            "(then one): initialize / default init"
        )
        parts.append(table(["init", "s", "ratio"], rows))
    return parts
