"""Shared fixtures: the repository root, framework imports that fail (not skip) under CI, and
the Hypothesis profiles.

Hypothesis profiles (tests/test_properties.py): under CI=true, "ci": derandomized (the same
examples on every run, seeded from each test's source), no example database, failing
examples printed with a reproduction blob; elsewhere "dev": random exploration, with the
local database (.hypothesis/) replaying any failure it finds.  HYPOTHESIS_PROFILE=ci or dev
overrides the choice.  Examples found failing are pinned with @example in the tests.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, Verbosity, settings

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"

_HYPOTHESIS_COMMON: dict[str, object] = {
    "deadline": None,  # mpmath at high precision has no useful time bound per example
    "print_blob": True,
    "verbosity": Verbosity.normal,  # prints every falsifying example
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("ci", derandomize=True, database=None, **_HYPOTHESIS_COMMON)
settings.register_profile("dev", **_HYPOTHESIS_COMMON)


def hypothesis_profile() -> str:
    """ "ci" under CI=true, else "dev"; HYPOTHESIS_PROFILE overrides."""
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI", "").lower() == "true" else "dev"


settings.load_profile(hypothesis_profile())


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
