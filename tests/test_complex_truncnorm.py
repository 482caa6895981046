"""derive.maths.complex_truncnorm against independent methods at higher precision.

Independent method: mpmath quadrature (tanh-sinh) of the moments of the radial density
2 r exp(-r^2) over [0, R] at 2 x (digits + 20) working digits, at several precisions; the
closed forms are also checked against SymPy's own evaluation and against Taylor expansions
for small R, where 1 - e^(-R^2) cancels.  Agreement is required to ``digits`` significant
digits (relative 10^-digits).
"""

from __future__ import annotations

import decimal

import mpmath
import numpy as np
import pytest

from derive.core.errors import InputError
from derive.core.numbers import format_sig
from derive.maths import complex_truncnorm as ct


def _quadrature(radius: str, k: int, dps: int) -> mpmath.mpf:
    """E[|z|^(2k); |z| <= R] = int_0^R r^(2k) 2 r exp(-r^2) dr, by tanh-sinh quadrature."""
    with mpmath.workdps(dps):
        r = mpmath.mpf(radius)
        return mpmath.quad(lambda x: x ** (2 * k) * 2 * x * mpmath.exp(-x * x), [0, r])


def _agree(a: mpmath.mpf, b: mpmath.mpf, digits: int) -> bool:
    with mpmath.workdps(digits + 30):
        return bool(abs(a - b) <= abs(b) * mpmath.mpf(10) ** (-digits))


RADII = ["0.001", "0.1", "0.5", "0.999", "1", "1.001", "1.5", "2", "3", "5.5"]


@pytest.mark.parametrize("digits", [15, 40, 60])
@pytest.mark.parametrize("radius", RADII)
def test_moments_match_quadrature_of_the_radial_density(radius: str, digits: int) -> None:
    m = ct.complex_truncnorm_moments(radius, digits)
    dps = 2 * (digits + 20)
    z, g2, g3 = (_quadrature(radius, k, dps) for k in range(3))
    with mpmath.workdps(dps):
        assert _agree(m.mass, z, digits)
        assert _agree(m.second_moment, g2 / z, digits)
        assert _agree(m.fourth_moment, g3 / z, digits)
        assert _agree(m.std, mpmath.sqrt(g2 / z), digits)
        assert _agree(m.correction, mpmath.sqrt(z / g2), digits)
        assert _agree(m.jax_divisor, mpmath.sqrt(g2), digits)
        assert _agree(m.jax_variance_ratio, 1 / z, digits)


@pytest.mark.parametrize("radius", ["1e-300", "1e-40", "1e-8", "0.01"])
def test_small_radius_keeps_every_digit_where_one_minus_exp_cancels(radius: str) -> None:
    # Reference: the naive closed forms (1 - e^-T, 1 - (1 + T) e^-T, ...) at a working
    # precision of 3 log10(1/T) + 100 digits, enough to absorb their cancellation (E|z|^4
    # ~ T^2/3 is formed from terms of size 1 divided by one of size T).
    m = ct.complex_truncnorm_moments(radius, 50)
    with mpmath.workdps(3 * 2 * 300 + 100):
        t = mpmath.mpf(radius) ** 2
        e = mpmath.exp(-t)
        z = 1 - e
        assert _agree(m.mass, z, 50)
        assert _agree(m.second_moment, (1 - (1 + t) * e) / z, 50)
        assert _agree(m.fourth_moment, (2 - (2 + 2 * t + t * t) * e) / z, 50)
        assert _agree(m.second_moment, t / 2 - t**2 / 12, 10)  # the leading Taylor terms


@pytest.mark.parametrize("radius", ["30", "1e3", "1e100", "inf"])
def test_large_radius_tends_to_the_untruncated_law(radius: str) -> None:
    m = ct.complex_truncnorm_moments(radius, 60)
    with mpmath.workdps(80):
        t = mpmath.mpf(radius) ** 2
        # 1 - E|z|^2 = T / (e^T - 1): below 10^-380 from R = 30 on
        assert abs(m.second_moment - 1) <= (t * mpmath.exp(-t) * 2 if mpmath.isfinite(t) else 0)
        assert abs(m.fourth_moment - 2) <= mpmath.mpf(10) ** -60
        assert m.mass <= 1


def test_series_and_closed_form_agree_at_their_seam() -> None:
    # T = 1 is evaluated by the positive series; the closed form P(s, T) must agree there.
    with mpmath.workdps(80):
        t = mpmath.mpf(1)
        for s in (1, 2, 3):
            p, lost = ct.regularized_lower_gamma(s, t)
            assert lost < 3.0
            assert _agree(p, mpmath.exp(-t) * ct.exponential_tail_series(s, t), 70)


def test_sympy_closed_forms_evaluate_to_the_numeric_values() -> None:
    import sympy as sp

    forms = ct.complex_truncnorm_forms()
    r = forms["radius"]
    assert forms["untruncated_second_moment"] == 1
    for radius in ("0.5", "2", "3"):
        m = ct.complex_truncnorm_moments(radius, 40)
        for name in ("mass", "second_moment", "fourth_moment", "correction", "jax_divisor"):
            with mpmath.workdps(60):
                value = mpmath.mpf(str(forms[name].subs(r, sp.Rational(radius)).evalf(60)))
                assert _agree(value, getattr(m, name), 40), (radius, name)


def test_radial_density_is_the_plane_density_integrated_over_the_angle() -> None:
    import sympy as sp

    density = ct.complex_normal_radial_density()
    r = sp.Symbol("r", positive=True)
    assert sp.simplify(density - 2 * r * sp.exp(-(r**2))) == 0
    assert sp.integrate(density, (r, 0, sp.oo)) == 1


def test_uniform_disk_with_unit_second_moment_has_radius_sqrt_2() -> None:
    import sympy as sp

    f = ct.disk_uniform_forms()
    assert f["total"] == 1
    assert sp.simplify(f["second_moment"] - f["rho"] ** 2 / 2) == 0
    assert sp.simplify(f["radius_for_sigma"] - sp.sqrt(2) * f["sigma"]) == 0
    with mpmath.workdps(60):
        assert _agree(ct.disk_uniform_radius(1, 40), mpmath.sqrt(2), 40)


# --------------------------------------------------------------------------- JAX's literal


def test_jax_literal_is_sqrt_of_the_unnormalised_second_moment_to_13_digits() -> None:
    m = ct.complex_truncnorm_moments(2, 40)
    with mpmath.workdps(50):
        literal = mpmath.mpf(ct.JAX_COMPLEX_LITERAL)
        exact = mpmath.sqrt(1 - 5 * mpmath.exp(-4))
        assert _agree(m.jax_divisor, exact, 40)
        rel = abs(literal - exact) / exact
        assert mpmath.mpf("9.4e-14") < rel < mpmath.mpf("9.6e-14")  # 13 digits, not 17
    # the same float32: JAX's complex64 path divides by np.float32(literal)
    assert np.float32(float(ct.JAX_COMPLEX_LITERAL)) == np.float32(float(m.jax_divisor))
    # while the std after truncation, what it should divide by, is sqrt(gamma(2,4) / Z)
    with mpmath.workdps(50):
        assert _agree(m.std, exact / mpmath.sqrt(1 - mpmath.exp(-4)), 40)


def test_jax_complex_variance_is_1_over_the_mass_about_1_9_percent_high() -> None:
    ratio = ct.jax_variance_ratio(2, 30)
    with mpmath.workdps(50):
        assert _agree(ratio, 1 / (1 - mpmath.exp(-4)), 30)
    assert format_sig(ratio, 12) == "1.01865736036"
    lit = ct.jax_literal_variance_ratio(digits=30)
    assert _agree(lit, ratio, 12) and not _agree(lit, ratio, 14)


def test_bad_radius_is_one_line_input_error_naming_it() -> None:
    for bad in ("0", "-1", "nan", "x", "1e999", True):
        with pytest.raises(InputError, match=r"^radius: ") as info:
            ct.complex_truncnorm_moments(bad)  # type: ignore[arg-type]
        assert "\n" not in str(info.value)


def test_decimal_and_float_radii_are_exact() -> None:
    a = ct.complex_truncnorm_moments(decimal.Decimal("0.1"), 30)
    b = ct.complex_truncnorm_moments("0.1", 30)
    c = ct.complex_truncnorm_moments(0.1, 30)  # the double nearest 0.1: a different radius
    assert a.second_moment == b.second_moment
    assert a.second_moment != c.second_moment
