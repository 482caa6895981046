"""The critical line (derive.maths.critical), every answer checked by an independent method.

The reference expectations are mpmath's own tanh-sinh quadrature, one q at a time
(derive.maths.meanfield.second_moment_map & co., via derive.maths.gains.gaussian_expectation:
nodes scaled with sqrt(q), a different rule and code from derive.maths.gaussian_rule), or
closed forms.  The independent solves are a two-dimensional Newton iteration on
(sigma_w^2, q) (not the one-dimensional reduction the module uses), mpmath.findroot's secant
method from another start, an a-posteriori Newton correction from the residuals, and direct
iteration of the length map.
"""

from __future__ import annotations

import json
from decimal import Decimal

import mpmath
import pytest

from derive.core.errors import InputError
from derive.maths.activations import SELU_ALPHA, SELU_LAMBDA, builtin
from derive.maths.critical import critical_point
from derive.maths.gains import gaussian_expectation
from derive.maths.meanfield import (
    derivative_second_moment,
    second_moment_map,
    second_moment_map_derivative,
)
from tests.conftest import GENERATED


def _reference(name: str, q: mpmath.mpf, dps: int) -> tuple[mpmath.mpf, ...]:
    """V, D, V', D' at q by mpmath.quad (D' = (E[x^2 f'^2] / q - D) / (2 q))."""
    act = builtin(name)
    with mpmath.workdps(dps):
        v = second_moment_map(act, q, dps)
        d = derivative_second_moment(act, q, dps)
        dv = second_moment_map_derivative(act, q, dps)
        x2 = gaussian_expectation(
            # x^2 f'^2 <= x f f' growth class for the built-ins (|f| ~ |x|, f' bounded)
            lambda x: x * x * act.df(x) ** 2,
            act,
            dps,
            mpmath.sqrt(q),
            "xffp",
        )[0]
        return v, d, dv, (x2 / q - d) / (2 * q)


def _rel(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    return abs(a - b) / abs(b)


# ---------------------------------------------------------------------------
# The two numbers, each by an independent method
# ---------------------------------------------------------------------------


def test_tanh_at_bias_variance_0_05_agrees_with_a_two_dimensional_newton_solve() -> None:
    """Newton on F(w, q) = (w V(q) + b - q, w D(q) - 1) with the Jacobian
    [[V, w V' - 1], [D, w D']], from (1.5, 0.8), on mpmath.quad expectations at 45 digits."""
    result = critical_point("tanh", "0.05", digits=30)
    (point,) = result.points
    with mpmath.workdps(45):
        b = mpmath.mpf("0.05")
        w, q = mpmath.mpf("1.5"), mpmath.mpf("0.8")
        for _ in range(12):
            v, d, dv, dd = _reference("tanh", q, 45)
            f1, f2 = w * v + b - q, w * d - 1
            det = v * (w * dd) - (w * dv - 1) * d
            dw = (f1 * (w * dd) - (w * dv - 1) * f2) / det
            dq = (v * f2 - d * f1) / det
            w, q = w - dw, q - dq
            if abs(dq) < mpmath.mpf(10) ** -38 and abs(dw) < mpmath.mpf(10) ** -38:
                break
        assert _rel(point.weight_variance, w) < mpmath.mpf(10) ** -30
        assert _rel(point.q_star, q) < mpmath.mpf(10) ** -30
        assert _rel(point.slope, w * dv) < mpmath.mpf(10) ** -29
    assert mpmath.nstr(point.weight_variance, 20) == "1.7609546396067391316"
    assert point.stability == "stable"


def _elu_forms(q: mpmath.mpf, alpha: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
    """ELU, x ~ N(0, q): E[e^(kx); x < 0] = e^(k^2 q / 2) Phi(-k sqrt q), so
    V(q) = q/2 + alpha^2 (e^(2q) Phi(-2 sqrt q) - 2 e^(q/2) Phi(-sqrt q) + 1/2) and
    D(q) = 1/2 + alpha^2 e^(2q) Phi(-2 sqrt q)."""
    s = mpmath.sqrt(q)
    v = q / 2 + alpha**2 * (
        mpmath.exp(2 * q) * mpmath.ncdf(-2 * s) - 2 * mpmath.exp(q / 2) * mpmath.ncdf(-s) + 0.5
    )
    d = mpmath.mpf(1) / 2 + alpha**2 * mpmath.exp(2 * q) * mpmath.ncdf(-2 * s)
    return v, d


@pytest.mark.parametrize(("alpha", "b2"), [("1", "0.01"), ("1", "0.2"), ("0.5", "0.05")])
def test_elu_agrees_with_its_closed_forms_solved_by_the_secant_method(alpha: str, b2: str) -> None:
    """The closed forms above, h(q) = V/D + sigma_b^2 - q solved by mpmath's secant method
    from 0.3 (not a bracket from the scan) at 60 digits; 40 digits must agree, and the slope
    T'(q*) = V'(q*)/D(q*) (mpmath.diff of the closed form) to 35."""
    result = critical_point("elu", b2, param=alpha, digits=40)
    (point,) = result.points
    with mpmath.workdps(60):
        a, b = mpmath.mpf(alpha), mpmath.mpf(b2)

        def h(q: mpmath.mpf) -> mpmath.mpf:
            v, d = _elu_forms(q, a)
            return v / d + b - q

        q = mpmath.findroot(h, mpmath.mpf("0.3"), solver="secant", tol=mpmath.mpf(10) ** -110)
        _, d = _elu_forms(q, a)
        w = 1 / d
        dv = mpmath.diff(lambda t: _elu_forms(t, a)[0], q)
        assert _rel(point.q_star, q) < mpmath.mpf(10) ** -40
        assert _rel(point.weight_variance, w) < mpmath.mpf(10) ** -40
        assert _rel(point.slope, w * dv) < mpmath.mpf(10) ** -35
    if (alpha, b2) == ("1", "0.01"):
        assert mpmath.nstr(point.weight_variance, 20) == "1.3833252322041861433"


# ---------------------------------------------------------------------------
# Every tabulated value
# ---------------------------------------------------------------------------


def _table() -> dict[str, object]:
    data = json.loads((GENERATED / "constants.json").read_text(encoding="utf-8"))
    table: dict[str, object] = data["critical"]
    return table


def _finite_rows() -> list[tuple[str, str, dict[str, object]]]:
    return [
        (row["activation"], row["bias_variance"], p)
        for row in _table()["rows"]  # type: ignore[index]
        for p in row["points"]
        if isinstance(p["q_star"], dict) and p["q_star"]["decimal"] != "0"  # q* = 0: below
    ]


@pytest.mark.parametrize(
    ("name", "b2", "point"), _finite_rows(), ids=[f"{n}-{b}" for n, b, _ in _finite_rows()]
)
def test_every_tabulated_critical_point_passes_a_newton_correction_by_independent_quadrature(
    name: str, b2: str, point: dict[str, dict[str, str]]
) -> None:
    """The residuals of both equations at the tabulated (sigma_w^2, q*), by mpmath.quad at
    digits + 10, turned into the Newton correction J^-1 F: it must be below one unit in the
    last tabulated digit (relative 10^-(digits - 1)); the slope T'(q*) = sigma_w^2 V'(q*)
    likewise, and xi_q = -1/ln T'(q*) up to its condition number."""
    digits = int(_table()["digits"])  # type: ignore[call-overload]
    dps = digits + 10
    with mpmath.workdps(dps):
        w = mpmath.mpf(point["weight_variance"]["decimal"])
        q = mpmath.mpf(point["q_star"]["decimal"])
        b = mpmath.mpf(b2)
        act = builtin(name)
        v = second_moment_map(act, q, dps)
        d = derivative_second_moment(act, q, dps)
        dv_exact = second_moment_map_derivative(act, q, dps)
        _, _, dv, dd = _reference(name, q, 15)  # the Jacobian needs only a few digits
        f1, f2 = w * v + b - q, w * d - 1
        det = v * (w * dd) - (w * dv - 1) * d
        dw = (f1 * (w * dd) - (w * dv - 1) * f2) / det
        dq = (v * f2 - d * f1) / det
        bound = mpmath.mpf(10) ** -(digits - 1)
        assert abs(dw) <= bound * w, (name, b2, dw)
        assert abs(dq) <= bound * q, (name, b2, dq)
        slope = mpmath.mpf(point["slope"]["decimal"])
        assert _rel(slope, w * dv_exact) <= bound
        stable = point["stability"] == "stable"
        assert stable == (slope < 1), (name, b2, point["stability"])
        if stable:
            # xi_q = -1/ln T' has condition number 1/|ln T'| (544 for Mish at 0.1): the
            # reference slope, from the rounded w and q*, carries that much less accuracy
            exact = w * dv_exact
            condition = max(1, 1 / abs(mpmath.log(exact)))
            xi_q = mpmath.mpf(point["xi_q"]["decimal"])
            assert _rel(xi_q, -1 / mpmath.log(exact)) <= 2 * condition * bound
            assert point["xi_c"] == "inf"
        else:
            assert point["xi_q"] is None and point["xi_c"] is None


@pytest.mark.parametrize(
    ("name", "b2", "verdict"),
    [
        ("tanh", "0.05", "stable"),
        ("gelu", "0.05", "unstable"),
        ("gelu", "0.2", "stable"),
        ("silu", "0.05", "unstable"),
        ("silu", "0.2", "unstable"),
        ("mish", "0.1", "stable"),
    ],
)
def test_stability_verdicts_agree_with_iterating_the_length_map(
    name: str, b2: str, verdict: str
) -> None:
    """Twelve steps of q -> sigma_w^2 V(q) + sigma_b^2 (mpmath.quad, 30 digits) from
    q*(1 + 10^-6): the deviation is multiplied by T'(q*) per step up to O(10^-6), so its
    12th root must match the tabulated slope to 10^-4, and it shrinks exactly when the verdict
    is "stable" (GELU's slope crosses 1 between sigma_b^2 = 0.1 and 0.2)."""
    (point,) = critical_point(name, b2, digits=20).points
    assert point.stability == verdict
    act = builtin(name)
    with mpmath.workdps(30):
        w, b, q_star = point.weight_variance, mpmath.mpf(b2), point.q_star
        assert q_star is not None
        q = q_star * (1 + mpmath.mpf(10) ** -6)
        start = q - q_star
        for _ in range(12):
            q = w * second_moment_map(act, q, 30) + b
        rate = ((q - q_star) / start) ** (mpmath.mpf(1) / 12)
        assert _rel(rate, point.slope) < mpmath.mpf(10) ** -4
        assert (abs(q - q_star) < abs(start)) == (verdict == "stable")


# ---------------------------------------------------------------------------
# Derived special cases
# ---------------------------------------------------------------------------

ZERO_BIAS = [
    ("tanh", "1", "marginal"),
    ("elu", "1", "marginal"),
    ("selu", str(2 / (Decimal(SELU_LAMBDA) ** 2 * (1 + Decimal(SELU_ALPHA) ** 2))), "marginal"),
    ("gelu", "4", "unstable"),
    ("silu", "4", "unstable"),
    ("mish", str(1 / Decimal("0.36")), "unstable"),  # mish'(0) = tanh(ln 2) = 3/5
]


@pytest.mark.parametrize(("name", "w2", "verdict"), ZERO_BIAS, ids=[z[0] for z in ZERO_BIAS])
def test_without_bias_q_star_0_is_critical_at_the_inverse_square_of_f_prime_at_0(
    name: str, w2: str, verdict: str
) -> None:
    """sigma_b^2 = 0 and f(0) = 0: q* = 0 at sigma_w^2 = 1/f'(0)^2 (one-sided mean for ELU,
    SELU); T(q) - q at q = 10^-3 (mpmath.quad) must have the sign the verdict says."""
    result = critical_point(name, "0", digits=25)
    (point,) = result.points
    assert point.q_star == 0 and point.slope == 1 and point.stability == verdict
    with mpmath.workdps(30):
        assert _rel(point.weight_variance, mpmath.mpf(w2)) < mpmath.mpf(10) ** -24
        q = mpmath.mpf("0.001")
        excess = point.weight_variance * second_moment_map(builtin(name), q, 30) - q
        assert (excess < 0) == (verdict == "marginal")


@pytest.mark.parametrize(
    ("name", "param", "w2"),
    [("relu", None, "2"), ("linear", None, "1"), ("leaky_relu", "0.2", "1.923076923076923076923")],
)
def test_relu_family_is_critical_at_every_q_without_bias_and_never_with_bias(
    name: str, param: str | None, w2: str
) -> None:
    """f(x) = x f'(x): V(q) = q D, so h(q) = sigma_b^2 exactly (2 / (1 + a^2) for leaky)."""
    every = critical_point(name, "0", param=param, digits=22)
    assert every.status == "every q"
    (point,) = every.points
    assert point.q_star is None and point.stability == "neutral"
    with mpmath.workdps(30):
        assert _rel(point.weight_variance, mpmath.mpf(w2)) < mpmath.mpf(10) ** -21
    none = critical_point(name, "0.05", param=param, digits=22)
    assert none.status == "none" and none.points == ()
    assert "f(x) = x f'(x)" in none.reason


def test_softplus_has_no_critical_point_on_a_finer_independent_grid() -> None:
    """h(q) = V/D + sigma_b^2 - q > 0 on q = 2^k, k = -20..14 (twice as fine as the module's
    scan, mpmath.quad at 15 digits), for sigma_b^2 = 0 and 0.2."""
    act = builtin("softplus")
    for b2 in ("0", "0.2"):
        assert critical_point("softplus", b2, digits=15).status == "none"
        with mpmath.workdps(15):
            for k in range(-20, 15):
                q = mpmath.mpf(2) ** k
                h = (
                    second_moment_map(act, q, 15) / derivative_second_moment(act, q, 15)
                    + mpmath.mpf(b2)
                    - q
                )
                assert h > 0, (b2, k, h)


def test_a_user_expression_gives_the_builtins_numbers() -> None:
    """'tanh(x)' goes through the expression parser and SymPy's lambdify, not the built-in's
    code: the same 25 digits."""
    builtin_point = critical_point("tanh", "0.05", digits=25).points[0]
    user_point = critical_point("tanh(x)", "0.05", digits=25).points[0]
    with mpmath.workdps(35):
        assert _rel(user_point.weight_variance, builtin_point.weight_variance) < 1e-25
        assert user_point.q_star is not None and builtin_point.q_star is not None
        assert _rel(user_point.q_star, builtin_point.q_star) < 1e-25


def test_sigmoid_without_bias_has_a_positive_critical_q_star() -> None:
    """f(0) = 1/2: q* = 0 is no fixed point; the root of V/D = q near 45.6 is, and attracts."""
    result = critical_point("sigmoid", "0", digits=20)
    (point,) = result.points
    assert point.q_star is not None and 45 < point.q_star < 46
    with mpmath.workdps(30):
        v, d, _, _ = _reference("sigmoid", point.q_star, 30)
        assert _rel(v / d, point.q_star) < mpmath.mpf(10) ** -19
    assert point.stability == "stable"


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

BAD = [
    (("tanh", "-0.01"), "bias variance: '-0.01' is out of range (accepted: a finite real >= 0"),
    (("tanh", "inf"), "bias variance: 'inf' is out of range"),
    (("tanh", "nan"), "bias variance: 'nan' is NaN"),
    (("tanh", "20000"), "bias variance: '20000' is out of range"),
    (("tanh", "x"), "bias variance: 'x' is not a number"),
    (("foo(x)", "0.1"), "unknown function 'foo'"),
    (("exp(x^2)", "0.1"), "diverges or converges too slowly"),
    (("log(x)", "0.1"), "accepted: expressions real on the whole line"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD, ids=[a[0] + " " + a[1] for a, _ in BAD])
def test_bad_input_is_one_line_naming_the_value(args: tuple[str, str], fragment: str) -> None:
    with pytest.raises(InputError) as info:
        critical_point(*args, digits=10)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_digits_are_validated() -> None:
    with pytest.raises(InputError, match="digits: 0 is out of range"):
        critical_point("tanh", "0.05", digits=0)
