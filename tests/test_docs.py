"""What README and the generated documents say agrees with what the code does.

Each test reads a claim from the text (a code example, a schema line, a digit count) and
checks it against the program, so that a doc that drifts from the code fails here.
"""

from __future__ import annotations

import json
import math
import re
import sys
from decimal import Decimal

import mpmath
import pytest

from derive import cli
from derive.model.spec import load_default_spec
from tests.conftest import GENERATED, ROOT, load_generated, require

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _python_block(marker: str) -> str:
    """The README ```python block that contains ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


def _significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------


def test_readme_python_api_example_prints_every_digit_it_asks_for() -> None:
    block = _python_block("truncnorm_moments(")
    line = next(x for x in block.splitlines() if "mpmath.nstr(m.std, 60)" in x)
    shown = line.split("#")[1].strip()
    from derive.maths.truncnorm import truncnorm_moments

    m = truncnorm_moments("-2", "2", digits=60)
    assert shown == mpmath.nstr(m.std, 60) and _significant_digits(shown) == 60


def test_readme_keras_layer_examples_give_zero_mean_weights_of_the_stated_std(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every Dense layer README shows is a sensible initialization: the kernel's mean is 0
    within 5 standard errors (a tail interval such as [5, 6] gives a mean 30 stds away)."""
    require("tensorflow")
    keras = require("keras")
    monkeypatch.setitem(sys.modules, "tf_init", load_generated("tf_init"))  # `import tf_init`
    namespace: dict[str, object] = {}
    exec(_python_block("import keras, tf_init"), namespace)
    layers = {k: v for k, v in namespace.items() if isinstance(v, keras.layers.Dense)}
    assert len(layers) >= 3, sorted(namespace)
    fan_in = 512
    for name, layer in layers.items():
        layer.build((None, fan_in))
        w = keras.ops.convert_to_numpy(layer.kernel).astype("float64").ravel()
        std = w.std()
        assert abs(w.mean()) < 5 * std / math.sqrt(w.size), (name, w.mean(), std)
        assert 0.3 / math.sqrt(fan_in) < std < 3 / math.sqrt(fan_in), (name, std)


def test_readme_provenance_keys_are_the_keys_constants_json_has() -> None:
    line = next(x for x in README.splitlines() if x.strip().startswith('"provenance":'))
    keys = set(re.findall(r'"(\w+)"', line.split(":", 1)[1]))
    data = json.loads((GENERATED / "constants.json").read_text(encoding="utf-8"))
    assert keys == set(data["provenance"])


def test_gain_json_prints_torch_calculate_gain_as_a_string_or_null_as_readme_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert '"torch_calculate_gain"` is one such string' in README.replace("\n", " ")
    assert cli.main(["gain", "relu", "--json"]) == 0
    relu = json.loads(capsys.readouterr().out)["torch_calculate_gain"]
    assert isinstance(relu, str) and Decimal(relu) == Decimal("1.4142135623730950488")
    assert cli.main(["gain", "gelu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["torch_calculate_gain"] is None


def test_readme_names_the_console_script_and_the_package_test() -> None:
    assert "console script **`initref`**" in README
    assert "tests/test_package.py" in README


# ---------------------------------------------------------------------------
# generated/constants.md and report.md: digit counts and column labels
# ---------------------------------------------------------------------------


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Markdown tables: (header cells, rows of cells)."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|-"):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip().strip("`") for c in row.strip("|").split("|")])
            tables.append((header, rows))
    return tables


def test_constants_md_labels_every_column_and_each_value_matches_its_label() -> None:
    """A "(N digits)" column holds decimals of N significant digits, a "(float64)" column
    shortest float64 reprs; the gains table says its digit count once, above it."""
    spec = load_default_spec()
    text = (GENERATED / "constants.md").read_text(encoding="utf-8")
    checked = 0
    for header, rows in _tables(text):
        for j, title in enumerate(header):
            label = re.search(r"\((\d+) digits\)|\((float64)\)", title)
            if label is None:
                continue
            for row in rows:
                value = row[j]
                if label.group(2):
                    assert repr(float(value)) == value, (title, value)
                elif value != "0":
                    assert _significant_digits(value) == int(label.group(1)), (title, value)
                checked += 1
    assert checked > 100
    gains = min(20, spec.gain_digits)
    assert f"Every value here is rounded to {gains} significant digits." in text
    assert f"the gains: {gains} of {spec.gain_digits}" in text


def test_report_states_the_gain_digits_that_constants_json_holds() -> None:
    spec = load_default_spec()
    data = json.loads((GENERATED / "constants.json").read_text(encoding="utf-8"))
    relu = next(g for g in data["gains"] if g["activation"] == "relu")
    assert _significant_digits(relu["forward_gain"]["decimal"]) == spec.gain_digits
    report = " ".join((GENERATED / "report.md").read_text(encoding="utf-8").split())
    assert f"they are computed to {spec.gain_digits} (the spec's `gain_digits`)" in report
    assert "`constants.md` has all" not in report
