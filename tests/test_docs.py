"""What README.md, the docs/ pages and the generated documents say agrees with what the code does.

Each test reads a claim from the text (a code example, a command line, a link, a schema line, a
digit count) and checks it against the program, so that a page that drifts from the code fails
here.  The pages are README.md (the user guide) and every docs/*.md: every ```python block of
every page runs as written, every command line of a ```sh block parses, every relative link
resolves; the tests below them check what particular blocks and sentences claim.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shlex
import sys
import types
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import mpmath
import pytest

from derive import cli
from derive.core.numbers import format_sig
from derive.maths.truncnorm import truncnorm_moments
from derive.model.spec import load_default_spec
from tests.conftest import GENERATED, ROOT, load_generated, require

README_MAX_LINES = 250
DOCS = ROOT / "docs"
PAGES: dict[str, Path] = {"README.md": ROOT / "README.md"} | {
    f"docs/{path.name}": path for path in sorted(DOCS.glob("*.md"))
}
TEXTS = {name: path.read_text(encoding="utf-8") for name, path in PAGES.items()}
README = TEXTS["README.md"]

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
PROGRAMS = ("python -m derive", "python -m initref", "initref")

# The files a user copies, under the names the pages import them by.
COPIED = {"numpy_init": "numpy_init", "torch_init": "torch_init", "tf_init": "tf_init",
          "jax_init": "jax_init"}  # fmt: skip
# The framework each import needs (a missing one: skip, or a failure under CI=true).
FRAMEWORKS = {
    "torch": ("torch",), "torch_init": ("torch",), "initref.torch": ("torch",),
    "keras": ("tensorflow", "keras"), "tensorflow": ("tensorflow",),
    "tf_init": ("tensorflow", "keras"), "initref.keras": ("tensorflow", "keras"),
    "jax": ("jax",), "jax_init": ("jax",), "initref.jax": ("jax",), "flax": ("jax", "flax"),
}  # fmt: skip
RunBlock = Callable[..., dict[str, Any]]
IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+(.+))", re.M)


def _blocks(language: str) -> list[tuple[str, int, str]]:
    """(page, index among that page's blocks of ``language``, body) of every fenced block."""
    found = []
    for page, text in TEXTS.items():
        bodies = [m.group(2) for m in FENCE.finditer(text) if m.group(1) == language]
        found += [(page, i, body) for i, body in enumerate(bodies)]
    return found


PYTHON_BLOCKS = _blocks("python")


def _python_block(marker: str, page: str | None = None) -> str:
    """The one ```python block that contains ``marker``, on ``page`` or on any page."""
    (block,) = [b for p, _, b in PYTHON_BLOCKS if marker in b and page in (None, p)]
    return block


def _page_with(claim: str) -> str:
    """The one page whose text contains ``claim``."""
    (page,) = [name for name, text in TEXTS.items() if claim in text]
    return TEXTS[page]


def _imports(block: str) -> set[str]:
    names = set()
    for frm, plain in IMPORT.findall(block):
        if frm:
            names.add(frm)
        for part in plain.split(","):
            if part.strip():
                names.add(part.split(" as ")[0].strip())
    return names


@pytest.fixture
def run_block(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunBlock]:
    """exec a page's block as a user would run it, returning its namespace.

    ``import numpy_init`` (a copied file) is generated/numpy_init.py, loaded once per process.
    ``initref.numpy``, ``initref.torch``, ``initref.jax`` and ``initref.constants`` are the real
    package modules.  ``initref.keras`` is a module holding exactly the names initref/keras.py
    re-exports (tf_init's ``__all__``) from that same once-loaded tf_init: importing the real
    one as well would register a second set of classes under Keras's names "initref>...", and
    models other tests save with tf_init's classes would then load as initref.keras's.
    """

    def run(block: str, where: str = "<page>") -> dict[str, Any]:
        imported = _imports(block)
        for name in imported:
            for framework in FRAMEWORKS.get(name, FRAMEWORKS.get(name.split(".")[0], ())):
                require(framework)
        for name in imported & set(COPIED):
            monkeypatch.setitem(sys.modules, name, load_generated(COPIED[name]))
        if "initref.keras" in imported:
            import initref

            tf_init = load_generated("tf_init")
            facade = types.ModuleType("initref.keras", tf_init.__doc__)
            facade.__dict__.update({name: getattr(tf_init, name) for name in tf_init.__all__})
            facade.__dict__["__all__"] = list(tf_init.__all__)
            monkeypatch.setitem(sys.modules, "initref.keras", facade)
            monkeypatch.setattr(initref, "keras", facade, raising=False)
        namespace: dict[str, Any] = {"__name__": "__doc_example__"}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, where, "exec"), namespace)
        return namespace

    yield run


def _sample_std_band(values: object, std: float, lower: float, upper: float) -> None:
    """``values`` have mean 0 and std ``std`` within 5 standard errors, the SE of the sample
    variance from the law's kurtosis (N(0, 1) truncated to [lower, upper])."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64).ravel()
    kurtosis = float(truncnorm_moments(str(lower), str(upper), digits=15).excess_kurtosis) + 3
    rel_se_std = math.sqrt((kurtosis - 1) / x.size) / 2
    assert abs(x.mean()) < 5 * std / math.sqrt(x.size), (x.mean(), std)
    assert abs(x.std() / std - 1) < 5 * rel_se_std, (x.std(), std, rel_se_std)


# ---------------------------------------------------------------------------
# Every page: blocks run, command lines parse, links resolve, README indexes docs/
# ---------------------------------------------------------------------------


def test_the_pages_have_python_blocks_to_run() -> None:
    pages = {page for page, _, _ in PYTHON_BLOCKS}
    assert {"README.md", "docs/torch.md", "docs/keras.md", "docs/jax.md"} <= pages, pages
    assert len(PYTHON_BLOCKS) >= 12


@pytest.mark.parametrize(
    "page, index", [(page, index) for page, index, _ in PYTHON_BLOCKS], ids=lambda x: str(x)
)
def test_every_python_block_of_every_page_runs_as_written(
    page: str, index: int, run_block: RunBlock
) -> None:
    (block,) = [b for p, i, b in PYTHON_BLOCKS if (p, i) == (page, index)]
    namespace = run_block(block, f"{page} python block {index}")
    assert set(namespace) - {"__name__", "__builtins__"}, "the block defines nothing"


def _command_lines() -> list[tuple[str, str]]:
    lines = []
    for page, _, body in _blocks("sh"):
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            text = " ".join(words)
            if any(text == p or text.startswith(p + " ") for p in PROGRAMS):
                lines.append((page, line.strip()))
    return lines


def test_the_pages_show_command_lines_to_check() -> None:
    assert len(_command_lines()) >= 15


@pytest.mark.parametrize("page, line", _command_lines())
def test_every_command_line_in_the_pages_is_one_the_parser_accepts(page: str, line: str) -> None:
    """Parsed, not run (``generate`` would write, ``meanfield`` in the chaotic phase takes
    seconds); a ``[--option]`` placeholder line only has its command name checked."""
    words = shlex.split(line, comments=True)
    skip = 3 if words[0] == "python" else 1
    prog, argv = " ".join(words[:skip]), words[skip:]
    if any(w.startswith("[") for w in argv):
        argv = argv[:1]
    parser = cli.build_parser(prog)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(cli._allow_negative_positionals(argv, parser))
        except SystemExit as exc:  # --help, --version: exit 0 having printed; errors exit 2
            assert exc.code == 0 and out.getvalue(), (page, line, err.getvalue())
            return
    assert callable(getattr(args, "func", None)), (page, line)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as "-"."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    prose = FENCE.sub("", text)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", prose, flags=re.M)}


def _links(text: str) -> list[str]:
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))
    return re.findall(r"\[[^\]\n]*\]\(([^)\s]+)\)", prose)


def test_every_relative_link_points_at_a_file_and_a_heading_that_exist() -> None:
    checked = 0
    for page, text in TEXTS.items():
        base = PAGES[page].parent
        for link in _links(text):
            if re.match(r"\w+:", link):  # https:, mailto:
                continue
            path, _, anchor = link.partition("#")
            target = (base / path).resolve() if path else PAGES[page]
            assert target.exists(), f"{page}: {link} (no {target})"
            if anchor:
                assert target.suffix == ".md", f"{page}: {link}"
                assert anchor in _anchors(target.read_text(encoding="utf-8")), f"{page}: {link}"
            checked += 1
    assert checked >= 40


def test_readme_is_a_user_guide_of_at_most_250_lines() -> None:
    assert len(README.splitlines()) <= README_MAX_LINES


def test_readme_links_every_docs_page() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _links(README)}
    docs = {name: path for name, path in PAGES.items() if name.startswith("docs/")}
    assert len(docs) >= 15
    assert [name for name, path in docs.items() if path.resolve() not in linked] == []


def test_no_page_speaks_of_issue_numbers() -> None:
    for page, text in TEXTS.items():
        assert not re.search(r"\bissues? \d", text, flags=re.I), page


# ---------------------------------------------------------------------------
# README: the user guide's claims
# ---------------------------------------------------------------------------


def test_readme_numpy_example_draws_the_std_its_comments_state(run_block: RunBlock) -> None:
    ns = run_block(_python_block("from initref.numpy import he_normal", "README.md"))
    _sample_std_band(ns["w"], math.sqrt(2 / 512), -2, 2)
    _sample_std_band(ns["v"], math.sqrt(2 / 512), -3, 3)


def test_readme_torch_example_draws_the_std_its_comments_state(run_block: RunBlock) -> None:
    from initref.constants import GAINS

    ns = run_block(_python_block("from initref.torch import he_normal_", "README.md"))
    conv, lin = ns["conv"], ns["lin"]
    _sample_std_band(conv.weight.detach(), math.sqrt(2 / (64 * 9)), -2, 2)
    assert f"GELU's gain {GAINS['gelu']:.4f}" in README
    _sample_std_band(lin.weight.detach(), GAINS["gelu"] / math.sqrt(512), -2, 2)


def test_readme_keras_example_draws_the_std_its_comments_state(run_block: RunBlock) -> None:
    from initref.constants import GAINS

    keras = require("keras")
    ns = run_block(_python_block("model = keras.Sequential([", "README.md"))
    dense = [layer for layer in ns["model"].layers if isinstance(layer, keras.layers.Dense)]
    expected = [
        (math.sqrt(2 / 784), 2),
        (GAINS["gelu"] / math.sqrt(512), 2),
        (1 / math.sqrt(512), 3),
    ]
    assert len(dense) == len(expected)
    for layer, (std, k) in zip(dense, expected, strict=True):
        _sample_std_band(keras.ops.convert_to_numpy(layer.kernel), std, -k, k)


def test_readme_jax_example_draws_the_std_its_comments_state(run_block: RunBlock) -> None:
    ns = run_block(_python_block("from initref.jax import he_normal, lecun_normal", "README.md"))
    params = ns["params"]["params"]
    expected = {"Dense_0": (math.sqrt(2 / 784), 2), "Dense_1": (math.sqrt(2 / 512), 3),
                "Dense_2": (math.sqrt(1 / 512), 2)}  # fmt: skip
    assert sorted(params) == sorted(expected)
    for name, (std, k) in expected.items():
        _sample_std_band(params[name]["kernel"], std, -k, k)


def _seed_section() -> str:
    start = README.index("## The seed's answer")
    return README[start : README.index("\n## ", start + 1)]


def test_readme_seeds_answer_is_what_the_depth_command_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    section = _seed_section()
    command = "python -m derive depth --layers 24 --cutoff 2"
    (shown,) = [b for lang, b in FENCE.findall(section) if lang == "text"]
    assert any(command in b for lang, b in FENCE.findall(section) if lang == "sh")
    assert cli.main(shlex.split(command)[3:]) == 0
    assert capsys.readouterr().out == shown
    assert cli.main([*shlex.split(command)[3:], "--json"]) == 0
    rows = {row["case"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    hand_built = rows["truncated_normal_uncorrected_k2"]
    r, r24 = Decimal(hand_built["r"]), Decimal(hand_built["r^L"])
    s2 = truncnorm_moments("-2", "2", digits=30).std
    prose = " ".join(section.split())
    assert f"×{format_sig(s2, 4)}" in prose and f"s(2) = {format_sig(s2, 4)}…" in prose
    assert f"s(2)² = {format_sig(mpmath.mpf(str(r)), 4)}" in prose
    assert f"0.7737²⁴ = {format_sig(mpmath.mpf(str(r24)), 3)}" in prose
    assert f"RMS 1/{format_sig(1 / mpmath.sqrt(mpmath.mpf(str(r24))), 3)}" in prose


def test_readme_names_the_console_script_and_install_md_the_package_test() -> None:
    assert "console script **`initref`**" in README
    assert "tests/test_package.py" in TEXTS["docs/install.md"]


def test_readme_model_level_section_points_at_docs_model_md() -> None:
    start = README.index("## Model level")
    section = README[start : README.index("\n## ", start + 1)]
    assert "`initialize(model)`" in section and "`diagnose(model)`" in section
    assert "(docs/model.md)" in section


# ---------------------------------------------------------------------------
# docs/ pages: what particular blocks and sentences claim
# ---------------------------------------------------------------------------


def test_python_api_example_prints_every_digit_it_asks_for() -> None:
    block = _python_block("truncnorm_moments(")
    line = next(x for x in block.splitlines() if "mpmath.nstr(m.std, 60)" in x)
    shown = line.split("#")[1].strip()
    m = truncnorm_moments("-2", "2", digits=60)
    assert shown == mpmath.nstr(m.std, 60) and _significant_digits(shown) == 60


def test_cli_truncnorm_json_example_is_what_the_command_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (shown,) = [json.loads(b) for p, _, b in _blocks("json") if p == "docs/cli.md"]
    argv = ["truncnorm", shown["lower"], shown["upper"], "--digits", str(shown["digits"]), "--json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == shown


def test_keras_layer_examples_give_zero_mean_weights_of_the_stated_std(
    run_block: RunBlock,
) -> None:
    """Every Dense layer a page builds is a sensible initialization: the kernel's mean is 0
    within 5 standard errors (a tail interval such as [5, 6] gives a mean 30 stds away) and
    its std that of the initializer's own ``moments``, within 5 standard errors."""
    keras = require("keras")
    layers = []
    for page, index, block in PYTHON_BLOCKS:
        if "keras.layers.Dense(" in block:
            ns = run_block(block, f"{page} python block {index}")
            layers += [v for v in ns.values() if isinstance(v, keras.layers.Dense)]
    assert len(layers) >= 4
    fan_in = 512
    for layer in layers:
        if not layer.built:
            layer.build((None, fan_in))
        w = keras.ops.convert_to_numpy(layer.kernel).astype("float64").ravel()
        n_in = layer.kernel.shape[0]
        assert abs(w.mean()) < 5 * w.std() / math.sqrt(w.size), (layer.name, w.mean())
        assert 0.3 / math.sqrt(n_in) < w.std() < 3 / math.sqrt(n_in), (layer.name, w.std())
        if hasattr(layer.kernel_initializer, "moments"):  # not Orthogonal: its rows are unit
            mean, std = layer.kernel_initializer.moments(tuple(layer.kernel.shape))
            # kurtosis <= 3 (a truncated normal's is below the normal's): the SE of the std
            # is at most std / sqrt(2 n)
            assert mean == 0.0, layer.name
            assert abs(w.std() / std - 1) < 5 / math.sqrt(2 * w.size), (layer.name, w.std(), std)


def _gram_error(w: object, g: float) -> float:
    """max |M^T M - g^2 I| / g^2, M the 2-d ``w`` oriented tall, in float64."""
    import numpy as np

    m = np.asarray(w, dtype=np.float64)
    m = m if m.shape[0] >= m.shape[1] else m.T
    return float(np.abs(m.T @ m / g**2 - np.eye(m.shape[1])).max())


def test_orthogonal_examples_are_orthogonal_with_the_stated_gain(run_block: RunBlock) -> None:
    """The orthogonal blocks run as written and give W^T W = g^2 I (float32: 1e-5) with the
    gain each comment states, and delta-orthogonal kernels zero off the centre."""
    require("torch")
    keras = require("keras")
    from initref.constants import GAINS

    ns = run_block(_python_block("from initref.numpy import delta_orthogonal, orthogonal"))
    assert _gram_error(ns["w"], GAINS["tanh"]) < 1e-5
    k, k2 = ns["k"], ns["k2"]
    assert _gram_error(k[1, 1], 1.0) < 1e-5 and (k2[:, :, 1, 1] == k[1, 1].T).all()
    ns = run_block(_python_block("from initref.torch import delta_orthogonal_, orthogonal_"))
    assert _gram_error(ns["w"], math.sqrt(2.0)) < 1e-5  # torch's w: activation="relu"
    assert _gram_error(ns["k"][:, :, 1, 1], 1.0) < 1e-5
    ns = run_block(_python_block("from initref.keras import DeltaOrthogonal, Orthogonal"))
    layer, conv = ns["layer"], ns["conv"]
    assert isinstance(layer, keras.layers.Dense) and isinstance(conv, keras.layers.Conv2D)
    layer.build((None, 512))
    conv.build((None, 8, 8, 64))
    assert _gram_error(keras.ops.convert_to_numpy(layer.kernel), 1.0) < 1e-5
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    assert _gram_error(kernel[1, 1], GAINS["relu"]) < 1e-5
    kernel[1, 1] = 0
    assert not kernel.any()


def test_schema_provenance_keys_are_the_keys_constants_json_has() -> None:
    text = _page_with("`generated/constants.json` schema")
    line = next(x for x in text.splitlines() if x.strip().startswith('"provenance":'))
    keys = set(re.findall(r'"(\w+)"', line.split(":", 1)[1]))
    data = json.loads((GENERATED / "constants.json").read_text(encoding="utf-8"))
    assert keys == set(data["provenance"])


def test_gain_json_prints_torch_calculate_gain_as_a_string_or_null_as_the_docs_say(
    capsys: pytest.CaptureFixture[str],
) -> None:
    said = '"torch_calculate_gain"` is one such string'
    assert any(said in text.replace("\n", " ") for text in TEXTS.values())
    assert cli.main(["gain", "relu", "--json"]) == 0
    relu = json.loads(capsys.readouterr().out)["torch_calculate_gain"]
    assert isinstance(relu, str) and Decimal(relu) == Decimal("1.4142135623730950488")
    assert cli.main(["gain", "gelu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["torch_calculate_gain"] is None


# ---------------------------------------------------------------------------
# generated/constants.md and report.md: digit counts and column labels
# ---------------------------------------------------------------------------


def _significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


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
