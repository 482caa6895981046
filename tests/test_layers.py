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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("derive", *parts))


def _derive_imports(path: Path) -> list[str]:
    """The ``derive`` modules (or names) that ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text("utf-8"))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = ".".join(package[: len(package) - (node.level - 1)])
            module = f"{base}.{node.module}" if node.module else base
            if module == "derive" or not node.module:
                found.extend(f"{module}.{alias.name}" for alias in node.names)
            else:
                found.append(module)
    return found


def _absolute_derive_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
            and node.module.split(".")[0] == "derive")
        or (isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "derive" for a in node.names))
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_the_generator_imports_itself_relatively_so_it_runs_under_any_package_name(
    path: Path,
) -> None:
    """The same files are ``derive`` in a checkout and ``initref._derive`` installed."""
    assert _absolute_derive_imports(path) == []


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
