"""derive.maths.truncnorm_symbolic (SymPy) against derive.maths.truncnorm (mpmath), and the
derivation itself: the partial moments I_k(a, b) really are integrals of x^k phi(x) over [a, b].

Agreement is to all 50 requested digits (derive.core.numbers.format_sig strings equal), with the
SymPy forms evaluated two ways: SymPy's own adaptive ``evalf`` on exact rational cutoffs,
and the forms ``lambdify``-ed to mpmath and evaluated naively at 70 working digits (at
these moderate cutoffs the naive forms lose at most a few digits to cancellation).
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp

from derive.core.numbers import format_sig
from derive.maths.truncnorm import EXCESS_KURTOSIS_NUMERATOR, truncnorm_moments
from derive.maths.truncnorm_symbolic import (
    a,
    b,
    display_forms,
    excess_kurtosis_numerator,
    integration_by_parts_identity,
    normal_density,
    partial_moment,
    truncnorm_forms,
    x,
)

DIGITS = 50
FIELDS = {  # TruncnormForms field -> derive.maths.truncnorm.Moments field
    "mass": "mass",
    "mean": "mean",
    "variance": "variance",
    "std": "std",
    "correction": "correction",
    "excess_kurtosis": "excess_kurtosis",
}
CASES = [("-2", "2"), ("-1", "3"), ("1/2", "2"), ("-3", "-1")]


def _decimal_text(q: str) -> str:
    return str(sp.Rational(q).evalf(60)) if "/" in q else q


@pytest.mark.parametrize(("lo", "hi"), CASES)
def test_sympy_forms_evaluated_by_evalf_agree_with_mpmath_to_50_digits(lo: str, hi: str) -> None:
    forms = truncnorm_forms()
    exact = truncnorm_moments(_decimal_text(lo), _decimal_text(hi), DIGITS).as_dict()
    subs = {a: sp.Rational(lo), b: sp.Rational(hi)}
    for field, name in FIELDS.items():
        value = getattr(forms, field).subs(subs).evalf(DIGITS + 10)
        with mpmath.workdps(DIGITS + 10):
            got = mpmath.mpf(str(value)) if value != 0 else mpmath.mpf(0)
        assert format_sig(got, DIGITS) == format_sig(exact[name], DIGITS), field


@pytest.mark.parametrize(("lo", "hi"), CASES)
def test_sympy_forms_lambdified_to_mpmath_agree_with_derive_to_50_digits(lo: str, hi: str) -> None:
    forms = truncnorm_forms()
    exact = truncnorm_moments(_decimal_text(lo), _decimal_text(hi), DIGITS).as_dict()
    for field, name in FIELDS.items():
        f = sp.lambdify((a, b), getattr(forms, field), "mpmath")
        with mpmath.workdps(DIGITS + 20):
            got = f(
                mpmath.mpf(sp.Rational(lo).p) / sp.Rational(lo).q,
                mpmath.mpf(sp.Rational(hi).p) / sp.Rational(hi).q,
            )
            if name == "mean" and lo == "-" + hi:
                assert abs(got) < mpmath.mpf(10) ** -(DIGITS + 10)  # phi(a) - phi(b) = 0
                continue
        assert format_sig(got, DIGITS) == format_sig(exact[name], DIGITS), field


def test_sympy_forms_of_a_one_sided_tail_agree_with_derive() -> None:
    """[2, oo): SymPy takes erf(oo) = 1 and exp(-oo) = 0 for the mass and mean; the higher
    moments have b exp(-b^2/2) = oo * 0 at b = oo, so they are taken at b = 60, which is
    [2, oo) to ~780 digits (Q(60)/Q(2) < 1e-780)."""
    forms = truncnorm_forms()
    exact = truncnorm_moments("2", "inf", 30).as_dict()
    for field, name in FIELDS.items():
        far = sp.oo if field in ("mass", "mean") else sp.Integer(60)
        value = getattr(forms, field).subs({a: 2, b: far}).evalf(40)
        with mpmath.workdps(40):
            got = mpmath.mpf(str(value))
        assert format_sig(got, 30) == format_sig(exact[name], 30), field


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_integration_by_parts_identity_holds_symbolically(k: int) -> None:
    assert integration_by_parts_identity(k) == 0


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_partial_moment_is_the_integral_of_x_to_the_k_times_phi(k: int) -> None:
    """dI_k/db = b^k phi(b), dI_k/da = -a^k phi(a) and I_k(a, a) = 0: the fundamental
    theorem of calculus, which pins I_k down as the integral over [a, b]."""
    i_k = partial_moment(k)
    assert sp.simplify(sp.diff(i_k, b) - b**k * normal_density(b)) == 0
    assert sp.simplify(sp.diff(i_k, a) + a**k * normal_density(a)) == 0
    assert sp.simplify(i_k.subs(b, a)) == 0


def test_mass_is_a_difference_of_erf_and_the_whole_line_has_mass_and_variance_1() -> None:
    forms = truncnorm_forms()
    assert forms.mass.has(sp.erf)
    assert sp.simplify(forms.mass.subs({a: -sp.oo, b: sp.oo})) == 1
    assert sp.limit(forms.variance.subs(a, -b), b, sp.oo) == 1


def test_symmetric_interval_has_zero_mean_symbolically() -> None:
    k = sp.Symbol("k", positive=True)
    assert sp.simplify(truncnorm_forms().mean.subs({a: -k, b: k})) == 0


def test_display_forms_in_phi_and_Phi_are_the_same_maths() -> None:
    phi, big_phi = sp.Function("phi"), sp.Function("Phi")
    t = sp.Symbol("t", real=True)
    concrete = {
        phi: sp.Lambda(t, normal_density(t)),
        big_phi: sp.Lambda(t, (1 + sp.erf(t / sp.sqrt(2))) / 2),
    }
    forms = truncnorm_forms()
    subs = {a: sp.Rational(-1), b: sp.Rational(3)}
    for name, expr in display_forms().items():
        value = expr.subs(concrete).doit().subs(subs)
        want = getattr(forms, name).subs(subs)
        assert abs(sp.N(value - want, 40)) < sp.Float("1e-35"), name


def test_every_form_has_latex() -> None:
    latex = truncnorm_forms().latex()
    assert set(latex) == {
        "mass",
        "mean",
        "second_moment",
        "variance",
        "std",
        "correction",
        "fourth_central_moment",
        "excess_kurtosis",
    }
    assert all(text.strip() for text in latex.values())
    assert "\\operatorname{erf}" in latex["mass"]
    assert x not in truncnorm_forms().variance.free_symbols


def test_the_numeric_excess_kurtosis_numerator_is_the_derived_polynomial() -> None:
    """derive.maths.truncnorm evaluates mu_4 - 3 var^2 from its table of terms; SymPy
    derives the same polynomial in T_0..T_3 from the moment recursion (no constant term:
    the "- 3" of the excess kurtosis cancels exactly)."""
    t, numerator = excess_kurtosis_numerator()
    typed = sum(
        (c * sp.Mul(*(t[k] for k in factors)) for c, factors in EXCESS_KURTOSIS_NUMERATOR),
        sp.Integer(0),
    )
    assert sp.expand(typed - numerator) == 0
    assert numerator.subs({s: 0 for s in t}) == 0


def test_excess_kurtosis_numerator_over_var_squared_is_the_excess_kurtosis_form() -> None:
    """At [-1, 3] (exact cutoffs, 50 digits by SymPy's evalf): E / var^2 with
    T_k = (a^k phi(a) - b^k phi(b)) / Z is mu_4 / var^2 - 3 of truncnorm_forms()."""
    forms = truncnorm_forms()
    t, numerator = excess_kurtosis_numerator()
    phi = normal_density
    edges = {t[k]: (a**k * phi(a) - b**k * phi(b)) / forms.mass for k in range(4)}
    subs = {a: sp.Integer(-1), b: sp.Integer(3)}
    ratio = (numerator.subs(edges) / forms.variance**2).subs(subs)
    assert abs(sp.N(ratio - forms.excess_kurtosis.subs(subs), 60)) < sp.Float("1e-50")
