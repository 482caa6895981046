"""Templates -> file texts, in memory: ``render(model, outputs) -> {path: text}``."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from importlib.resources.abc import Traversable
from typing import Any

import jinja2

from ..core.resources import template_dir as packaged_templates
from ..model.tables import json_string

TEMPLATES: dict[str, str] = {
    "constants.json": "constants.json.j2",
    "constants.md": "constants.md.j2",
    "constants.py": "constants.py.j2",
    "jax_init.py": "jax_init.py.j2",
    "numpy_init.py": "numpy_init.py.j2",
    "report.md": "report.md.j2",
    "tf_init.py": "tf_init.py.j2",
    "torch_init.py": "torch_init.py.j2",
}


def environment(template_dir: Traversable | None = None) -> jinja2.Environment:
    """Jinja2 over the package's templates (:mod:`derive.core.resources`), or over
    ``template_dir`` (any directory: a ``Path`` or an importlib.resources ``Traversable``)."""
    root = packaged_templates() if template_dir is None else template_dir

    def load(name: str) -> tuple[str, str, None] | None:
        item = root.joinpath(name)
        if not item.is_file():
            return None  # jinja2.TemplateNotFound
        return item.read_text(encoding="utf-8"), str(item), None  # the name in tracebacks

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["json"] = json_string
    return env


def render(
    model: Mapping[str, Any],
    outputs: tuple[str, ...],
    template_dir: Traversable | None = None,
    pool: Executor | None = None,
) -> dict[str, str]:
    """Render every requested output; raises before anything is written if one fails.

    With ``pool`` (an executor of worker processes) one of the report's sampled figures is
    drawn in its worker while this process renders the templates and draws the others; the
    bytes are the same."""
    env = environment(template_dir)

    def text(name: str) -> str:
        return env.get_template(TEMPLATES[name]).render(model=model, output=name)

    files: dict[str, str] = {}
    if "report.md" not in outputs:
        return {name: text(name) for name in sorted(outputs)}
    from .figures import (
        SAMPLER_FREE,
        WORKER_FIGURE,
        build_figures,
        received_figure,
        send_figure,
    )

    report = model["report"]
    # figures that draw no samples first: they need no gains table, which may still be on
    # its way; then the sampler (numpy_init.py, which reads it) and the sampled figures
    drawn = build_figures(report, None, SAMPLER_FREE)
    sampler = text("numpy_init.py")
    late = {f["name"] for f in report["figures"]} - SAMPLER_FREE
    sent = send_figure(pool, report, sampler, late)
    for name in sorted(outputs):
        files[name] = sampler if name == "numpy_init.py" else text(name)
    drawn |= build_figures(report, sampler, late - {WORKER_FIGURE} if sent is not None else late)
    if sent is not None:
        drawn |= received_figure(sent, report, sampler)
    files.update({f["path"]: drawn[f["path"]] for f in report["figures"]})
    return files
