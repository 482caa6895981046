"""derive.maths.truncnorm (closed forms evaluated with mpmath) against independent methods.

Each reference is computed WITHOUT the closed forms (no erf, no integration-by-parts
recursion), at ``digits + 20`` working digits, and every value of derive.maths.truncnorm must
then print the same ``digits`` significant digits (derive.core.numbers.format_sig: correctly
rounded), i.e. agree to the full requested precision:

* ``_quadrature``: tanh-sinh quadrature (mpmath.quad) of the density's moments about the
  bound nearest zero, t = x - s, with the factor exp(-s^2/2) divided out and t rescaled to
  the density's own length scale, so that tails ([1000, 1001]) and narrow intervals
  ([-1e-8, 1e-8]) integrate an O(1) function without cancellation; central moments are
  integrated as such.  The integral is split at 0 and at +-2^j in the scaled variable.
* ``_series``: the Taylor series of exp(-x^2/2) integrated term by term over [-h, h]
  (fast at any precision: used for the narrow interval and for 1000 digits of s(2)).
* ``_mills``: the Laplace continued fraction of the Mills ratio R(a) = Q(a)/phi(a) for
  one-sided tails [a, inf) (and [1000, 1001], whose upper cutoff changes nothing before
  the 400th digit).
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable

import mpmath
import pytest
from scipy import special, stats

from derive.core.errors import InputError
from derive.core.numbers import format_sig, parse_bound, to_mpf
from derive.maths.truncnorm import (
    Moments,
    cutoff_for_post_truncation_units,
    symmetric_std,
    truncnorm_moments,
)
from tests.conftest import ROOT

QUANTITIES = ("mass", "mean", "variance", "std", "correction", "excess_kurtosis")
REFERENCE_GUARD = 20  # the references run at digits + 20 working digits
TF_LITERAL = "0.87962566103423978"
S2_40 = "0.8796256610342397504128414195777747983459"

Reference = dict[str, mpmath.mpf]


def _finish(mass: mpmath.mpf, mean: mpmath.mpf, var: mpmath.mpf, mu4: mpmath.mpf) -> Reference:
    std = mpmath.sqrt(var)
    return {
        "mass": mass,
        "mean": mean,
        "variance": var,
        "std": std,
        "correction": 1 / std,
        "excess_kurtosis": mu4 / (var * var) - 3,
    }


def _quadrature(lower: str, upper: str, dps: int) -> Reference:
    """Moments by mpmath.quad of the density itself (see the module docstring)."""
    with mpmath.workdps(dps):
        a, b = (to_mpf(parse_bound(v, "bound")) for v in (lower, upper))
        symmetric = a == -b
        sign = 1
        if b <= 0:  # mirror onto the right: the mean changes sign, the rest does not
            a, b, sign = -b, -a, -1
        s = a if a > 0 else mpmath.mpf(0)  # the bound nearest zero (0 if straddling)
        scale = min(b - a, 1 / (s + 1))  # the density's length scale, or the width
        u_lo, u_hi = (a - s) / scale, (b - s) / scale
        points = {u_lo, u_hi}
        if u_lo < 0 < u_hi:
            points.add(mpmath.mpf(0))
        for j in range(13):
            for p in (mpmath.ldexp(1, j), -mpmath.ldexp(1, j)):
                if u_lo < p < u_hi:
                    points.add(p)
        pts = sorted(points)
        c1, c2 = s * scale, scale * scale / 2

        def w(u: mpmath.mpf) -> mpmath.mpf:  # phi(s + scale u) / phi(s)
            return mpmath.exp(-c1 * u - c2 * u * u)

        def integral(f: Callable[[mpmath.mpf], mpmath.mpf]) -> mpmath.mpf:
            return mpmath.quad(lambda u: f(u) * w(u), pts)

        i0 = integral(lambda u: 1)
        mu = integral(lambda u: u) / i0
        k2 = integral(lambda u: (u - mu) ** 2) / i0
        k4 = integral(lambda u: (u - mu) ** 4) / i0
        mass = scale * i0 * mpmath.exp(-s * s / 2) / mpmath.sqrt(2 * mpmath.pi)
        mean = mpmath.mpf(0) if symmetric else sign * (s + scale * mu)  # 0 by symmetry
        return _finish(mass, mean, k2 * scale**2, k4 * scale**4)


def _series(h: str, dps: int) -> Reference:
    """[-h, h] by the Taylor series of exp(-x^2/2), integrated term by term:
    int_{-h}^{h} x^(2j) exp(-x^2/2) dx = 2 sum_n (-1/2)^n h^(2n+2j+1) / (n! (2n+2j+1))."""
    with mpmath.workdps(dps):
        x = to_mpf(parse_bound(h, "h"))
        eps = mpmath.eps * mpmath.mpf(10) ** -5

        def moment(j: int) -> mpmath.mpf:
            total, n, coeff = mpmath.mpf(0), 0, 2 * x ** (2 * j + 1)  # coeff: 2 h^.. (-h^2/2)^n/n!
            while True:
                term = coeff / (2 * n + 2 * j + 1)
                total += term
                if n > x * x and abs(term) < eps * abs(total):
                    return total
                n += 1
                coeff *= -x * x / (2 * n)

        i0, i2, i4 = moment(0), moment(1), moment(2)
        mass = i0 / mpmath.sqrt(2 * mpmath.pi)
        return _finish(mass, mpmath.mpf(0), i2 / i0, i4 / i0)


def _mills(a_text: str, dps: int) -> Reference:
    """[a, inf) for a > 0 by the continued fraction R(a) = 1/(a+ 1/(a+ 2/(a+ 3/(a+ ...)))),
    evaluated backwards with n and 2n terms (n doubled until the two agree).

    With d = 1/R(a) = E[X | X > a]:  Var = 1 + a d - d^2,  and the raw moments from
    E[X^k | X > a] = a^(k-1) d + (k-1) E[X^(k-2) | X > a] (the recursion is derive's; the
    independent part is the mass, from the continued fraction instead of erfc).  The central
    moments cancel ~4 log10(a) digits, hence the extra working precision."""
    with mpmath.workdps(dps + 40):
        a = to_mpf(parse_bound(a_text, "a"))

        def cf(n: int) -> mpmath.mpf:
            r = a
            for k in range(n, 0, -1):
                r = a + k / r
            return 1 / r

        n = 64
        while abs(cf(n) - cf(2 * n)) > mpmath.eps * cf(n):
            n *= 2
        r = cf(2 * n)
        d = 1 / r
        m1 = d
        m2 = 1 + a * d
        m3 = a * a * d + 2 * m1
        m4 = a**3 * d + 3 * m2
        var = m2 - m1 * m1
        mu4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4
        mass = r * mpmath.exp(-a * a / 2) / mpmath.sqrt(2 * mpmath.pi)
        return _finish(mass, m1, var, mu4)


def _assert_same_digits(m: Moments, ref: Reference, digits: int) -> None:
    got = {q: format_sig(v, digits) for q, v in m.as_dict().items()}
    want = {q: format_sig(ref[q], digits) for q in QUANTITIES}
    assert got == want


# ---------------------------------------------------------------------------
# Full digits against quadrature, a series and a continued fraction
# ---------------------------------------------------------------------------

QUADRATURE_CASES = [
    ("-2", "2"),  # TensorFlow's cutoff
    ("-1", "3"),  # asymmetric, straddling zero
    ("0", "inf"),  # half-normal
    ("2", "inf"),  # one-sided tail
    ("-inf", "-40"),  # far one-sided tail, left
    ("8", "9"),  # far tail
    ("30", "31"),  # farther
    ("1000", "1001"),  # Q(1000) ~ 10^-217151: any difference of CDFs underflows
    ("-1e-8", "1e-8"),  # narrow: Var ~ 3e-17, 1 - m_2 cancels 17 digits
    ("1000", "1000.000000001"),  # narrow AND far: Var ~ 8e-20 next to m_2 ~ 1e6
    ("-3", "-2.999999999"),  # narrow on the left
]


@pytest.mark.parametrize(("lower", "upper"), QUADRATURE_CASES)
def test_every_moment_matches_quadrature_of_the_density_to_all_50_digits(
    lower: str, upper: str
) -> None:
    _assert_same_digits(
        truncnorm_moments(lower, upper, 50), _quadrature(lower, upper, 50 + REFERENCE_GUARD), 50
    )


@pytest.mark.parametrize("h", ["1e-8", "1e-20", "0.5"])
def test_narrow_symmetric_intervals_match_the_integrated_taylor_series_to_all_50_digits(
    h: str,
) -> None:
    """[-1e-20, 1e-20]: Var = 3.3e-41 from 1 + (a phi(a) - b phi(b))/Z, 41 digits cancel."""
    m = truncnorm_moments("-" + h, h, 50)
    assert m.mean == 0
    _assert_same_digits(m, _series(h, 50 + REFERENCE_GUARD), 50)


@pytest.mark.parametrize(
    ("a", "lower", "upper"),
    [
        ("2", "2", "inf"),
        ("40", "-inf", "-40"),
        ("1000", "1000", "1001"),
    ],
)
def test_tails_match_the_mills_ratio_continued_fraction_to_all_50_digits(
    a: str, lower: str, upper: str
) -> None:
    """[1000, 1001] vs [1000, inf): the cut-off part has relative mass < e^-1000."""
    ref = _mills(a, 50 + REFERENCE_GUARD)
    if lower == "-inf":
        ref["mean"] = mpmath.fneg(ref["mean"], exact=True)
    _assert_same_digits(truncnorm_moments(lower, upper, 50), ref, 50)


def test_s2_to_100_digits_matches_quadrature() -> None:
    _assert_same_digits(truncnorm_moments("-2", "2", 100), _quadrature("-2", "2", 120), 100)


def test_s2_to_1000_digits_matches_the_integrated_series() -> None:
    """1000 digits in well under a second; mpmath's tanh-sinh at 1020 digits takes ~20 s,
    so this check uses the series (independent of erf and of the recursion) and the
    quadrature check stops at 100 digits above."""
    m = truncnorm_moments("-2", "2", 1000)
    _assert_same_digits(m, _series("2", 1000 + REFERENCE_GUARD), 1000)
    assert format_sig(m.std, 40) == S2_40


# ---------------------------------------------------------------------------
# Stability across requested precision
# ---------------------------------------------------------------------------

STABILITY_CASES = [
    ("-2", "2"),
    ("-1", "3"),
    ("2", "inf"),
    ("8", "9"),
    ("1000", "1001"),
    ("-inf", "-40"),
    ("-1e-8", "1e-8"),
]


@pytest.mark.parametrize(("lower", "upper"), STABILITY_CASES)
def test_values_at_15_30_and_50_digits_are_the_100_digit_values_rounded(
    lower: str, upper: str
) -> None:
    top = truncnorm_moments(lower, upper, 100).as_dict()
    for digits in (15, 30, 50):
        low = truncnorm_moments(lower, upper, digits).as_dict()
        for q in QUANTITIES:
            assert format_sig(low[q], digits) == format_sig(top[q], digits), (digits, q)


def test_every_digit_count_from_1_to_1000_rounds_the_1000_digit_value() -> None:
    top = truncnorm_moments("-1", "3", 1000).as_dict()
    for digits in (1, 2, 3, 5, 8, 13, 17, 21, 34, 55, 89, 144, 233, 377, 610, 999, 1000):
        low = truncnorm_moments("-1", "3", digits).as_dict()
        for q in QUANTITIES:
            text = format_sig(low[q], digits)
            assert text == format_sig(top[q], digits), (digits, q)
            assert len(text.lstrip("-0.").replace(".", "").split("e")[0]) == digits


def test_one_significant_digit_prints_as_one_digit() -> None:
    m = truncnorm_moments("-2", "2", 1)
    assert format_sig(m.std, 1) == "0.9"
    assert format_sig(m.correction, 1) == "1"  # 1.137: no bare trailing point
    assert format_sig(m.mass, 1) == "1"  # 0.954 rounds up to 1
    assert format_sig(truncnorm_moments("3", "4", 1).mean, 1) == "3"  # 3.26


def test_mpmath_global_precision_is_left_untouched() -> None:
    before = mpmath.mp.dps
    truncnorm_moments("1000", "1001", 200)
    cutoff_for_post_truncation_units(3, 20)
    assert mpmath.mp.dps == before


# ---------------------------------------------------------------------------
# The TensorFlow literal, scipy and the CLI's 40-digit value
# ---------------------------------------------------------------------------


def test_tensorflow_literal_rounds_to_the_float64_of_s2() -> None:
    s2 = symmetric_std(2, 50)
    assert float(TF_LITERAL) == float(s2)
    assert repr(float(s2)) == "0.8796256610342398"
    # the literal is that float64 printed to 17 digits, not s(2) rounded to 17 digits
    # (0.87962566103423975041...): the two differ by 3e-17, under half an ulp (5.6e-17)
    assert f"{float(s2):.17g}" == TF_LITERAL
    assert format_sig(s2, 17) == "0.87962566103423975"


def test_cli_prints_s2_to_40_digits_as_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "derive", "truncnorm", "-2", "2", "--digits", "40", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    import json

    record = json.loads(out)
    assert record["std"] == S2_40
    assert record["lower"] == "-2" and record["upper"] == "2" and record["digits"] == 40


SCIPY_ULPS = 4  # measured worst: 2 ulps (mean, variance), 1 ulp (std) on these intervals
SCIPY_KURTOSIS_RELATIVE = 1e-13  # measured worst: 9.3e-15
SCIPY_CASES = [
    (-2, 2),
    (-1, 3),
    (-3, 1),
    (0, 2),
    (0, math.inf),
    (-math.inf, 0),
    (-0.5, 0.5),
    (-1, 1),
    (-2, 1),
]


@pytest.mark.parametrize(("lower", "upper"), SCIPY_CASES)
def test_scipy_truncnorm_agrees_within_4_ulps_where_float64_is_accurate(
    lower: float, upper: float
) -> None:
    """Intervals that contain 0: scipy's float64 formulas do not cancel there.  (Tails do:
    scipy's std of [8, 9] is 175000 ulps off, which is why TF's literal needed checking.)
    Mean in ulps of max(|mean|, std); mass against ndtr(b) - ndtr(a)."""
    m = truncnorm_moments(lower, upper, 30)
    law = stats.truncnorm(lower, upper)
    mean, var, kurt = (float(v) for v in law.stats(moments="mvk"))
    scale = max(abs(float(m.mean)), float(m.std))
    assert abs(mean - float(m.mean)) <= SCIPY_ULPS * math.ulp(scale)
    assert abs(var - float(m.variance)) <= SCIPY_ULPS * math.ulp(float(m.variance))
    assert abs(float(law.std()) - float(m.std)) <= SCIPY_ULPS * math.ulp(float(m.std))
    mass = float(special.ndtr(upper) - special.ndtr(lower))
    assert abs(mass - float(m.mass)) <= SCIPY_ULPS * math.ulp(float(m.mass))
    assert abs(kurt / float(m.excess_kurtosis) - 1) <= SCIPY_KURTOSIS_RELATIVE


# ---------------------------------------------------------------------------
# s(k) and the inverse problem k / s(k) = c
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", ["0.5", "2", "3", "6"])
def test_symmetric_std_is_the_std_of_the_symmetric_interval(k: str) -> None:
    assert format_sig(symmetric_std(k, 40), 40) == format_sig(
        truncnorm_moments("-" + k, k, 40).std, 40
    )


def test_symmetric_std_without_truncation_is_exactly_1() -> None:
    assert symmetric_std("inf", 30) == 1


@pytest.mark.parametrize("k", ["0", "-2", "-inf"])
def test_symmetric_std_rejects_a_cutoff_that_is_not_positive(k: str) -> None:
    with pytest.raises(InputError, match=r"k: .* must be > 0 \(accepted: 0 < k <= inf\)"):
        symmetric_std(k)


@pytest.mark.parametrize("c", ["1.75", "2", "2.2736", "3", "10"])
def test_cutoff_in_post_truncation_units_solves_k_over_s_of_k_to_40_digits(c: str) -> None:
    k = cutoff_for_post_truncation_units(c, 40)
    s = symmetric_std(k, 40)
    with mpmath.workdps(60):
        assert abs(k / s / mpmath.mpf(c) - 1) < mpmath.mpf(10) ** -40
        assert 0 < k < mpmath.mpf(c)


def test_cutoff_in_post_truncation_units_round_trips_tensorflows_cutoff() -> None:
    """TF cuts at 2 normal stds, i.e. at c = 2/s(2) = 2.27369... post-truncation stds."""
    with mpmath.workdps(60):
        c = 2 / symmetric_std(2, 50)
        k = cutoff_for_post_truncation_units(c, 40)
        assert abs(k - 2) < mpmath.mpf(10) ** -40


def test_cutoff_in_post_truncation_units_of_infinity_is_infinity() -> None:
    assert cutoff_for_post_truncation_units("inf") == mpmath.inf


@pytest.mark.parametrize(
    "c", ["1.7320508075688772935274463415058723669428052538104", "1.7", "1", "0", "-3", "-inf"]
)
def test_cutoff_in_post_truncation_units_rejects_c_up_to_sqrt3(c: str) -> None:
    """k/s(k) > sqrt(3) for every k (the limit k -> 0 is the uniform law's ratio)."""
    with pytest.raises(InputError, match=r"c: .* \(accepted: c > sqrt\(3\)") as exc:
        cutoff_for_post_truncation_units(c)
    assert repr(c) in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------------------
# Bad input through the Python API
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lower", "upper", "digits", "fragment"),
    [
        ("2", "-2", 30, "interval [2, -2]: lower must be < upper"),
        ("1", "1", 30, "interval [1, 1]: lower must be < upper"),
        ("nan", "1", 30, "lower: 'nan' is NaN"),
        (0, float("nan"), 30, "upper: nan is NaN"),
        ("x", "1", 30, "lower: 'x' is not a number"),
        ("0", "1", 0, "digits: 0 is out of range (accepted: 1..10000)"),
        ("0", "1", 10001, "digits: 10001 is out of range (accepted: 1..10000)"),
        ("0", "1", 1.5, "digits: 1.5 is not an integer (accepted: 1..10000)"),
    ],
)
def test_bad_arguments_raise_one_line_input_error_naming_the_value(
    lower: object, upper: object, digits: object, fragment: str
) -> None:
    with pytest.raises(InputError) as exc:
        truncnorm_moments(lower, upper, digits)  # type: ignore[arg-type]
    assert fragment in str(exc.value) and "\n" not in str(exc.value)
