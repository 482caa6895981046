"""``initref diagnose FILE`` on a saved torch state_dict and a .keras file."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

torch = require("torch")
nn = torch.nn

from initref import constants  # noqa: E402

TRAP_R = constants.DEPTH_R["truncated_normal_uncorrected_k2"][0]


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "derive", "diagnose", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def trap_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(6) for m in (nn.Conv2d(64, 64, 3), nn.ReLU())])
    for m in model:
        if isinstance(m, nn.Conv2d):
            s = math.sqrt(2 / m.weight[0].numel())
            nn.init.trunc_normal_(m.weight, 0.0, s, -2 * s, 2 * s)
    path = tmp_path_factory.mktemp("cli") / "trap.pt"
    torch.save(model.state_dict(), path)
    return path


def test_a_state_dict_is_diagnosed_as_the_trap_with_json(trap_state: Path, tmp_path: Path) -> None:
    done = _cli(trap_state, "--json", "--figure", tmp_path / "r.png")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [x["rule"] for x in report["layers"]] == ["he_std_before_truncation"] * 6
    assert report["rule_depth_ratio"] == pytest.approx(TRAP_R**6, rel=1e-14)
    assert [x["activation"] for x in report["layers"]] == ["relu"] * 6
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_the_table_and_the_activation_flag(trap_state: Path) -> None:
    done = _cli(trap_state, "--activation", "tanh")
    assert done.returncode == 0, done.stderr
    assert "he_std_before_truncation" in done.stdout and "tanh" in done.stdout
    assert done.stdout.startswith("initref diagnose (torch state_dict): 6 layers")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.pt"], "diagnose: FILE: 'missing.pt' does not exist or is not a file"),
        (["pyproject.toml"], "diagnose: FILE: 'pyproject.toml' has suffix '.toml'"),
    ],
)
def test_bad_files_exit_2_with_one_line(args: list[str], message: str) -> None:
    done = _cli(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("initref: error: " + message) and done.stderr.count("\n") == 1


def test_an_unreadable_file_and_a_bad_activation_exit_2(trap_state: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    done = _cli(bad)
    assert done.returncode == 2 and "is not a readable state_dict" in done.stderr
    assert done.stderr.count("\n") == 1
    done = _cli(trap_state, "--activation", "rleu")
    assert done.returncode == 2 and "did you mean 'relu'" in done.stderr


def test_a_keras_file_is_diagnosed_from_its_configs(tmp_path: Path) -> None:
    keras = require("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((128,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    done = _cli(path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [x["activation"] for x in report["layers"]] == ["relu", "linear"]
    assert report["layers"][0]["rule"] == "glorot"
