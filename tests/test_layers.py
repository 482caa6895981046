"""The package's folders follow the data's one-way flow: core -> maths -> model -> emit -> cli.

Every ``derive`` import (top-level or inside a function) is read from the source with ``ast``;
a folder may import only the folders before it, so there is no import cycle between layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "derive"
ORDER = ("core", "maths", "model", "emit")
# what each layer may import besides itself
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "maths": {"core"},
    "model": {"core", "maths"},
    "emit": {"core", "model"},
}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ORDER:
        return parts[1]
    return "top"


def _derive_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "derive":
                found.extend(f"derive.{alias.name}" for alias in node.names)
            elif node.module.startswith("derive."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("derive."))
    return found


SOURCES = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if _layer("derive." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)) != "top"
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layer_imports_only_the_layers_before_it(path: Path) -> None:
    module = "derive." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    layer = _layer(module)
    for target in _derive_imports(path):
        target_layer = _layer(target)
        if target_layer in ("top", layer):
            # derive/__init__ holds only the version; same-layer imports are fine
            assert target in ("derive.__version__", "derive.GENERATOR") or target_layer == layer
            continue
        assert target_layer in ALLOWED[layer], f"{module} imports {target}"


def test_every_module_lives_in_a_layer_or_is_an_entry_point() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py"]
