"""Shared fixtures: the repository root and framework imports that fail (not skip) under CI."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"


def require(module: str) -> ModuleType:
    """Import a framework; under CI=true a missing one is a failure, elsewhere a skip."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{module} is required under CI=true but cannot be imported: {exc}")
        pytest.skip(f"{module} not installed")
        raise


def load_generated(name: str) -> ModuleType:
    """Import ``generated/<name>.py`` as a standalone module (as a user's copy would be), once
    per process: executing tf_init.py again would register new classes under the same Keras
    names, and models saved with the first ones would load as the second."""
    if f"initref_generated_{name}" in sys.modules:
        return sys.modules[f"initref_generated_{name}"]
    path = GENERATED / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"initref_generated_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
