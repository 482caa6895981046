"""Property tests (hypothesis) of the derivations, the float64 snippet and the samplers.

Every test is bounded in time (a fixed ``max_examples``, ``deadline=None``) and, under CI=true,
reproducible: tests/conftest.py loads the derandomized "ci" Hypothesis profile there (the same
examples on every run, failing examples printed), the exploring "dev" profile elsewhere.
Examples once found failing are pinned with ``@example``.  Cutoffs are drawn as exact
decimals (or, for the float64 code, as floats passed on exactly), so the reference values
are those of the very interval the code under test sees.

Notation: s(k) is the std of N(0, 1) truncated to [-k, k], phi the standard normal density,
Q(k) = 1 - Phi(k).
"""

from __future__ import annotations

import decimal
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mpmath
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from derive.maths.snippets.truncnorm64 import truncnorm_mean_std
from derive.maths.truncnorm import (
    cutoff_for_post_truncation_units,
    symmetric_std,
    truncnorm_moments,
)
from tests.conftest import ROOT, load_generated, require

D = decimal.Decimal
DIGITS = 30  # significant digits asked of derive.maths.truncnorm in these tests


def decimals(lo: str, hi: str, places: int = 4) -> st.SearchStrategy[decimal.Decimal]:
    return st.decimals(
        min_value=D(lo), max_value=D(hi), places=places, allow_nan=False, allow_infinity=False
    )


@st.composite
def intervals(
    draw: st.DrawFn, reach: str = "40", one_sided: bool = True
) -> tuple[decimal.Decimal, decimal.Decimal]:
    """[a, b] with a in [-reach, reach], width in [0.001, 40], sometimes a one-sided tail
    [a, inf) or (-inf, -a]: its finite cutoff in [-reach, reach] too (a left tail ending at
    a + width, up to reach + 40, once broke the [-8, 8] premise of the variance test)."""
    a = draw(decimals("-" + reach, reach, 3))
    b = a + draw(decimals("0.001", "40", 3))
    kind = draw(st.sampled_from(["finite", "right_tail", "left_tail"] if one_sided else ["finite"]))
    if kind == "right_tail":
        return a, D("Infinity")
    if kind == "left_tail":
        return D("-Infinity"), a.copy_negate()
    return a, b


def phi(x: mpmath.mpf) -> mpmath.mpf:
    return mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


# ---------------------------------------------------------------------------
# s(k), the std of N(0, 1) truncated to [-k, k]
# ---------------------------------------------------------------------------


@settings(max_examples=40)
@given(k=decimals("0.0001", "60"))
def test_s_of_k_lies_strictly_between_0_and_1(k: decimal.Decimal) -> None:
    s = symmetric_std(k, DIGITS)
    assert 0 < s <= 1
    if k <= 8:  # 1 - s(k) >= k phi(k) >= 1e-13 (see below): resolvable at 30 digits
        assert s < 1


def test_s_of_k_is_exactly_1_without_truncation() -> None:
    assert symmetric_std("inf", DIGITS) == 1


@settings(max_examples=40)
@given(k=decimals("0.001", "8"), ratio=decimals("0.001", "1", 3))
def test_s_of_k_increases_with_k(k: decimal.Decimal, ratio: decimal.Decimal) -> None:
    """k <= 8 and k2 >= 1.001 k keep s(k2) - s(k) above 1e-16, far above 30-digit noise."""
    k2 = k + k * ratio  # exact in Decimal arithmetic (few digits)
    assert symmetric_std(k, DIGITS) < symmetric_std(k2, DIGITS)


@settings(max_examples=40)
@given(k=decimals("0.0001", "1"))
def test_s_of_k_tends_to_the_uniform_std_k_over_sqrt3_as_k_goes_to_0(k: decimal.Decimal) -> None:
    """Series of Var = M2/M0 with M_j = integral of x^j e^(-x^2/2) over [-k, k]:
    M0 = 2(k - k^3/6 + k^5/40 - ...), M2 = 2(k^3/3 - k^5/10 + k^7/56 - ...), so
    s(k) / (k/sqrt 3) = 1 - k^2/15 + k^4/1050 + O(k^6).  Checked as the two-sided bound
    k^2/15 - k^4/500 <= 1 - s(k) sqrt(3)/k <= k^2/15 for 0 < k <= 1 (the series is
    alternating with decreasing terms there; k^4/500 is a loose stand-in for k^4/1050).
    """
    s = symmetric_std(k, 45)
    with mpmath.workdps(60):
        kk = mpmath.mpf(str(k))
        deficit = 1 - s * mpmath.sqrt(3) / kk
        assert kk**2 / 15 - kk**4 / 500 <= deficit <= kk**2 / 15


@settings(max_examples=40)
@given(k=decimals("2", "10"))
def test_s_of_k_tends_to_1_with_a_gap_of_k_phi_k(k: decimal.Decimal) -> None:
    """With delta = 1 - s^2 = 2 k phi(k) / (1 - 2 Q(k)) (the variance formula on [-k, k]):
    1 - s = 1 - sqrt(1 - delta) lies in [delta/2, delta/2 (1 + delta)] for delta <= 1/2, and
    Q(k) <= phi(k)/k (Mills), 1/(1 - x) <= 1 + 2x for x <= 1/2, give for k >= 2
    k phi(k) <= 1 - s(k) <= k phi(k) (1 + 4 phi(k)/k) (1 + 4 k phi(k)),
    so s(k) -> 1 as k -> inf.  k <= 10 keeps 1 - s(k) >= 7e-22 resolvable at 45 digits.
    """
    s = symmetric_std(k, 45)
    with mpmath.workdps(60):
        kk = mpmath.mpf(str(k))
        gap = 1 - s
        lower = kk * phi(kk)
        upper = lower * (1 + 4 * phi(kk) / kk) * (1 + 4 * kk * phi(kk))
        assert lower <= gap <= upper


# ---------------------------------------------------------------------------
# General intervals
# ---------------------------------------------------------------------------


@settings(max_examples=60)
@given(interval=intervals())
def test_mean_is_odd_and_std_even_under_reflection_of_the_interval(
    interval: tuple[decimal.Decimal, decimal.Decimal],
) -> None:
    """mean(a, b) = -mean(-b, -a) and std(a, b) = std(-b, -a), to 28 significant digits."""
    a, b = interval
    m = truncnorm_moments(a, b, DIGITS)
    r = truncnorm_moments(b.copy_negate(), a.copy_negate(), DIGITS)
    with mpmath.workdps(60):
        tol = mpmath.mpf(10) ** (2 - DIGITS)
        assert abs(m.mean + r.mean) <= tol * abs(m.mean)
        assert abs(m.std - r.std) <= tol * m.std
        assert abs(m.mass - r.mass) <= tol * m.mass


@settings(max_examples=60)
@given(interval=intervals(reach="8"))
def test_variance_of_a_truncated_normal_lies_strictly_between_0_and_1(
    interval: tuple[decimal.Decimal, decimal.Decimal],
) -> None:
    """Truncation of a log-concave law shrinks its variance.  Finite cutoffs within [-8, 8]
    (plus one-sided tails) cut off at least 2 Q(8) ~ 1e-15 of mass, so 1 - Var >= ~1e-14 is
    resolvable at 30 digits."""
    a, b = interval
    var = truncnorm_moments(a, b, DIGITS).variance
    assert 0 < var < 1


EXACT = decimal.Context(prec=1000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


@settings(max_examples=20)
@given(
    mantissa=st.integers(20, 99),
    exponent=st.integers(0, 60),
    side=st.sampled_from([1, -1]),
)
@example(mantissa=10, exponent=99, side=1)  # the largest finite cutoff accepted, 1e100
def test_far_tails_follow_the_exponential_limit(mantissa: int, exponent: int, side: int) -> None:
    """X ~ N(0, 1) given X > a: with the Mills ratio lambda = phi(a)/Q(a) = a + 1/a - 2/a^3
    + O(a^-5), mean = lambda = a + 1/a - 2/a^3, Var = 1 + a lambda - lambda^2 = 1/a^2 -
    6/a^4 + ..., so a std = 1 - 3/a^2 + O(a^-4); X - a tends to Exp(a), excess kurtosis
    6 - 48/a^2 + O(a^-4) (coefficient measured: -47.9993 at a = 1000).  Checked for a >= 20
    with the next terms bounded by half the leading one, plus 30-digit resolution; the
    left tail (-inf, -a] by symmetry."""
    a = D(mantissa).scaleb(exponent)
    lower, upper = (a, D("Infinity")) if side == 1 else (D("-Infinity"), -a)
    m = truncnorm_moments(lower, upper, DIGITS)
    with mpmath.workdps(60):
        aa = mpmath.mpf(mantissa) * mpmath.mpf(10) ** exponent
        res = mpmath.mpf(10) ** (2 - DIGITS)  # resolution of 30-digit values, relative
        u = 1 / aa**2
        assert 1 - 3.5 * u - res <= aa * m.std <= 1 - 2.5 * u + res
        assert 6 - 50 * u - 6 * res <= m.excess_kurtosis <= 6 - 46 * u + 6 * res
        offset = side * m.mean - aa  # 1/a - 2/a^3 + ...
        assert (1 - 2.5 * u) / aa - res * aa <= offset <= (1 - 1.5 * u) / aa + res * aa


@st.composite
def narrow_intervals(draw: st.DrawFn) -> tuple[decimal.Decimal, decimal.Decimal]:
    """[c, c + w] with c = +-m 10^e anywhere from 1e-100 to 1e3 and w = n 10^-j tiny."""
    c = D(draw(st.integers(-99, 99))).scaleb(draw(st.integers(-100, 1)))
    w = D(draw(st.integers(1, 9))).scaleb(-draw(st.integers(2, 100)))
    return c, EXACT.add(c, w)


@settings(max_examples=40)
@given(interval=narrow_intervals())
def test_narrow_intervals_tend_to_the_uniform_law(
    interval: tuple[decimal.Decimal, decimal.Decimal],
) -> None:
    """On [c, c + w] the density exp(-x^2/2) changes by a factor exp(+-u), u <= max|x| w;
    as u, w -> 0 the law tends to U(c, c + w): std = w/sqrt(12) (1 + O(u^2 + w^2)), excess
    kurtosis -6/5 + O(u^2 + w^2).  Measured coefficients: at most 0.025 and 0.166 for
    u <= 0.3; checked as 1/30 and 1/5, plus 30-digit resolution."""
    c, hi = interval
    with mpmath.workdps(60):
        w = mpmath.mpf(str(EXACT.subtract(hi, c)))
        u = max(abs(mpmath.mpf(str(c))), abs(mpmath.mpf(str(hi)))) * w
        small = u**2 + w**2
    assume(small <= 0.1)
    m = truncnorm_moments(c, hi, DIGITS)
    with mpmath.workdps(60):
        res = mpmath.mpf(10) ** (2 - DIGITS)
        assert abs(m.std * mpmath.sqrt(12) / w - 1) <= small / 30 + res
        assert abs(m.excess_kurtosis + mpmath.mpf(6) / 5) <= small / 5 + 2 * res


@settings(max_examples=12)
@given(c=decimals("1.7321", "40"))
def test_cutoff_in_post_truncation_units_round_trips(c: decimal.Decimal) -> None:
    """k = cutoff_for_post_truncation_units(c) solves k / s(k) = c (to 27 digits) and
    0 < k < c (s(k) < 1); beyond c ~ 11, 1 - s(k) < 1e-28 and k = c to 30 digits."""
    k = cutoff_for_post_truncation_units(c, DIGITS)
    s = symmetric_std(k, DIGITS)
    with mpmath.workdps(60):
        cc = mpmath.mpf(str(c))
        assert abs(k / s / cc - 1) <= mpmath.mpf(10) ** (3 - DIGITS)
        assert 0 < k <= cc * (1 + mpmath.mpf(10) ** -DIGITS)
        if c <= 8:  # c - k = c (1 - s(k)) >= 8 phi(8) c: resolvable
            assert k < cc


@settings(max_examples=12)
@given(k=decimals("0.01", "12"))
def test_cutoff_in_post_truncation_units_inverts_k_over_s_of_k(k: decimal.Decimal) -> None:
    s = symmetric_std(k, 45)
    with mpmath.workdps(60):
        c = mpmath.nstr(mpmath.mpf(str(k)) / s, 45)  # c to 45 digits, as a decimal string
    back = cutoff_for_post_truncation_units(c, DIGITS)
    with mpmath.workdps(60):
        assert abs(back / mpmath.mpf(str(k)) - 1) <= mpmath.mpf(10) ** (3 - DIGITS)


# ---------------------------------------------------------------------------
# The float64 runtime snippet (derive/maths/snippets/truncnorm64.py) against mpmath
# ---------------------------------------------------------------------------

ULPS = 4  # the snippet's contract (its module docstring); measured worst: 2.5 ulps


@st.composite
def float_intervals(draw: st.DrawFn) -> tuple[float, float]:
    """Finite, narrow, one-sided and lopsided intervals, with the special bounds the
    routine branches on: 0.0 and -0.0 (the mirror and the split at zero), +-1, and a
    straddling interval with one end just past zero (where a rounded panel grid once moved
    the end of [-485, 8e-5] by 1e-15 and its mean by 10 ulps)."""
    special = st.sampled_from([0.0, -0.0, 1.0, -1.0, math.nextafter(1.0, 2.0), -40.0, 1000.0])
    a = draw(st.one_of(st.floats(-40, 40), st.floats(-1000, 1000), special))
    kind = draw(
        st.sampled_from(["finite", "finite", "right_tail", "left_tail", "straddle", "tiny"])
    )
    if kind == "right_tail":
        return a, math.inf
    if kind == "left_tail":
        return -math.inf, a
    if kind == "straddle":  # [-x, y] with y anywhere from 1e-12 to 1000
        return -abs(a) - 1e-3, 10.0 ** draw(st.floats(-12, 3))
    width = 10.0 ** draw(st.floats(-15 if kind == "tiny" else -8, 1.7))
    b = a + width
    assume(a < b)
    return a, b


@settings(max_examples=150)
@given(interval=float_intervals())
@example(interval=(-485.0806220546451, 8.002838264521234e-05))  # 10.0 ulps before the fix
@example(interval=(-419.8756455211049, 8.624369238090147e-08))  # 9.5
@example(interval=(-15.445840895286809, 2.0130414556498607e-09))  # 9.5
@example(interval=(-9.944147710746623, 1.6638087450746298e-07))  # 8.8
@example(interval=(-921.279387568092, 1.6003333153181916e-07))  # 8.0
@example(interval=(0.0, 1.0))
@example(interval=(-0.0, 1.0))
@example(interval=(-1.0, -0.0))
@example(interval=(-1.0, 0.0))
@example(interval=(-math.inf, -0.0))
@example(interval=(1.0, math.inf))
@example(interval=(-math.inf, -1.0))
@example(interval=(-1.0, 1.0))
@example(interval=(40.0, 40.00000001))
@example(interval=(-1000.00000001, -1000.0))
@example(interval=(1e-300, 2e-300))  # std 2.9e-301: underflowed to 0 before the fix
@example(interval=(1e-160, 2e-160))  # std was 0.2% off (a subnormal variance)
@example(interval=(1e99, math.inf))
def test_float64_snippet_agrees_with_mpmath_within_a_few_ulps(
    interval: tuple[float, float],
) -> None:
    """|mean - exact| <= 4 ulp(max(|mean|, std)) and |std - exact| <= 4 ulp(std), the
    contract of derive/maths/snippets/truncnorm64.py; the floats go to mpmath exactly (as
    their binary values), at 25 digits."""
    a, b = interval
    exact = truncnorm_moments(a, b, 25)
    mean, std = truncnorm_mean_std(a, b)
    with mpmath.workdps(40):
        scale = max(abs(float(exact.mean)), float(exact.std))
        mean_ulps = abs(mpmath.mpf(mean) - exact.mean) / math.ulp(scale)
        std_ulps = abs(mpmath.mpf(std) - exact.std) / math.ulp(float(exact.std))
    assert mean_ulps <= ULPS, (a, b, float(mean_ulps))
    assert std_ulps <= ULPS, (a, b, float(std_ulps))


# ---------------------------------------------------------------------------
# Samplers of the generated initializers stay inside their interval
# ---------------------------------------------------------------------------


@st.composite
def sampler_cases(draw: st.DrawFn) -> dict[str, Any]:
    a = draw(st.floats(-12, 12))
    b = a + 10.0 ** draw(st.floats(-3, 1.3))
    kind = draw(st.sampled_from(["finite", "finite", "right_tail", "left_tail"]))
    if kind == "right_tail":
        b = math.inf
    elif kind == "left_tail":
        a, b = -math.inf, b
    return {
        "lower": a,
        "upper": b,
        "std": draw(st.floats(1e-3, 10)),
        "mean": draw(st.floats(-5, 5)),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


def _assert_within(values: Any, case: dict[str, Any], sigma: float, eps: float) -> None:
    """Every value in [mean + lower sigma, mean + upper sigma], up to one rounding to the
    output dtype (relative eps) of the bound and of the mean."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    assert x.size and np.isfinite(x).all()
    mean, lo, hi = case["mean"], case["lower"], case["upper"]
    slack = 2 * eps * (abs(mean) + sigma * max(abs(lo) if math.isfinite(lo) else 0.0, 1.0))
    if math.isfinite(hi):
        slack = max(slack, 2 * eps * (abs(mean) + sigma * abs(hi)))
        assert x.max() <= mean + sigma * hi + slack, (case, x.max())
    if math.isfinite(lo):
        assert x.min() >= mean + sigma * lo - slack, (case, x.min())


def _numpy_init() -> Any:
    return load_generated("numpy_init")


@pytest.mark.filterwarnings("ignore:lower=.* are in units of the std:UserWarning")  # any cutoffs
@settings(max_examples=40)
@given(case=sampler_cases(), dtype=st.sampled_from(["float32", "float64"]))
def test_numpy_truncated_normal_stays_within_its_interval(case: dict[str, Any], dtype: str) -> None:
    np = require("numpy")
    mod = _numpy_init()
    values = mod.truncated_normal(
        (16, 32),
        std=case["std"],
        lower=case["lower"],
        upper=case["upper"],
        mean=case["mean"],
        dtype=dtype,
        rng=np.random.default_rng(case["seed"]),
    )
    assert values.dtype == np.dtype(dtype) and values.shape == (16, 32)
    sigma = case["std"] / mod.truncnorm_moments(case["lower"], case["upper"])[1]
    _assert_within(values, case, sigma, float(np.finfo(dtype).eps))


@pytest.mark.filterwarnings("ignore:lower=.* are in units of the std:UserWarning")  # any cutoffs
@settings(max_examples=30)
@given(
    case=sampler_cases(),
    dtype=st.sampled_from(["float16", "bfloat16", "float32", "float64"]),
)
def test_torch_truncated_normal_stays_within_its_interval(case: dict[str, Any], dtype: str) -> None:
    torch = require("torch")
    mod = load_generated("torch_init")
    torch_dtype = getattr(torch, dtype)
    sigma = case["std"] / mod.truncnorm_moments(case["lower"], case["upper"])[1]
    bound = abs(case["mean"]) + sigma * max(
        abs(v) for v in (case["lower"], case["upper"], 1.0) if math.isfinite(v)
    )
    if bound > 0.5 * torch.finfo(torch_dtype).max:  # the law itself overflows float16
        return
    tensor = torch.empty(16, 32, dtype=torch_dtype)
    generator = torch.Generator().manual_seed(case["seed"])
    mod.truncated_normal_(
        tensor,
        std=case["std"],
        lower=case["lower"],
        upper=case["upper"],
        mean=case["mean"],
        generator=generator,
    )
    _assert_within(tensor.double().numpy(), case, sigma, torch.finfo(torch_dtype).eps)


# ---------------------------------------------------------------------------
# The Hypothesis profiles (tests/conftest.py)
# ---------------------------------------------------------------------------

PROBE = """
import os
from hypothesis import given, strategies as st

@given(st.integers(0, 10**9))
def test_records(n):
    with open(os.environ["PROBE_LOG"], "a") as log:
        log.write(f"{n}\\n")

@given(st.integers(0, 10**6))
def test_fails(n):
    assert n < 1000
"""


def _run_probe(tmp_path: Path, ci: bool, run: int) -> tuple[str, list[str]]:
    log = tmp_path / f"examples-{ci}-{run}.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    env.update({"PROBE_LOG": str(log), **({"CI": "true"} if ci else {})})
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest"),
            *("-p", "no:cacheprovider", str(tmp_path / "test_probe.py")),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # test_fails fails, test_records not
    return done.stdout, log.read_text().split()


def test_ci_profile_is_derandomized_and_prints_the_failing_example(tmp_path: Path) -> None:
    """Under CI=true two runs draw the same examples and print the falsifying one (with the
    blob that reproduces it); the local "dev" profile explores other examples."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    out, seen_1 = _run_probe(tmp_path, ci=True, run=1)
    _, seen_2 = _run_probe(tmp_path, ci=True, run=2)
    assert seen_1 == seen_2 and len(seen_1) >= 50
    falsifying = out.split("Failing test case: test_fails(", 1)[1].splitlines()
    assert falsifying[1].split()[-1] == "n=1000,"  # printed, shrunk to the boundary
    assert "@reproduce_failure" in out
    _, dev = _run_probe(tmp_path, ci=False, run=1)
    assert dev != seen_1  # random, not the derandomized sequence
