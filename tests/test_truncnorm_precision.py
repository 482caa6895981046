"""Tiny and cancelling values of every truncated-normal quantity, on every path (the
Python API, the CLI, the tables), against independent references.

Each value must print the same ``digits`` significant digits as the reference
(derive.core.numbers.format_sig), i.e. be right in every requested digit; the values the
issues quote are asserted as the strings they give.

* ``_complement``: for intervals that cut off little, I_k = M_k - J_k with M = (1, 0, 1, 0, 3)
  the moments of N(0, 1) and J_k the moments of the cut-off tails, each taken by tanh-sinh
  quadrature (mpmath.quad) about its own cutoff c: J_k = phi(c) h int_0^inf (c + h t)^k
  exp(-c h t - h^2 t^2 / 2) dt, h = 1 / max(1, c).  No erf, no recursion, no rewriting of
  the excess kurtosis: mean, variance and mu_4 / var^2 - 3 are then formed by their
  definitions at a working precision that covers the cancellation (the cut mass J_0 sets
  it: 3 - 3 cancels about log10(1/J_0) digits), and the reference checks itself by agreeing
  with the same computation at 40 more digits.
* ``_quadrature`` (tests/test_truncnorm.py): the density's centred moments about the bound
  nearest zero, for narrow intervals whose variance or mean is tiny.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import mpmath
import pytest

from derive.core.numbers import format_sig, parse_bound, to_mpf
from derive.maths.truncnorm import truncnorm_moments
from derive.model.spec import parse_spec
from derive.model.tables import truncnorm_rows
from tests.conftest import ROOT
from tests.test_truncnorm import QUANTITIES, REFERENCE_GUARD, Reference, _quadrature

NORMAL_MOMENTS = (1, 0, 1, 0, 3)  # E[x^k] of N(0, 1), k = 0..4


@cache
def _tail(c_text: str, dps: int) -> tuple[mpmath.mpf, ...]:
    """J_k(c) = int_c^inf x^k phi(x) dx, k = 0..4, by quadrature (see the module docstring)."""
    with mpmath.workdps(dps):
        c = to_mpf(parse_bound(c_text, "c"))
        h = 1 / max(mpmath.mpf(1), c)
        points = [mpmath.mpf(0), -c / h, mpmath.inf] if c < 0 else [mpmath.mpf(0), mpmath.inf]
        scale = mpmath.npdf(c) * h
        out = []
        for k in range(5):

            def f(t: mpmath.mpf, k: int = k) -> mpmath.mpf:
                return (c + h * t) ** k * mpmath.exp(-c * h * t - h * h * t * t / 2)

            value, error = mpmath.quad(f, points, error=True)
            assert error <= abs(value) * mpmath.mpf(10) ** (10 - dps)
            out.append(scale * value)
        return tuple(out)


def _negated(text: str) -> str:
    return text[1:] if text.startswith("-") else "-" + text


def _combine(lower: str, upper: str, dps_tails: int, dps: int) -> Reference:
    cut = [mpmath.mpf(0)] * 5
    with mpmath.workdps(dps):
        if lower != "-inf":  # (-inf, a]: J_k = (-1)^k J_k(-a) by the mirror x -> -x
            for k, v in enumerate(_tail(_negated(lower), dps_tails)):
                cut[k] += (-1) ** k * v
        if upper != "inf":
            for k, v in enumerate(_tail(upper, dps_tails)):
                cut[k] += v
        mass = 1 - cut[0]
        m1, m2, m3, m4 = ((NORMAL_MOMENTS[k] - cut[k]) / mass for k in range(1, 5))
        var = m2 - m1 * m1
        mu4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4
        std = mpmath.sqrt(var)
        return {
            "mass": mass,
            "mean": m1,
            "variance": var,
            "std": std,
            "correction": 1 / std,
            "excess_kurtosis": mu4 / (var * var) - 3,
        }


@cache
def _complement(lower: str, upper: str, digits: int, extra: int = 0) -> Reference:
    """The moments from the cut-off tails; ``extra`` digits for a quantity that is small
    for another reason than a small cut (near a zero of the excess kurtosis)."""
    dps_tails = digits + REFERENCE_GUARD + extra
    with mpmath.workdps(30):
        cut = sum(
            (_tail(c, 30)[0] for c in (_negated(lower), upper) if c not in ("inf", "-inf")),
            mpmath.mpf(0),
        )
        lost = max(0, int(-mpmath.log10(cut))) if cut else 0
    dps = dps_tails + lost + 20
    ref = _combine(lower, upper, dps_tails, dps)
    check = _combine(lower, upper, dps_tails, dps + 40)
    for q in QUANTITIES:
        assert format_sig(ref[q], digits + 5) == format_sig(check[q], digits + 5), q
    return ref


def _assert_digits(got: dict[str, mpmath.mpf], ref: Reference, digits: int) -> None:
    mine = {q: format_sig(got[q], digits) for q in QUANTITIES}
    want = {q: format_sig(ref[q], digits) for q in QUANTITIES}
    assert mine == want


# ---------------------------------------------------------------------------
# Values reported by users and auditors, as the strings they give
# ---------------------------------------------------------------------------

QUOTED_EXCESS_KURTOSIS = [
    # (lower, upper, digits asked, the issue's digits)
    ("-35.038", "inf", 40, "-4.4686e-263"),
    ("-23.005", "23.005", 40, "-1.1590e-111"),
    ("-28.2", "60.739", 40, "-1.8444e-169"),
    ("-20", "20", 40, "-8.7673e-84"),
    ("-12", "12", 25, "-7.263362561483796207604977509e-29"),
    ("-12", "12", 50, "-7.263362561483796207604977509e-29"),
    ("-14", "inf", 20, "-2.963030923469000469497e-40"),
]


@pytest.mark.parametrize(("lower", "upper", "digits", "quoted"), QUOTED_EXCESS_KURTOSIS)
def test_excess_kurtosis_has_the_digits_the_issues_quote(
    lower: str, upper: str, digits: int, quoted: str
) -> None:
    """The issues quote the exact values to 5-28 digits; asked for ``digits`` digits, the
    value rounds to the quoted ones (it printed 0, or went wrong from the 2nd-17th digit)."""
    value = truncnorm_moments(lower, upper, digits).excess_kurtosis
    shown = len(quoted.lstrip("-").split("e")[0].replace(".", ""))
    assert format_sig(value, shown) == quoted


@pytest.mark.parametrize(
    ("argv", "excess_kurtosis", "mean"),
    [
        (
            ["-14", "inf", "--digits", "20"],
            "-2.9630309234690004695e-40",
            "1.0966065593889713063e-43",
        ),
        (["-12", "12", "--digits", "25"], "-7.263362561483796207604978e-29", "0"),
    ],
)
def test_cli_prints_the_excess_kurtosis_right_in_every_digit(
    argv: list[str], excess_kurtosis: str, mean: str
) -> None:
    """``truncnorm -14 inf --digits 20`` printed -3.2142...e-40; ``-12 12 --digits 25``
    printed ...240752087e-29."""
    out = subprocess.run(
        [sys.executable, "-m", "derive", "truncnorm", "--json", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    record = json.loads(out)
    assert record["excess_kurtosis"] == excess_kurtosis
    assert record["mean"] == mean


# ---------------------------------------------------------------------------
# Near-untruncated intervals: every quantity, every digit, against the cut-off tails
# ---------------------------------------------------------------------------

WIDE_CASES = [
    # (lower, upper, digits): from the issues, and beyond what "- 3" could reach
    ("-35.038", "inf", 40),
    ("-23.005", "23.005", 40),
    ("-28.2", "60.739", 40),
    ("-20", "20", 40),
    ("-12", "12", 25),
    ("-14", "inf", 20),
    ("-16", "inf", 40),  # was wrong from the 9th digit
    ("-11", "11", 100),  # was wrong from the 98th digit
    ("-12", "12.000001", 30),  # the mean is tiny too: phi(a) - phi(b) nearly cancels
    ("-inf", "40", 30),
    ("-40", "40", 30),  # excess kurtosis ~ -1e-343
]


@pytest.mark.parametrize(("lower", "upper", "digits"), WIDE_CASES)
def test_every_quantity_of_a_near_untruncated_interval_matches_the_cut_off_tails(
    lower: str, upper: str, digits: int
) -> None:
    _assert_digits(
        truncnorm_moments(lower, upper, digits).as_dict(),
        _complement(lower, upper, digits),
        digits,
    )


@pytest.mark.parametrize(
    ("lower", "upper", "k", "sides"),
    [
        ("-40", "40", 40, 2),
        ("-100", "100", 100, 2),
        ("-1000", "1000", 1000, 2),  # excess kurtosis ~ -5e-217139
        ("-1000", "inf", 1000, 1),
        ("-inf", "1000", 1000, 1),
    ],
)
def test_excess_kurtosis_far_from_any_cut_follows_the_hermite_tail_expansion(
    lower: str, upper: str, k: int, sides: int
) -> None:
    """To first order in the cut-off moments J_j = int_cut x^j phi (from m_j = (M_j - J_j) /
    (1 - J_0)): var = 1 - J_2 + J_0, mu_4 = 3 - J_4 + 3 J_0, so the excess kurtosis is
    -int_cut He_4 phi = -(J_4 - 6 J_2 + 3 J_0), and int_k^inf He_4 phi = He_3(k) phi(k) =
    (k^3 - 3k) phi(k) (He_n phi = -(He_(n-1) phi)').  The dropped terms are products of two
    J's, below 10 k^4 phi(k) < 1e-340 relative for k >= 40: at [-1000, 1000] the expansion
    is exact to 217,000 digits, where mu_4 / var^2 - 3 would need that many working digits.
    The mean is phi(k) one-sided (-J_1 of one tail), else 0; the variance is 1 to 30 digits."""
    digits = 30
    m = truncnorm_moments(lower, upper, digits)
    with mpmath.workdps(digits + 20):
        tail = mpmath.npdf(k)
        expected = -sides * (k**3 - 3 * k) * tail
        assert format_sig(m.excess_kurtosis, digits) == format_sig(expected, digits)
        mean = 0 if sides == 2 else (tail if upper == "inf" else -tail)
        assert format_sig(m.mean, digits) == format_sig(mpmath.mpf(mean), digits)
        assert format_sig(m.variance, digits) == format_sig(mpmath.mpf(1), digits)


def test_symmetric_means_are_exactly_zero_and_the_whole_line_has_zero_excess_kurtosis() -> None:
    for k in ("0.5", "12", "40", "1e-400"):
        assert truncnorm_moments("-" + k, k, 30).mean == 0
    whole = truncnorm_moments("-inf", "inf", 30)
    assert (whole.mean, whole.excess_kurtosis, whole.variance, whole.mass) == (0, 0, 1, 1)
    assert format_sig(whole.excess_kurtosis, 30) == "0"


TABLE_SPEC = {
    "digits": 50,
    "outputs": ["constants.json"],
    "symmetric": {"start": "1", "stop": "16", "step": "1"},
    "intervals": [["-14", "inf"], ["-11", "30"]],
}


def test_tables_hold_every_digit_of_symmetric_k_1_to_16_and_the_issues_intervals() -> None:
    """The spec of the issues at 50 digits: k = 11..16 were wrong from digit 49 down to 19,
    [-14, inf) and [-11, 30] from the 32nd-49th.  Every quantity of every row, as emitted
    (the decimal strings constants.json/.py/.md print), against the cut-off tails."""
    rows = truncnorm_rows(parse_spec(TABLE_SPEC))
    assert len(rows) == 18
    for row in rows:
        ref = _complement(row["lower"], row["upper"], 50)
        emitted = {q: row["values"][q]["decimal"] for q in QUANTITIES}
        assert emitted == {q: format_sig(ref[q], 50) for q in QUANTITIES}, row["key"]
        assert emitted["mean"] == "0" or row["kind"] != "symmetric"


# ---------------------------------------------------------------------------
# Other cancellations: a zero of the excess kurtosis, narrow intervals
# ---------------------------------------------------------------------------

# [a, inf) has excess kurtosis 0 at a = -1.00236934226837063310355208534343965336442494...
# (between -2, where it is -0.24, and -1, where it is +0.0014); 40 digits of that root
# leave an excess kurtosis of ~1e-40 that cancels ~40 digits inside mu_4 - 3 var^2.
NEAR_ZERO_KURTOSIS = "-1.002369342268370633103552085343439653364"


def test_an_excess_kurtosis_near_its_zero_has_every_requested_digit() -> None:
    m = truncnorm_moments(NEAR_ZERO_KURTOSIS, "inf", 30)
    assert 0 < abs(m.excess_kurtosis) < 1e-38
    _assert_digits(m.as_dict(), _complement(NEAR_ZERO_KURTOSIS, "inf", 30, extra=45), 30)


NARROW_CASES = [
    # (lower, upper): tiny mean, variance, std (and huge correction), on and off zero
    ("-1e-400", "2e-400"),  # mean 5e-401: phi(a) - phi(b) would cancel 800 digits
    ("1e-300", "2e-300"),
    ("-2", "2.0000000000000000000000000000000000000001"),  # mean ~ 1e-41
    ("1000", "1000.000000000000000000000000000001"),  # variance ~ 8e-62 next to m_2 ~ 1e6
]


@pytest.mark.parametrize(("lower", "upper"), NARROW_CASES)
def test_every_quantity_of_a_narrow_or_nearly_symmetric_interval_matches_quadrature(
    lower: str, upper: str
) -> None:
    digits = 30
    ref = _quadrature(lower, upper, digits + REFERENCE_GUARD + 45)
    _assert_digits(truncnorm_moments(lower, upper, digits).as_dict(), ref, digits)


def test_a_tiny_mean_beside_an_exact_zero_is_not_printed_as_zero() -> None:
    """[-2, 2 + e] is not symmetric: phi(2 + e) = phi(2) (1 - 2e + O(e^2)), so its mean is
    (phi(-2) - phi(2 + e)) / Z = 2 e phi(2) / Z (1 + O(e)) > 0; e = 1e-40."""
    m = truncnorm_moments("-2", "2.0000000000000000000000000000000000000001", 20)
    with mpmath.workdps(40):
        expected = 2 * mpmath.mpf("1e-40") * mpmath.npdf(2) / m.mass
    assert format_sig(m.mean, 20) == format_sig(expected, 20)
    assert 0 < float(m.mean) < 1e-40
