"""Templates -> file texts, in memory: ``render(model, outputs) -> {path: text}``."""

from __future__ import annotations

from collections.abc import Mapping
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
    model: Mapping[str, Any], outputs: tuple[str, ...], template_dir: Traversable | None = None
) -> dict[str, str]:
    """Render every requested output; raises before anything is written if one fails."""
    env = environment(template_dir)
    files: dict[str, str] = {}
    early: dict[str, str] = {}
    if "report.md" in outputs:  # figures that draw no samples first: they need no gains table,
        from .figures import SAMPLER_FREE, build_figures  # which may still be on its way

        early = build_figures(model["report"], None, SAMPLER_FREE)
    for name in sorted(outputs):
        text = env.get_template(TEMPLATES[name]).render(model=model, output=name)
        files[name] = text
    if "report.md" in outputs:  # its figures, "figures/<name>.svg", drawn with numpy_init.py
        sampler = files.get("numpy_init.py") or env.get_template(TEMPLATES["numpy_init.py"]).render(
            model=model, output="numpy_init.py"
        )
        late = build_figures(
            model["report"], sampler, {f["name"] for f in model["report"]["figures"]} - SAMPLER_FREE
        )
        drawn = early | late
        files.update({f["path"]: drawn[f["path"]] for f in model["report"]["figures"]})
    return files
