"""The package as users install it: ``import initref`` with its framework modules (the
generated files, byte for byte), and the generator as ``initref._derive`` with its templates
and default spec; no top-level ``derive``, so an unrelated ``derive`` is neither shadowed nor
overwritten.

The wheel is built from a copy of the sources (no network, no build isolation: building in
the checkout would leave build/ and *.egg-info there) and installed into a fresh virtual
environment in a temporary directory.  That environment reaches the test environment's
dependencies through a .pth line naming its site-packages: the directory is put on sys.path,
but the .pth files inside it (the editable install's finder among them) are not run, so the
only ``initref`` it can import is the wheel's.  ``initref`` then runs from a directory outside
the checkout and writes what generated/ holds, byte for byte.  An editable install (what
``make`` makes) of the same copy reads the copy's templates and spec in place.

About 15 s of CPU, most of it one full ``initref generate``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import GENERATED, ROOT, require

SMALL_SPEC = """\
digits = 12
gain_digits = 5
outputs = ["constants.json", "constants.md", "constants.py"]
intervals = [["-2", "2"], ["2", "inf"]]
"""
S2_40 = "0.8796256610342397504128414195777747983459"  # s(2), README's --json example


def _env() -> dict[str, str]:
    """The environment of the installed commands: nothing that points back at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(
    argv: list[str | Path], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def _ok(argv: list[str | Path], cwd: Path) -> str:
    done = _run(argv, cwd)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _venv(path: Path) -> Path:
    """A virtual environment without pip whose sys.path ends with this one's site-packages."""
    _ok([sys.executable, "-m", "venv", "--without-pip", path], path.parent)
    python = path / "bin" / "python"
    site = _ok([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], path)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site.strip(), "_initref_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def _pip_install(python: Path, *args: str | Path) -> None:
    _ok([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         "--no-index", *args], python.parent)  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a clone holds that the build reads; derive/_data keeps its links."""
    require("setuptools")  # the build backend (a failure under CI=true)
    src = tmp_path_factory.mktemp("src")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "derive", src / "derive", symlinks=True, ignore=skip)
    shutil.copytree(ROOT / "initref", src / "initref", symlinks=True, ignore=skip)
    shutil.copytree(ROOT / "templates", src / "templates")
    (src / "generated").mkdir()
    for path in GENERATED.glob("*.py"):
        shutil.copy2(path, src / "generated" / path.name)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    assert (src / "derive" / "_data" / "templates").is_symlink()
    assert (src / "initref" / "_derive").is_symlink()
    return src


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _ok([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", dist, source], dist)  # fmt: skip
    (built,) = dist.glob("initref-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh environment with the wheel installed."""
    python = _venv(tmp_path_factory.mktemp("venv") / "wheel")
    _pip_install(python, wheel)
    return python.parent


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory outside the checkout, holding a spec file."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    (cwd / "small.toml").write_text(SMALL_SPEC, encoding="utf-8")
    return cwd


def test_the_wheel_carries_every_template_and_the_default_spec(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        spec = zf.read("initref/_derive/_data/default_spec.toml")
    data = "initref/_derive/_data/templates"
    templates = {f"{data}/{p.name}" for p in (ROOT / "templates").glob("*.j2")}
    assert templates and templates <= names, templates - names
    assert spec == (ROOT / "pyproject.toml").read_bytes()
    assert "initref/_derive/maths/snippets/truncnorm64.py" in names
    assert not [n for n in names if n.startswith("derive/")]  # no top-level derive


GENERATED_MODULES = {
    "numpy": "numpy_init",
    "torch": "torch_init",
    "keras": "tf_init",
    "jax": "jax_init",
    "constants": "constants",
}


def test_the_wheel_carries_the_generated_files_byte_for_byte(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for name in GENERATED_MODULES.values():
            carried = zf.read(f"initref/_generated/{name}.py")
            assert carried == (GENERATED / f"{name}.py").read_bytes(), name


def test_installed_initref_imports_every_framework_module_from_the_wheel(
    installed: Path, elsewhere: Path
) -> None:
    probe = (
        "import importlib, json, initref\n"
        "out = {'initref': initref.__file__, 'version': initref.__version__}\n"
        f"for name in {sorted(GENERATED_MODULES)!r}:\n"
        "    m = importlib.import_module('initref.' + name)\n"
        "    out[name] = [m._generated.__file__, sorted(m.__all__)]\n"
        "print(json.dumps(out))\n"
    )
    found = json.loads(_ok([installed / "python", "-c", probe], elsewhere).splitlines()[-1])
    assert Path(found["initref"]).is_relative_to(installed.parent), found["initref"]
    for name, generated in GENERATED_MODULES.items():
        path, exported = found[name]
        assert Path(path).is_relative_to(installed.parent)
        assert Path(path).read_bytes() == (GENERATED / f"{generated}.py").read_bytes()
        assert exported, name
    assert "he_normal_" in found["torch"][1] and "HeNormal" in found["keras"][1]
    assert "TRUNCNORM" in found["constants"][1]


def test_an_unrelated_derive_package_neither_shadows_nor_is_overwritten(
    installed: Path, elsewhere: Path, tmp_path: Path
) -> None:
    """A distribution with its own top-level ``derive`` installed beside initref: both keep
    working, and the initref command still runs its own generator."""
    other = tmp_path / "other"
    (other / "derive").mkdir(parents=True)
    (other / "derive" / "__init__.py").write_text("WHO = 'unrelated'\n", encoding="utf-8")
    (other / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "derive"\nversion = "9.9"\n'
        '[tool.setuptools]\npackages = ["derive"]\n',
        encoding="utf-8",
    )
    _pip_install(installed / "python", "--no-build-isolation", other)
    try:
        who = _ok([installed / "python", "-c", "import derive; print(derive.WHO)"], elsewhere)
        assert who.strip() == "unrelated"
        argv: list[str | Path] = [installed / "initref", "truncnorm", "-2", "2", "--json"]
        answer = json.loads(_ok([*argv, "--digits", "40"], elsewhere))
        assert answer["std"] == S2_40
    finally:
        _ok([sys.executable, "-m", "pip", "--python", installed / "python", "uninstall", "-q",
             "-y", "derive"], elsewhere)  # fmt: skip


def test_installed_initref_runs_from_any_directory_under_its_own_name(
    installed: Path, elsewhere: Path
) -> None:
    probe = "import initref._derive as d; print(d.__file__)"
    where = _ok([installed / "python", "-c", probe], elsewhere)
    assert Path(where.strip()).is_relative_to(installed.parent), where  # the wheel's, not ROOT's
    assert _ok([installed / "initref", "--help"], elsewhere).startswith("usage: initref ")
    usage = _ok([installed / "initref", "truncnorm", "--help"], elsewhere)
    assert usage.startswith("usage: initref truncnorm ") and "example: initref truncnorm" in usage
    answer = json.loads(
        _ok([installed / "initref", "truncnorm", "-2", "2", "--digits", "40", "--json"], elsewhere)
    )
    assert answer["std"] == S2_40
    assert "Var[w]   = 2/n_in" in _ok([installed / "initref", "he"], elsewhere)


def test_installed_generate_writes_exactly_the_committed_generated_tree(
    installed: Path, elsewhere: Path
) -> None:
    out = elsewhere / "out"
    _ok([installed / "initref", "generate", "--out", out], elsewhere)
    written, committed = _snapshot(out), _snapshot(GENERATED)
    assert sorted(written) == sorted(committed)
    differing = [name for name in committed if written[name] != committed[name]]
    assert not differing, differing


@pytest.fixture(scope="module")
def small_out(installed: Path, elsewhere: Path) -> Path:
    """``initref generate --spec small.toml --out small-out`` with the wheel (the run that
    crashed with TemplateNotFound when the wheel held only the code)."""
    out = elsewhere / "small-out"
    _ok([installed / "initref", "generate", "--spec", "small.toml", "--out", out], elsewhere)
    return out


def test_installed_generate_reads_a_spec_file_and_names_it(small_out: Path) -> None:
    assert sorted(_snapshot(small_out)) == ["constants.json", "constants.md", "constants.py"]
    provenance = json.loads((small_out / "constants.json").read_text("utf-8"))["provenance"]
    assert provenance["spec"] == "small.toml"
    assert provenance["command"] == "initref generate --spec small.toml"


def test_installed_generate_without_out_exits_2_with_one_line(
    installed: Path, elsewhere: Path
) -> None:
    done = _run([installed / "initref", "generate"], elsewhere)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "initref: error: generate: --out DIR is required (initref is installed, not run from "
        "its source checkout, whose generated/ is the default)\n"
    )
    assert not (elsewhere / "generated").exists()


def test_an_editable_install_reads_the_templates_and_spec_of_its_checkout(
    source: Path, small_out: Path, elsewhere: Path, tmp_path: Path
) -> None:
    """What ``make`` installs: the same resources, read in place; the default --out is the
    checkout's generated/.  The small spec renders byte for byte as the wheel renders it."""
    python = _venv(tmp_path / "editable")
    _pip_install(python, "--no-build-isolation", "-e", source)
    probe = (
        "import initref._derive.cli as c, initref._derive.core.resources as r; "
        "print(c.checkout_output_dir()); print(r.template_dir()); print(r.default_spec_file())"
    )
    out_dir, templates, spec = _ok([python, "-c", probe], elsewhere).split()
    assert Path(out_dir) == source / "generated"
    assert Path(templates).resolve() == source / "templates"
    assert Path(spec).resolve() == source / "pyproject.toml"
    editable_out = tmp_path / "out"
    _ok([python.parent / "initref", "generate", "--spec", "small.toml", "--out", editable_out],
        elsewhere)  # fmt: skip
    assert _snapshot(editable_out) == _snapshot(small_out)


MODEL_PROBE = """
import json, os
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import torch, keras, jax, jax.numpy as jnp
from flax import nnx
import initref.torch as it, initref.keras as ik, initref.flax as ifl
out = {"files": [it.initialize.__module__, it.__file__, ik.__file__, ifl.__file__]}
torch.manual_seed(0)
layers = []
for i in range(24):
    layers += [torch.nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), torch.nn.ReLU()]
cnn = torch.nn.Sequential(*layers)
r = it.initialize(cnn, generator=torch.Generator().manual_seed(0))
d = it.diagnose(cnn)
out["torch"] = [len(r.layers), r.layers[1].activation, len(d.layers), d.layers[1].rule]
km = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="tanh"),
                       keras.layers.Dense(4)])
r = ik.initialize(km, seed=0)
d = ik.diagnose(km)
out["keras"] = [[x.activation for x in r.layers], [x.activation for x in d.layers]]
fm = nnx.Sequential(nnx.Linear(16, 32, rngs=nnx.Rngs(0)), nnx.gelu,
                    nnx.Linear(32, 4, rngs=nnx.Rngs(1)))
r = ifl.initialize(fm)
d = ifl.diagnose(fm)
out["flax"] = [[x.activation for x in r.layers], [x.activation for x in d.layers]]
print(json.dumps(out))
"""


def test_installed_initref_initializes_and_diagnoses_torch_keras_and_flax_models(
    installed: Path, elsewhere: Path
) -> None:
    """The wheel's initref.torch, initref.keras and initref.flax on a 24-layer CNN, a Keras
    model and an nnx model, in a subprocess of the scratch environment."""
    for module in ("torch", "keras", "flax"):
        require(module)
    found = json.loads(_ok([installed / "python", "-c", MODEL_PROBE], elsewhere).splitlines()[-1])
    assert found["files"][0] == "initref._model.torch"
    assert all(Path(p).is_relative_to(installed.parent) for p in found["files"][1:])
    assert found["torch"][:3] == [24, "relu", 24]
    assert found["torch"][3] is not None and "he" in found["torch"][3].split(" = ")
    assert found["keras"] == [["tanh", "linear"]] * 2
    assert found["flax"] == [["gelu_tanh", "linear"]] * 2
