"""Next to the critical line: every mean-field query answers in seconds, with every printed
digit right (``meanfield tanh --weight-variance 1.760954640 --bias-variance 0.05 --digits 20``,
3.9e-10 above the critical sigma_w^2, ran for over 10 minutes: c* -> 1 there, and the
product-rule series of the correlation map needs ~1 / (1 - c) terms).

Each query runs as the CLI in a subprocess with a timeout.  The reference is independent of
derive's quadrature, series and solvers, for f = tanh (f' = sech^2):

* q* solves q = sigma_w^2 V(q) + sigma_b^2, V(q) = E[tanh(sqrt(q) z)^2] by mpmath.quad, with
  mpmath.findroot; chi_1 = sigma_w^2 E[sech^4(sqrt(q*) z)] by mpmath.quad;
* the correlation map in midpoint coordinates: u1 = x + y, u2 = x - y with x ~ N(0, q (1 + c) / 2)
  and y ~ N(0, q (1 - c) / 2) independent have variances q and correlation c, and at the fixed
  point (q = sigma_w^2 E[f^2] + sigma_b^2) 1 - C(c) = sigma_w^2 E[(f(u1) - f(u2))^2] / (2 q)
  (no cancellation as c -> 1): x by mpmath.quad, y by a 24-point Gauss-Hermite rule (its
  integrand is a polynomial in y to far below the digits asked when y is small);
  chi_c = C'(c*) = sigma_w^2 E[f'(u1) f'(u2)] (Price's theorem) on the same rule.
  G(eps) = (1 - C(1 - eps)) / eps - 1 decreases through 0 at eps* = 1 - c*: the printed c*
  is right when G changes sign between the printed value +- one unit in its last digit.
* xi_c = -1 / ln chi_c (chaotic, chi_c at the solver's c*) or -1 / ln chi_1 (ordered) must
  print the same digits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import mpmath
import pytest

from derive.core.numbers import format_sig
from tests.conftest import ROOT

BIAS_VARIANCE = "0.05"
# the critical sigma_w^2 of tanh at sigma_b^2 = 0.05, 40 digits (derive's critical table,
# and checked here: chi_1 = 1 at the reference q* there)
CRITICAL = "1.760954639606739131631552024328476775303"


def _meanfield(weight_variance: str, digits: int, timeout: float = 120) -> dict[str, str]:
    argv = ["meanfield", "tanh", "--weight-variance", weight_variance]
    argv += ["--bias-variance", BIAS_VARIANCE, "--digits", str(digits), "--json"]
    out = subprocess.run(
        [sys.executable, "-m", "derive", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    ).stdout
    record: dict[str, str] = json.loads(out)
    return record


@cache
def _q_star(w2_text: str, dps: int) -> tuple[mpmath.mpf, mpmath.mpf]:
    """q* and chi_1 by mpmath.quad and findroot."""
    with mpmath.workdps(dps):
        w2, b2 = mpmath.mpf(w2_text), mpmath.mpf(BIAS_VARIANCE)

        def expect(g: object, q: mpmath.mpf) -> mpmath.mpf:
            s = mpmath.sqrt(q)
            return mpmath.quad(lambda z: g(s * z) * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])  # type: ignore[operator]

        q = mpmath.findroot(
            lambda q: w2 * expect(lambda x: mpmath.tanh(x) ** 2, q) + b2 - q, mpmath.mpf("0.57")
        )
        chi1 = w2 * expect(lambda x: mpmath.sech(x) ** 4, q)
        return q, chi1


@cache
def _hermite_rule(count: int, dps: int) -> tuple[tuple[mpmath.mpf, mpmath.mpf], ...]:
    """E[g(t)] = sum w_i (g(t_i) + g(-t_i)), t ~ N(0, 1), over the positive nodes of
    mpmath's Gauss-Hermite rule (t = sqrt(2) x; count even)."""
    with mpmath.workdps(dps):
        nodes, weights = mpmath.gauss_quadrature(count, "hermite")
        return tuple(
            (mpmath.sqrt(2) * x, w / mpmath.sqrt(mpmath.pi))
            for x, w in zip(nodes, weights, strict=True)
            if x > 0
        )


def _correlation(w2_text: str, eps: mpmath.mpf, dps: int) -> tuple[mpmath.mpf, mpmath.mpf]:
    """G(eps) = (1 - C(1 - eps)) / eps - 1 and chi_c = C'(1 - eps) (module docstring)."""
    q, _ = _q_star(w2_text, dps)
    with mpmath.workdps(dps + 10):  # f(x + y) - f(x - y) loses log10(x / y) digits
        w2 = mpmath.mpf(w2_text)
        sx = mpmath.sqrt(q * (1 - eps / 2))
        sy = mpmath.sqrt(q * eps / 2)
        # the y-integrand is a series in (sy t)^2 whose terms fall like (sy t / (pi / 2))^2:
        # 12 nodes (polynomials of degree 23 exact) for sy <= 1e-3, 24 above
        rule = _hermite_rule(12 if sy <= 1e-3 else 24, dps + 10)
        values: dict[mpmath.mpf, tuple[mpmath.mpf, mpmath.mpf]] = {}

        def inner(z: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            if z not in values:
                x = sx * z
                gap = slope = mpmath.mpf(0)
                for t, w in rule:
                    a, b = mpmath.tanh(x + sy * t), mpmath.tanh(x - sy * t)
                    gap += 2 * w * (a - b) ** 2  # +t and -t give the same terms
                    slope += 2 * w * (1 - a * a) * (1 - b * b)
                values[z] = (gap * mpmath.npdf(z), slope * mpmath.npdf(z))
            return values[z]

        points = [-mpmath.inf, 0, mpmath.inf]
        gap = mpmath.quad(lambda z: inner(z)[0], points)
        slope = mpmath.quad(lambda z: inner(z)[1], points)  # the same nodes: cached
        return w2 * gap / (2 * q * eps) - 1, w2 * slope


def _reference_correlation(
    w2_text: str, c_printed: str, digits: int, dps: int
) -> tuple[mpmath.mpf, ...]:
    """c*, chi_c and xi_c: Newton on G from the printed c* (G' = (C' - 1 - G) / eps, as for
    (1 - C(c)) / eps) until a step moves eps by less than 10^-(digits + 4) of it (Newton's
    error after it is far smaller: quadratic convergence)."""
    with mpmath.workdps(dps):
        eps = 1 - mpmath.mpf(c_printed)
        for _ in range(8):
            g, chi_c = _correlation(w2_text, eps, dps)
            step = g / ((chi_c - 1 - g) / eps)
            eps -= step
            if abs(step) <= mpmath.mpf(10) ** -(digits + 4) * eps:
                _, chi_c = _correlation(w2_text, eps, dps)
                return 1 - eps, chi_c, -1 / mpmath.log(chi_c)
        raise AssertionError("the reference Newton steps did not converge")


def test_the_critical_weight_variance_makes_chi_1_one_in_the_reference() -> None:
    _, chi1 = _q_star(CRITICAL, 45)
    assert abs(chi1 - 1) < mpmath.mpf(10) ** -38


def test_the_quoted_query_answers_in_seconds_with_every_digit() -> None:
    """3.9e-10 above the critical sigma_w^2, 20 digits: chaotic, c* = 1 - 5.2e-10, xi_c =
    1.19e10 (chi_c = 1 - 8.4e-11)."""
    record = _meanfield("1.760954640", 20, timeout=90)
    assert record["phase"] == "chaotic"
    _assert_chaotic_digits(record, "1.760954640", 20)


def _reference_dps(w2: str, digits: int) -> int:
    """The digits the reference needs: xi_c = -1 / ln chi_c amplifies chi_c's error by
    1 / (1 - chi_c), about 1 / (relative distance to the critical sigma_w^2), and q*'s by
    as much."""
    with mpmath.workdps(50):
        distance = abs(mpmath.mpf(w2) / mpmath.mpf(CRITICAL) - 1)
        return digits + int(mpmath.ceil(-mpmath.log10(distance))) + 10


def _assert_chaotic_digits(record: dict[str, str], w2: str, digits: int) -> None:
    dps = _reference_dps(w2, digits)
    q, chi1 = _q_star(w2, dps)
    assert record["q_star"] == format_sig(q, digits)
    assert record["chi_1"] == format_sig(chi1, digits)
    c_star, chi_c, xi_c = _reference_correlation(w2, record["c_star"], digits, dps)
    got = (record["c_star"], record["chi_c"], record["xi_c"])
    assert got == tuple(format_sig(v, digits) for v in (c_star, chi_c, xi_c))


NEAR_CRITICAL = [
    # (relative distance above (+) or below (-) the critical sigma_w^2, digits)
    ("1e-3", 10),
    ("1e-7", 10),
    ("1e-12", 14),
]


@pytest.mark.parametrize(("distance", "digits"), NEAR_CRITICAL)
@pytest.mark.parametrize("side", ["+", "-"])
def test_near_critical_points_answer_in_seconds_with_every_digit(
    distance: str, digits: int, side: str
) -> None:
    with mpmath.workdps(50):
        factor = 1 + mpmath.mpf(distance) * (1 if side == "+" else -1)
        w2 = mpmath.nstr(mpmath.mpf(CRITICAL) * factor, 40)
    record = _meanfield(w2, digits, timeout=90)
    if side == "-":
        assert record["phase"] == "ordered" and record["c_star"].startswith("1.")
        dps = _reference_dps(w2, digits)
        q, chi1 = _q_star(w2, dps)
        assert record["q_star"] == format_sig(q, digits)
        assert record["chi_1"] == format_sig(chi1, digits)
        with mpmath.workdps(dps):
            assert record["xi_c"] == format_sig(-1 / mpmath.log(chi1), digits)
    else:
        assert record["phase"] == "chaotic"
        _assert_chaotic_digits(record, w2, digits)
