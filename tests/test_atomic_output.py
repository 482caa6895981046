"""``generate`` is all-or-nothing: a failure while rendering, staging or moving files into
place leaves the output directory byte-identical, with no temporary file left behind.

Every test works on a throw-away output directory under ``tmp_path`` (never on the real
``generated/``) holding stale versions of every output plus a file ``generate`` does not own,
so that a successful run would change every output.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import jinja2
import pytest

from derive import cli
from derive.emit import render as render_mod
from derive.model import tables
from derive.model.spec import Spec, load_spec
from tests.conftest import ROOT

SPEC_TOML = """\
[tool.initref]
digits = 20
outputs = ["constants.json", "constants.md", "constants.py"]
symmetric = { start = "1", stop = "3", step = "1" }
intervals = [["-1", "3"], ["2", "inf"]]
"""
OUTPUTS = ("constants.json", "constants.md", "constants.py")  # rendered in this order


_MODELS: dict[object, dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def _build_each_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about writing, not deriving: every run of one spec reuses one model
    (building it computes the activation gains, seconds of CPU)."""
    real_build = tables.build_model

    def build_once(spec: Spec, **_: Any) -> dict[str, Any]:
        if spec not in _MODELS:
            _MODELS[spec] = real_build(spec)
        return _MODELS[spec]

    monkeypatch.setattr(tables, "build_model", build_once)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden and temporary ones included) with its bytes."""
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC_TOML, encoding="utf-8")
    assert load_spec(path).outputs == OUTPUTS
    return path


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    for name in OUTPUTS:
        (out / name).write_bytes(f"stale {name}\n".encode())
    (out / "NOTES.txt").write_bytes(b"not generated; must survive untouched\n")
    return out


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    """A copy of templates/ that the tests may break."""
    target = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", target)
    return target


def _generate(spec_file: Path, out_dir: Path) -> int:
    return cli.main(["generate", "--spec", str(spec_file), "--out", str(out_dir)])


def _use_templates(monkeypatch: pytest.MonkeyPatch, template_dir: Path) -> None:
    """Make render() load its templates from ``template_dir``."""
    real_environment = render_mod.environment
    monkeypatch.setattr(
        render_mod, "environment", lambda _dir=template_dir: real_environment(template_dir)
    )


def test_a_successful_run_replaces_every_stale_output_and_leaves_no_temporaries(
    spec_file: Path, out_dir: Path
) -> None:
    expected = render_mod.render(tables.build_model(load_spec(spec_file)), OUTPUTS)
    assert _generate(spec_file, out_dir) == 0
    after = snapshot(out_dir)
    assert sorted(after) == sorted([*OUTPUTS, "NOTES.txt"])  # no .tmp file left
    for name in OUTPUTS:
        assert after[name] == expected[name].encode("utf-8")
    # a second run finds nothing to change and rewrites nothing (mtimes kept)
    mtimes = {name: (out_dir / name).stat().st_mtime_ns for name in OUTPUTS}
    assert _generate(spec_file, out_dir) == 0
    assert snapshot(out_dir) == after
    assert {name: (out_dir / name).stat().st_mtime_ns for name in OUTPUTS} == mtimes


@pytest.mark.parametrize(
    ("template_text", "error"),
    [
        # StrictUndefined: an unknown variable raises at render time
        ("# partial output\n{{ raise_error }}\n", jinja2.exceptions.UndefinedError),
        # a macro that does not exist
        ("{% import '_macros.j2' as m %}{{ m.no_such_macro(model) }}\n", jinja2.UndefinedError),
        # a Python exception from inside the template
        ("{{ model.digits }}\n{{ 1 // 0 }}\n", ZeroDivisionError),
    ],
    ids=["undefined-variable", "undefined-macro", "zero-division"],
)
def test_a_template_that_raises_mid_way_leaves_the_output_directory_byte_identical(
    spec_file: Path,
    out_dir: Path,
    template_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    template_text: str,
    error: type[BaseException],
) -> None:
    # the last output to render fails, after the first two have rendered successfully
    (template_dir / render_mod.TEMPLATES[OUTPUTS[-1]]).write_text(template_text, "utf-8")
    _use_templates(monkeypatch, template_dir)
    before = snapshot(out_dir)
    with pytest.raises(error):
        _generate(spec_file, out_dir)
    assert snapshot(out_dir) == before


def test_a_write_failure_while_staging_the_second_file_leaves_the_directory_byte_identical(
    spec_file: Path,
    out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real_fdopen = os.fdopen
    opened: list[int] = []

    def flaky_fdopen(fd: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]
        opened.append(fd)
        if len(opened) == 2:  # the disk fills up half-way through the second file
            handle.write(b"partial")
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return handle

    monkeypatch.setattr(os, "fdopen", flaky_fdopen)
    before = snapshot(out_dir)
    with pytest.raises(SystemExit) as exc:
        _generate(spec_file, out_dir)
    assert exc.value.code == 2
    assert len(opened) == 2, "the injection never ran: the test proves nothing"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("initref: error: --out:")
    assert "No space left on device" in err
    assert snapshot(out_dir) == before


def test_a_failure_while_moving_files_into_place_restores_the_files_already_moved(
    spec_file: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (out_dir / OUTPUTS[-1]).unlink()  # one output is new: undoing its move deletes it
    real_replace = os.replace
    moved: list[str] = []

    def flaky_replace(src: str | Path, dst: str | Path) -> None:
        if len(moved) == 2:
            raise OSError(errno.EACCES, "Permission denied (injected)")
        real_replace(src, dst)
        moved.append(Path(dst).name)

    monkeypatch.setattr(os, "replace", flaky_replace)
    before = snapshot(out_dir)
    with pytest.raises(SystemExit) as exc:
        _generate(spec_file, out_dir)
    assert exc.value.code == 2
    assert len(moved) == 2, "the injection never ran: the test proves nothing"
    assert snapshot(out_dir) == before


def test_render_fails_before_returning_anything_when_one_template_raises(
    spec_file: Path, template_dir: Path
) -> None:
    (template_dir / render_mod.TEMPLATES[OUTPUTS[-1]]).write_text("{{ nope }}\n", "utf-8")
    model = tables.build_model(load_spec(spec_file))
    # the intact templates render from the copy...
    assert set(render_mod.render(model, OUTPUTS[:-1], template_dir)) == set(OUTPUTS[:-1])
    # ...and the broken one makes the whole render raise, with no partial dict returned
    with pytest.raises(jinja2.UndefinedError, match="nope"):
        render_mod.render(model, OUTPUTS, template_dir)
