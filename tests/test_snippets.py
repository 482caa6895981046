"""derive/maths/snippets/truncnorm64.py: the float64, standard-library-only moments that the
generated initializers embed, against derive.maths.truncnorm at 30 digits.

Error measure, the snippet's contract (its module docstring): the std in ulps of the exact
std; the mean in ulps of max(|mean|, std) (a mean of 0 has no ulp of its own, and an error
small against the spread is what a sampler can see).  The bound asserted is ULPS = 4;
measured worst over GRID and 23,000 random intervals (narrow, lopsided, one-sided, tails
to 1e99, bounds 0.0, -0.0, +-1): 2.0 ulps over GRID, 2.5 ulps over the random ones.
"""

from __future__ import annotations

import ast
import decimal
import math

import pytest

from derive.maths.snippets.truncnorm64 import truncnorm_mean_std, uniform_to_float64
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
    # a grid of panels with a rounded width once moved the end next to zero (8 to 10 ulps):
    for a in (-485.0806220546451, -15.445840895286809, -9.944147710746623, -3.0):
        for b in (8.002838264521234e-05, 2.0130414556498607e-09, 1e-300, 0.0, -0.0):
            cases.update({(a, b), (-b, -a)})
    # narrower than float64 can resolve the density's change: the uniform limit
    for c in (1e-300, 1e-160, 1e-20, 0.5, 3.0):
        cases.update({(c, 2 * c), (-c, 2 * c)})
        if c >= 1e-20:  # a width c 2^-40 above the normal range
            cases.add((c, c * (1 + 2**-40)))
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


@pytest.mark.parametrize("a", [1e120, 1e200, 1e300, 1.5e307])
def test_float64_snippet_follows_the_exponential_limit_beyond_derives_range(a: float) -> None:
    """[a, inf) for a > 1e100 (derive accepts cutoffs up to 1e100): mean = a + 1/a - ...,
    std = (1/a)(1 - 3/(2 a^2) + ...), so to float64 accuracy mean = a and std = 1/a (the
    variance, ~1e-600, would underflow; the moments are taken in units of the reach)."""
    for lower, upper, sign in ((a, INF, 1.0), (-INF, -a, -1.0)):
        mean, std = truncnorm_mean_std(lower, upper)
        assert abs(std - 1.0 / a) <= ULPS * math.ulp(1.0 / a)
        assert abs(mean - sign * a) <= ULPS * math.ulp(a)


@pytest.mark.parametrize(
    ("a", "b"),
    [(0.0, 5e-324), (1e-320, 2e-320), (-1e-310, 1e-310), (1.7e308, INF), (-INF, -1.7e308)],
)
def test_float64_snippet_refuses_a_std_below_the_normal_range(a: float, b: float) -> None:
    """Outside the contract (std < 2^-1022: widths below ~7.7e-308, tails beyond ~4.5e307)
    a subnormal std would carry few significant bits: ValueError, naming the cutoffs and the
    accepted range, as the three initializers raise it."""
    with pytest.raises(ValueError, match=r"^lower, upper: \(.*\) has a std after truncation of "):
        truncnorm_mean_std(a, b)
    with pytest.raises(ValueError, match=r"accepted: cutoffs whose std after truncation is"):
        truncnorm_mean_std(a, b)


def test_the_uniform_limit_starts_where_float64_stops_resolving_the_density() -> None:
    """uniform_to_float64: the density's relative change on the interval,
    (max x^2 - min x^2) / 2, is at most 2^-53."""
    assert uniform_to_float64(1e-300, 2e-300) and uniform_to_float64(-1e-300, 2e-300)
    assert uniform_to_float64(-1e-8, 1e-8)  # 5e-17
    assert not uniform_to_float64(-1e-7, 1e-7)  # 5e-15
    c = 3.0  # (b - a)(b + a)/2 = w (3 + w/2): 2^-53 / 3 is just inside, 2^-50 / 3 outside
    assert uniform_to_float64(c, c + 2.0**-53 / 3.5) and not uniform_to_float64(c, c + 2.0**-50)
    assert not uniform_to_float64(0.0, INF) and not uniform_to_float64(-INF, INF)
    mean, std = truncnorm_mean_std(1e-300, 2e-300)
    assert mean == 1.5e-300 and abs(std - 1e-300 / math.sqrt(12.0)) <= math.ulp(std)


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
