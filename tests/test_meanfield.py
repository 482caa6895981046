"""Mean-field diagnostics: fixed point, chi_1, slope, depth scale, weight-only stability."""

from __future__ import annotations

import mpmath
import pytest

from derive.core.errors import InputError
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
