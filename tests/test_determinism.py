"""``generate`` writes the same bytes whatever the hash seed, the locale, the time zone, the
working directory and the output path.

Three subprocess runs of ``python -m derive generate --out DIR`` (about 1-2 s each) with
different environments, compared file by file.  The locales are C (with Python's UTF-8 mode
off, so that the preferred encoding is ASCII and any I/O that forgot ``encoding=`` would
differ or fail), C.UTF-8, and de_DE.UTF-8 when ``locale -a`` lists it (a decimal comma);
otherwise the third run uses POSIX.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _locales() -> set[str]:
    try:
        out = subprocess.run(
            ["locale", "-a"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.strip().lower().replace("utf8", "utf-8") for line in out.splitlines()}


def _third_locale() -> str:
    available = _locales()
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8"):
        if name.lower() in available:
            return name
    return "POSIX"  # no locale with a decimal comma is installed here


RUNS: list[dict[str, str]] = [
    {"PYTHONHASHSEED": "0", "LC_ALL": "C", "PYTHONUTF8": "0", "TZ": "UTC"},
    {"PYTHONHASHSEED": "1", "LC_ALL": "C.UTF-8", "TZ": "Asia/Tokyo"},
    {"PYTHONHASHSEED": "12345", "LC_ALL": _third_locale(), "TZ": "America/St_Johns"},
]


def _env(overrides: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LC_", "PYTHON")) and k not in ("LANG", "LANGUAGE", "TZ")
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(overrides)
    return env


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, bytes]]:
    """The files of each run; each run has its own cwd and an output path of its own shape.

    A full ``generate`` costs several seconds of CPU (the activation gains, the report's
    figures), so the three runs go concurrently.
    """
    runs = []
    for i, overrides in enumerate(RUNS):
        cwd = tmp_path_factory.mktemp(f"cwd{i}")
        out = cwd / ("nested/" * i) / f"out {i}"  # different depths, one with a space
        proc = subprocess.Popen(
            [sys.executable, "-m", "derive", "generate", "--out", str(out)],
            cwd=cwd,
            env=_env(overrides),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        runs.append((overrides, out, proc))
    results = []
    for overrides, out, proc in runs:
        try:
            _, stderr = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung generator
            proc.kill()
            raise
        assert proc.returncode == 0, f"run {overrides}: {stderr}"
        results.append(_snapshot(out))
    return results


def test_the_first_run_really_has_an_ascii_preferred_encoding() -> None:
    """Guards the premise of the C-locale run: PYTHONUTF8=0 under LC_ALL=C gives ASCII."""
    proc = subprocess.run(
        [sys.executable, "-c", "import locale; print(locale.getpreferredencoding(False))"],
        env=_env(RUNS[0]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip().lower() in ("ansi_x3.4-1968", "ascii", "us-ascii")


def test_every_run_writes_the_same_set_of_files(outputs: list[dict[str, bytes]]) -> None:
    names = [sorted(files) for files in outputs]
    assert names[0], "generate wrote nothing"
    assert all(n == names[0] for n in names), names


@pytest.mark.parametrize("run", [1, 2], ids=lambda i: f"C-vs-{RUNS[i]['LC_ALL']}")
def test_generated_bytes_do_not_depend_on_hash_seed_locale_time_zone_or_paths(
    outputs: list[dict[str, bytes]], run: int
) -> None:
    differing = [name for name in outputs[0] if outputs[0][name] != outputs[run].get(name)]
    assert not differing, f"bytes differ between {RUNS[0]} and {RUNS[run]}: {differing}"


def test_generated_files_name_no_output_path_or_working_directory(
    outputs: list[dict[str, bytes]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = str(tmp_path_factory.getbasetemp()).encode()
    for name, data in outputs[0].items():
        assert base not in data, f"{name} embeds a temporary path"
        assert str(ROOT).encode() not in data, f"{name} embeds the checkout path {ROOT}"
