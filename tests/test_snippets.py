"""derive/maths/snippets/truncnorm64.py: the float64, standard-library-only moments that the
generated initializers embed, against derive.maths.truncnorm at 30 digits.

Error measure: the std in ulps of the exact std; the mean in ulps of max(|mean|, std)
(a mean of 0 has no ulp of its own, and an error small against the spread is what a
sampler can see).  Measured worst over GRID: 3 ulps (std, at [-9, 1]) and 3.5 ulps (mean,
at (-inf, 1]); the bound asserted is ULPS = 4.
"""

from __future__ import annotations

import ast
import decimal
import math

import pytest

from derive.maths.snippets.truncnorm64 import truncnorm_mean_std
from derive.maths.truncnorm import truncnorm_moments
from derive.model.tables import snippet_source
from tests.conftest import GENERATED

ULPS = 4
INF = math.inf


def _grid() -> list[tuple[float, float]]:
    cases: set[tuple[float, float]] = set()
    for k in (1e-9, 1e-6, 1e-3, 0.1, 0.5, 1.0, 1.5, 1.7, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 40.0):
        cases.add((-k, k))  # symmetric
    for a in (
        -40.0,
        -10.0,
        -3.0,
        -2.0,
        -1.0,
        -0.5,
        -1e-9,
        0.0,
        0.3,
        1.0,
        2.0,
        3.5,
        5.0,
        8.0,
        10.0,
        30.0,
        100.0,
        1000.0,
    ):
        for width in (1e-9, 1e-6, 1e-3, 0.1, 1.0, 2.5, 10.0, INF):
            cases.add((a, a + width))  # asymmetric, narrow, far, one-sided
            cases.add((-(a + width), -a))  # and its mirror image
    cases.add((-INF, INF))
    # one wide Gauss-Legendre panel across the bump once lost 1500 ulps here:
    for k in (1.3, 1.55, 1.6, 1.65, 1.75, 1.9, 2.2):
        cases.update({(-k, k), (-k + 0.2, k + 0.2), (-k - 0.3, k - 0.3)})
    return sorted(cases)


GRID = _grid()


def _errors(a: float, b: float) -> tuple[float, float]:
    """(mean error, std error) in ulps, against 30-digit values of the very same floats."""
    exact = truncnorm_moments(decimal.Decimal(a), decimal.Decimal(b), 30)
    mean, std = truncnorm_mean_std(a, b)
    exact_mean, exact_std = float(exact.mean), float(exact.std)
    scale = max(abs(exact_mean), exact_std)
    return abs(mean - exact_mean) / math.ulp(scale), abs(std - exact_std) / math.ulp(exact_std)


def test_float64_snippet_is_within_4_ulps_of_30_digit_moments_over_the_grid() -> None:
    """The float64 rounding of the exact value already costs up to 0.5 ulp."""
    assert len(GRID) > 280
    bad = []
    for a, b in GRID:
        mean_ulps, std_ulps = _errors(a, b)
        if mean_ulps > ULPS or std_ulps > ULPS:
            bad.append((a, b, mean_ulps, std_ulps))
    assert not bad, bad


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1000.0, 1001.0),
        (30.0, 31.0),
        (-INF, -40.0),
        (2.0, INF),
        (-1e-9, 1e-9),
        (1000.0, 1000.000000001),
    ],
)
def test_float64_snippet_is_accurate_in_far_tails_and_narrow_intervals(a: float, b: float) -> None:
    mean_ulps, std_ulps = _errors(a, b)
    assert mean_ulps <= ULPS and std_ulps <= ULPS


def test_float64_snippet_of_the_whole_line_is_the_standard_normal() -> None:
    mean, std = truncnorm_mean_std(-INF, INF)
    assert abs(mean) <= ULPS * math.ulp(1.0) and abs(std - 1.0) <= ULPS * math.ulp(1.0)


def test_float64_snippet_is_exactly_odd_in_the_mean_and_even_in_the_std() -> None:
    for a, b in [(-1.0, 3.0), (2.0, INF), (8.0, 9.0), (1000.0, 1001.0)]:
        mean, std = truncnorm_mean_std(a, b)
        mirror_mean, mirror_std = truncnorm_mean_std(-b, -a)
        assert mirror_mean == -mean and mirror_std == std


def test_snippet_imports_only_math() -> None:
    tree = ast.parse(snippet_source("truncnorm64"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"math"}


def test_the_embedded_snippet_text_runs_alone_and_gives_the_same_floats() -> None:
    """What templates embed (the text below the snippet mark) is the code tested here."""
    namespace: dict[str, object] = {"math": math}
    exec(compile(snippet_source("truncnorm64"), "<snippet>", "exec"), namespace)
    embedded = namespace["truncnorm_mean_std"]
    assert callable(embedded)
    for a, b in [(-2.0, 2.0), (-1.0, 3.0), (1000.0, 1001.0), (-INF, -40.0), (-1e-9, 1e-9)]:
        assert embedded(a, b) == truncnorm_mean_std(a, b)
    assert "def truncnorm_mean_std" in snippet_source("truncnorm64")


def test_generated_initializers_embed_the_current_snippet_verbatim() -> None:
    """generated/*.py that carry the runtime fallback carry exactly this text (regenerate
    with `make generate` after editing derive/maths/snippets/truncnorm64.py)."""
    body = snippet_source("truncnorm64")
    carriers = [
        p for p in sorted(GENERATED.glob("*.py")) if "def truncnorm_mean_std" in p.read_text()
    ]
    assert carriers, "no generated file carries the float64 fallback"
    for path in carriers:
        assert body in path.read_text(encoding="utf-8"), f"{path.name} embeds a stale snippet"
