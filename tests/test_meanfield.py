"""Mean-field diagnostics: fixed point, chi_1, slope, depth scale, weight-only stability."""

from __future__ import annotations

import math
from typing import Any

import mpmath
import pytest

from derive.core.errors import InputError
from derive.core.numbers import format_sig
from derive.maths.meanfield import meanfield


def test_relu_at_he_gain_is_critical_with_every_q_fixed() -> None:
    m = meanfield("relu", "1.41421356237309504880168872420969807857", 0, digits=15)
    assert m.fixed_point == "every q" and m.phase == "critical"
    assert abs(m.chi1 - 1) < mpmath.mpf(10) ** -15
    assert m.weight_only == "marginal"


def test_relu_with_bias_has_closed_form_fixed_point() -> None:
    """q* = sigma_b^2 / (1 - sigma_w^2 / 2), chi_1 = sigma_w^2 / 2, xi = -1/ln chi_1."""
    m = meanfield("relu", "1.3", "0.1", digits=15)
    with mpmath.workdps(30):
        assert mpmath.almosteq(
            m.q_star,
            mpmath.mpf("0.01") / (1 - mpmath.mpf("1.69") / 2),
            rel_eps=mpmath.mpf(10) ** -14,
        )
        assert mpmath.almosteq(m.chi1, mpmath.mpf("0.845"), rel_eps=mpmath.mpf(10) ** -14)
        assert mpmath.almosteq(
            m.depth_scale, -1 / mpmath.log(mpmath.mpf("0.845")), rel_eps=mpmath.mpf(10) ** -14
        )
    assert m.phase == "ordered"


def test_tanh_fixed_point_satisfies_length_map() -> None:
    m = meanfield("tanh", "1.2", "0.05", digits=12)
    from derive.maths.meanfield import second_moment_map

    with mpmath.workdps(25):
        t = mpmath.mpf("1.44") * second_moment_map(m_act(), m.q_star, 25) + mpmath.mpf("0.0025")
        assert mpmath.almosteq(t, m.q_star, rel_eps=mpmath.mpf(10) ** -11)
    assert m.phase == "chaotic" and m.weight_only == "stable"
    assert m.slope is not None and m.slope < 1  # the length map's fixed point attracts


def m_act():  # type: ignore[no-untyped-def]
    from derive.maths.activations import builtin

    return builtin("tanh")


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_gelu_and_silu_have_no_stable_weight_only_fixed_point(name: str) -> None:
    """e(q) = q V'(q)/V(q) > 1 on the whole grid: every sigma_w's fixed point repels."""
    m = meanfield(name, "1.6", 0, digits=10)
    assert m.weight_only == "none"
    assert m.min_elasticity > 1


def test_selu_is_stable_at_q_one() -> None:
    m = meanfield("selu", 1, 0, digits=12)
    assert abs(m.q_star - 1) < mpmath.mpf(10) ** -10
    assert m.weight_only == "stable" and m.slope is not None and m.slope < 1


def test_bad_sigma_is_rejected() -> None:
    with pytest.raises(InputError, match="sigma_w"):
        meanfield("relu", 0)
    with pytest.raises(InputError, match="sigma_b"):
        meanfield("relu", 1, -1)


# ---------------------------------------------------------------------------
# The point (sigma_w^2, sigma_b^2): depth scales (Schoenholz et al. 2017, section 3)
# ---------------------------------------------------------------------------


def test_the_variance_entry_equals_the_std_entry() -> None:
    from derive.maths.meanfield import meanfield_point

    a = meanfield_point("tanh", "1.44", "0.0025", digits=15)
    b = meanfield("tanh", "1.2", "0.05", digits=15)
    assert a.q_star == b.q_star and a.chi1 == b.chi1 and a.xi_c == b.xi_c


def test_ordered_phase_depth_scales_are_minus_one_over_the_logs_of_the_slopes() -> None:
    """tanh at (1.2, 0.05): chi_1 < 1, c* = 1, chi_c = chi_1, xi_c = -1/ln chi_1 and
    xi_q = -1/ln T'(q*), T'(q*) by mpmath.quad (E[x f f'] / q)."""
    from derive.maths.meanfield import meanfield_point, second_moment_map_derivative

    m = meanfield_point("tanh", "1.2", "0.05", digits=15)
    assert m.phase == "ordered" and m.stability == "stable" and m.c_star == 1
    with mpmath.workdps(30):
        slope = mpmath.mpf("1.2") * second_moment_map_derivative(m_act(), m.q_star, 30)
        assert mpmath.almosteq(m.slope, slope, rel_eps=mpmath.mpf(10) ** -14)
        assert mpmath.almosteq(m.xi_q, -1 / mpmath.log(slope), rel_eps=mpmath.mpf(10) ** -13)
        assert m.chi1 is not None and m.chi_c == m.chi1
        assert mpmath.almosteq(m.xi_c, -1 / mpmath.log(m.chi1), rel_eps=mpmath.mpf(10) ** -14)


def _gauss_hermite_c_star(w2: float, b2: float, q: float) -> tuple[float, float]:
    """c* by iterating C(c) = (w2 E[tanh(u1) tanh(u2)] + b2) / q from c = 0.5 (it attracts),
    and chi_c = w2 E[sech^2(u1) sech^2(u2)], on a 120 x 120 Gauss-Hermite rule (float64)."""
    import numpy as np

    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = np.outer(w, w) / (2 * np.pi)
    z1, z2 = np.meshgrid(z, z, indexing="ij")

    def pair(c: float) -> tuple[Any, Any]:
        u1 = np.sqrt(q) * z1
        return u1, np.sqrt(q) * (c * z1 + np.sqrt(1 - c * c) * z2)

    c = 0.5
    for _ in range(400):
        u1, u2 = pair(c)
        c = (w2 * float(np.sum(w * np.tanh(u1) * np.tanh(u2))) + b2) / q
    u1, u2 = pair(c)
    return c, w2 * float(np.sum(w / np.cosh(u1) ** 2 / np.cosh(u2) ** 2))


def test_chaotic_phase_c_star_and_chi_c_agree_with_gauss_hermite_iteration() -> None:
    """tanh at (2.5, 0.05): chi_1 > 1, c = 1 repels, c* < 1 attracts; c*, chi_c = C'(c*) and
    xi_c = -1/ln chi_c against the float64 iteration above (1e-10)."""
    from derive.maths.meanfield import meanfield_point

    m = meanfield_point("tanh", "2.5", "0.05", digits=12)
    assert m.phase == "chaotic" and m.c_star is not None and m.chi_c is not None
    c_star, chi_c = _gauss_hermite_c_star(2.5, 0.05, float(m.q_star))
    assert abs(float(m.c_star) - c_star) < 1e-10
    assert abs(float(m.chi_c) - chi_c) < 1e-10
    assert m.xi_c is not None and abs(float(m.xi_c) + 1 / math.log(chi_c)) < 1e-8


def test_chaotic_odd_activation_without_bias_decorrelates_completely() -> None:
    """tanh at (2.5, 0): C(0) = 0 exactly, so c* = 0 and chi_c = sigma_w^2 E[f']^2."""
    from derive.maths.meanfield import meanfield_point

    m = meanfield_point("tanh", "2.5", "0", digits=15)
    assert m.phase == "chaotic" and m.c_star == 0
    assert m.chi_c is not None and 0 < m.chi_c < 1


def test_at_the_critical_weight_variance_chi_1_is_1_and_xi_c_is_infinite() -> None:
    from derive.maths.critical import critical_point
    from derive.maths.meanfield import meanfield_point

    (point,) = critical_point("tanh", "0.05", digits=25).points
    m = meanfield_point("tanh", mpmath.nstr(point.weight_variance, 25), "0.05", digits=15)
    assert m.phase == "critical" and m.xi_c == mpmath.inf and m.c_star == 1
    assert m.q_star is not None and point.q_star is not None
    with mpmath.workdps(20):
        assert mpmath.almosteq(m.q_star, point.q_star, rel_eps=mpmath.mpf(10) ** -14)


@pytest.mark.parametrize(
    ("w2", "b2", "fragment"),
    [
        ("0", "0", "weight variance: '0' is out of range (accepted: a finite real > 0"),
        ("-1", "0", "weight variance: '-1' is out of range"),
        ("1", "-0.1", "bias variance: '-0.1' is out of range (accepted: a finite real >= 0"),
        ("1e5", "0", "weight variance: '1e5' is out of range"),
    ],
)
def test_bad_variances_are_refused(w2: str, b2: str, fragment: str) -> None:
    from derive.maths.meanfield import meanfield_point

    with pytest.raises(InputError) as info:
        meanfield_point("tanh", w2, b2)
    assert fragment in str(info.value)


# ---------------------------------------------------------------------------
# The correlation map's fixed point by Mehler's series, against independent methods
# ---------------------------------------------------------------------------


def test_chaotic_selu_c_star_is_a_root_of_the_product_rule_correlation_map() -> None:
    """SELU (a kink in f' at 0, so algebraically decaying Hermite coefficients) at (1.5, 0.1),
    c* = 0.534...: the product-rule correlation map (GaussianRule.bivariate, no Hermite
    series) at the reported c* gives C(c*) = c* and C'(c*) = chi_c to 12 digits."""
    from derive.maths.activations import builtin
    from derive.maths.meanfield import correlation_map, meanfield_point

    m = meanfield_point("selu", "1.5", "0.1", digits=12)
    assert m.phase == "chaotic" and m.c_star is not None and m.chi_c is not None
    with mpmath.workdps(30):
        value, slope = correlation_map(
            builtin("selu"), m.q_star, m.c_star, mpmath.mpf("1.5"), mpmath.mpf("0.1"), 16, 30
        )
        # a residual r moves the root by r / (1 - chi_c)
        assert abs(value - m.c_star) <= mpmath.mpf(10) ** -13 * (1 - m.chi_c) * m.c_star
        assert abs(slope - m.chi_c) <= mpmath.mpf(10) ** -13 * m.chi_c


def test_selu_at_its_designed_fixed_point_has_a_tiny_c_star_not_zero() -> None:
    """SELU at (1, 0): its published constants give E[f] = -1.2015e-32 at q = 1, so
    C(0) = E[f]^2 / q* ~ 1.4e-64 > 0 and c* = C(0) / (1 - C'(0)) + O(c*^2) ~ 1.42e-63
    (C'(0) = E[f']^2): every digit, against q*, E[f], E[f'] by mpmath.quad at 60 digits
    (q* = 1 + O(1e-32), which moves E[f] by as much as E[f] itself)."""
    from derive.maths.activations import builtin
    from derive.maths.meanfield import meanfield_point

    m = meanfield_point("selu", 1, 0, digits=12)
    act = builtin("selu")
    with mpmath.workdps(60):

        def expect(g: Any, q: mpmath.mpf) -> mpmath.mpf:
            s = mpmath.sqrt(q)
            return mpmath.quad(lambda z: g(s * z) * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])

        q = mpmath.findroot(lambda q: expect(lambda x: act.f(x) ** 2, q) - q, mpmath.mpf(1))
        mean, slope = expect(act.f, q), expect(act.df, q)
        c_star = mean**2 / q / (1 - slope**2)
        assert m.c_star is not None and 1e-64 < c_star < 1e-62
        assert format_sig(m.c_star, 12) == format_sig(c_star, 12)


def test_a_c_star_at_an_unprovable_zero_is_refused_not_printed_as_zero() -> None:
    """f = x^2 - 1 at (0.5, 0): q* = 1 and E[f] = q* - 1 = 0 there, so C(0) = 0 to every
    digit the solver reaches, but f is not odd, so nothing proves it: one line, no number."""
    from derive.maths.meanfield import meanfield_point

    with pytest.raises(InputError, match="cannot be given to 12 digits") as info:
        meanfield_point("x^2-1", "0.5", 0, digits=12)
    assert "\n" not in str(info.value)
