"""Tiny and narrow intervals: every quantity in every printed digit, the excess kurtosis
above all (it printed 0 for [-1e-300, 1e-300] at 40 digits, where the exact value is
-1.2 + O(k^2), the uniform law's; 1,536 of 4,000 tiny symmetric intervals printed 0 at
some digit count from 15 to 50).  An exact zero comes only from exact operands: a
difference that cancels to zero carries no bound, and the precision is raised.

Reference (``_centred_series``), independent of the closed forms (no erf, no edge terms
D_k, no error analysis): about the midpoint m = (a + b) / 2 with half-width h = (b - a) / 2,
phi(m + h u) = phi(m) exp(alpha u + beta u^2), alpha = -m h, beta = -h^2 / 2, whose Taylor
coefficients satisfy c_0 = 1, c_1 = alpha, (n + 1) c_(n+1) = alpha c_n + 2 beta c_(n-1);
integrated term by term, W_j = int_-1^1 u^j exp(alpha u + beta u^2) du
= sum_n c_n 2 / (n + j + 1) over even n + j.  With E_j = W_j / W_0 (the moments of u):
mass = h phi(m) W_0, mean = m + h E_1, var = h^2 (E_2 - E_1^2),
mu_4 = h^4 (E_4 - 4 E_1 E_3 + 6 E_1^2 E_2 - 3 E_1^4), excess kurtosis = mu_4 / var^2 - 3.
For |alpha|, |beta| <= 1e-2 nothing cancels (E_1 ~ alpha / 3, E_2 ~ 1/3, E_4 ~ 1/5: the
excess kurtosis is 9/5 - 3 + O(alpha^2, beta)), so digits + 20 working digits give every
digit; the reference checks itself against the same sums at 30 more digits, and against
tanh-sinh quadrature (tests/test_truncnorm.py's ``_quadrature``) on a few intervals.
"""

from __future__ import annotations

import decimal
import json
import subprocess
import sys
from functools import cache

import mpmath
import pytest

from derive.core.numbers import format_sig, parse_bound, to_mpf
from derive.maths.truncnorm import truncnorm_moments
from tests.conftest import ROOT
from tests.test_truncnorm import QUANTITIES, REFERENCE_GUARD, Reference, _quadrature


def _series_moments(lower: str, upper: str, dps: int) -> Reference:
    with mpmath.workdps(dps):
        a, b = (parse_bound(v, "bound") for v in (lower, upper))
        exact = decimal.Context(prec=2000, traps=[decimal.Inexact])  # m, h: exact decimals
        m = to_mpf(exact.divide(exact.add(a, b), 2))
        h = to_mpf(exact.divide(exact.subtract(b, a), 2))
        alpha, beta = -m * h, -h * h / 2
        assert abs(alpha) <= 1e-2 and abs(beta) <= 1e-2, "not narrow: the series is slow"
        eps = mpmath.eps * mpmath.mpf(10) ** -5
        w = [mpmath.mpf(0)] * 5
        previous, current, n = mpmath.mpf(0), mpmath.mpf(1), 0  # c_(n-1), c_n
        while True:
            for j in range(5):
                if (n + j) % 2 == 0:
                    w[j] += 2 * current / (n + j + 1)
            # |c_n| falls at least geometrically (ratio <= 3e-2 once n >= 1): stop once two
            # consecutive coefficients are below eps relative to W_0 ~ 2
            if n > 4 and abs(current) < eps and abs(previous) < eps:
                break
            previous, current = current, (alpha * current + 2 * beta * previous) / (n + 1)
            n += 1
        e1, e2, e3, e4 = (w[j] / w[0] for j in range(1, 5))
        mass = h * mpmath.npdf(m) * w[0]
        mean = m + h * e1
        var = h * h * (e2 - e1 * e1)
        mu4 = h**4 * (e4 - 4 * e1 * e3 + 6 * e1 * e1 * e2 - 3 * e1**4)
        std = mpmath.sqrt(var)
        return {
            "mass": mass,
            "mean": mean,
            "variance": var,
            "std": std,
            "correction": 1 / std,
            "excess_kurtosis": mu4 / (var * var) - 3,
        }


@cache
def _centred_series(lower: str, upper: str, digits: int) -> Reference:
    dps = digits + REFERENCE_GUARD
    ref = _series_moments(lower, upper, dps)
    check = _series_moments(lower, upper, dps + 30)
    for q in QUANTITIES:
        assert format_sig(ref[q], digits + 5) == format_sig(check[q], digits + 5), q
    return ref


def _printed(lower: str, upper: str, digits: int) -> dict[str, str]:
    m = truncnorm_moments(lower, upper, digits).as_dict()
    return {q: format_sig(m[q], digits) for q in QUANTITIES}


def _expected(lower: str, upper: str, digits: int) -> dict[str, str]:
    ref = _centred_series(lower, upper, digits)
    return {q: format_sig(ref[q], digits) for q in QUANTITIES}


QUERY = ("--digits", "40", "--json")


def test_the_quoted_interval_prints_the_uniform_limit_not_zero() -> None:
    """``truncnorm -1e-300 1e-300 --digits 40 --json`` printed excess_kurtosis "0"."""
    out = subprocess.run(
        [sys.executable, "-m", "derive", "truncnorm", "-1e-300", "1e-300", *QUERY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    record = json.loads(out)
    assert record["excess_kurtosis"] == "-1.200000000000000000000000000000000000000"
    assert record["variance"] == "3.333333333333333333333333333333333333333e-601"
    assert record["mean"] == "0"


def _tiny_symmetric_grid() -> list[tuple[str, int]]:
    """k = m 10^-e for e = 18..400 and m from a fixed cycle, digits cycling 15..50: the
    audit's tiny symmetric intervals (k <= 1e-18, digits 15-50), 2 digit counts per k."""
    mantissas = ("1", "2.5", "3.7", "5", "7.77", "9.999")
    cases = []
    for i, e in enumerate(range(18, 401, 3)):
        k = f"{mantissas[i % len(mantissas)]}e-{e}"
        cases.append((k, 15 + (7 * i) % 36))
        cases.append((k, 15 + (7 * i + 18) % 36))
    return cases


def test_tiny_symmetric_intervals_have_every_digit_of_every_quantity() -> None:
    """256 intervals [-k, k], 1e-400 <= k <= 1e-18, at digits 15-50: mean exactly 0,
    excess kurtosis -1.2 + k^2 / 35 + ... (never 0), and every other quantity to every
    requested digit."""
    wrong = []
    for k, digits in _tiny_symmetric_grid():
        got, want = _printed("-" + k, k, digits), _expected("-" + k, k, digits)
        if got != want:
            wrong.append((k, digits, got, want))
        assert got["mean"] == "0"
        assert got["excess_kurtosis"].startswith("-1.")
    assert not wrong, f"{len(wrong)} wrong, first: {wrong[0]}"


def _tiny_asymmetric_grid() -> list[tuple[str, str, int]]:
    """Off-centre tiny intervals: [-k, c k], [k, c k], [-c k, -k] and k-wide intervals at
    an O(1) cutoff ([2, 2 + k]), k from 1e-18 to 1e-400."""
    cases = []
    for i, e in enumerate(range(18, 401, 11)):
        k, d = f"1e-{e}", 15 + (5 * i) % 36
        c = ("2", "1.000001", "3", "1.5")[i % 4]
        cases.append((f"-{k}", f"{c}e-{e}", d))
        cases.append((k, f"{c}e-{e}", d))
        cases.append((f"-{c}e-{e}", f"-{k}", d))
        cases.append(("2", "2." + "0" * (e - 1) + "1", d))
    return cases


def test_tiny_off_centre_intervals_have_every_digit_of_every_quantity() -> None:
    wrong = []
    for lower, upper, digits in _tiny_asymmetric_grid():
        got, want = _printed(lower, upper, digits), _expected(lower, upper, digits)
        if got != want:
            wrong.append((lower, upper, digits, got, want))
        assert got["excess_kurtosis"].startswith("-1.")
    assert not wrong, f"{len(wrong)} wrong, first: {wrong[0]}"


@pytest.mark.parametrize(
    ("lower", "upper"),
    [("-1e-8", "1e-8"), ("-1e-8", "3e-8"), ("0.5", "0.5000001"), ("-2e-30", "1e-30")],
)
def test_the_centred_series_agrees_with_quadrature(lower: str, upper: str) -> None:
    """The reference itself, against tanh-sinh quadrature of the density on a few
    intervals where quadrature is still cheap."""
    digits = 30
    quad = _quadrature(lower, upper, digits + REFERENCE_GUARD + 10)
    assert {q: format_sig(quad[q], digits) for q in QUANTITIES} == _expected(lower, upper, digits)


def test_an_exactly_symmetric_tiny_interval_keeps_its_exact_zero_mean_at_any_digits() -> None:
    """The one exact zero of a symmetric interval (its mean: D_0 = phi(k) expm1(0) = 0
    from exact operands) survives; the excess kurtosis, a cancelled difference, does not
    become one."""
    for digits in (1, 15, 50, 200):
        m = truncnorm_moments("-1e-400", "1e-400", digits)
        assert m.mean == 0
        assert format_sig(m.excess_kurtosis, min(digits, 5)) == format_sig(
            mpmath.mpf("-1.2"), min(digits, 5)
        )
