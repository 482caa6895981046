"""derive.maths.gaussian_rule: Gaussian expectations on nodes fixed in x, against mpmath.quad
(derive.maths.gains.gaussian_expectation, nodes scaled with sqrt(q)), closed forms and
Gauss-Hermite."""

from __future__ import annotations

import dataclasses
import math

import mpmath
import pytest

from derive.core.errors import InputError
from derive.maths.activations import activation, builtin
from derive.maths.gains import gaussian_expectation
from derive.maths.gaussian_rule import Float64Rule, GaussianRule, expectations, rule_for

REFERENCE = {
    "f2": lambda act: lambda x: act.f(x) ** 2,
    "df2": lambda act: lambda x: act.df(x) ** 2,
    "xffp": lambda act: lambda x: x * act.f(x) * act.df(x),
}


@pytest.mark.parametrize("name", ["tanh", "elu", "gelu", "sigmoid", "relu"])
@pytest.mark.parametrize("q", ["0.001", "0.7", "300"])
def test_moments_agree_with_mpmath_quad_to_the_digits_asked(name: str, q: str) -> None:
    """20 digits asked: E[f^2], E[f'^2], E[x f f'] within 10^-20 relative of mpmath.quad at
    30 digits, across six orders of magnitude of q (one rule per factor 64)."""
    act = builtin(name)
    with mpmath.workdps(30):
        qq = mpmath.mpf(q)
        got = expectations(act, qq, 20, 30)
        for key, make in REFERENCE.items():
            ref, _ = gaussian_expectation(make(act), act, 30, mpmath.sqrt(qq), key)
            assert abs(got[key] - ref) <= mpmath.mpf(10) ** -20 * abs(ref), (name, q, key)


def test_mean_of_an_odd_activation_is_zero_to_the_digits_asked() -> None:
    with mpmath.workdps(30):
        m = expectations(builtin("tanh"), mpmath.mpf("0.7"), 20, 30)
        assert abs(m["f"]) <= mpmath.mpf(10) ** -20 * mpmath.sqrt(m["f2"])


def test_a_fast_growing_but_convergent_integrand_matches_its_closed_form() -> None:
    """f = exp(x^2 / 2): E[f^2] = E[exp(x^2)] = 1 / sqrt(1 - 2 q) for q < 1/2 (q = 0.1)."""
    act = activation("exp(x^2/2)")
    with mpmath.workdps(30):
        q = mpmath.mpf("0.1")
        got = expectations(act, q, 20, 30)["f2"]
        assert abs(got - 1 / mpmath.sqrt(1 - 2 * q)) <= mpmath.mpf(10) ** -20


@pytest.mark.parametrize(("expr", "q"), [("exp(x^2)", "0.25"), ("exp(x^2)", "1")])
def test_a_divergent_expectation_is_refused_not_returned(expr: str, q: str) -> None:
    """E[exp(2 x^2)] diverges for q >= 1/4: a one-line InputError, never a number."""
    with (
        pytest.raises(InputError, match="diverges or converges too slowly") as info,
        mpmath.workdps(20),
    ):
        expectations(activation(expr), mpmath.mpf(q), 10, 20)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("expr", ["log(x)", "sqrt(x)"])
def test_an_activation_that_is_not_real_on_the_line_is_refused(expr: str) -> None:
    with (
        pytest.raises(InputError, match="accepted: expressions real on the whole line"),
        mpmath.workdps(20),
    ):
        expectations(activation(expr), mpmath.mpf(1), 10, 20)


def test_nearby_variances_share_one_rule_and_its_activation_values() -> None:
    act = builtin("silu")
    with mpmath.workdps(20):
        a = rule_for(act, mpmath.mpf("0.5"), 10, 20)
        b = rule_for(act, mpmath.mpf("2"), 10, 20)
        c = rule_for(act, mpmath.mpf("500"), 10, 20)
    assert a is b and a is not c


def test_bivariate_expectations_of_relu_agree_with_the_arc_cosine_kernel() -> None:
    """ReLU (a kink on the line): E[f(u1) f(u2)] = q (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi)
    and E[f'(u1) f'(u2)] = (pi - arccos c) / (2 pi) (Cho & Saul 2009), to 20 digits."""
    act = builtin("relu")
    with mpmath.workdps(30):
        for q_text, c_text in (("1.06", "0.45"), ("0.2", "0.8"), ("3", "-0.3")):
            q, c = mpmath.mpf(q_text), mpmath.mpf(c_text)
            ff, dd = rule_for(act, q, 20, 30).bivariate(q, c)
            theta = mpmath.pi - mpmath.acos(c)
            assert abs(ff - q * (mpmath.sqrt(1 - c * c) + theta * c) / (2 * mpmath.pi)) < 1e-20
            assert abs(dd - theta / (2 * mpmath.pi)) < 1e-20


def test_bivariate_expectations_of_tanh_agree_with_gauss_hermite() -> None:
    """tanh (analytic): against a 120 x 120 Gauss-Hermite product rule in float64 (1e-12)."""
    import numpy as np

    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / np.sqrt(2 * np.pi)
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    act = builtin("tanh")
    with mpmath.workdps(25):
        for q_text, c_text in (("1.06", "0.45"), ("0.3", "0.9")):
            q, c = float(q_text), float(c_text)
            u1 = np.sqrt(q) * z1
            u2 = np.sqrt(q) * (c * z1 + np.sqrt(1 - c * c) * z2)
            ref_f = float(np.sum(np.outer(w, w) * np.tanh(u1) * np.tanh(u2)))
            ref_d = float(np.sum(np.outer(w, w) / np.cosh(u1) ** 2 / np.cosh(u2) ** 2))
            ff, dd = rule_for(act, mpmath.mpf(q_text), 15, 25).bivariate(
                mpmath.mpf(q_text), mpmath.mpf(c_text)
            )
            assert abs(float(ff) - ref_f) < 1e-12 and abs(float(dd) - ref_d) < 1e-12


@pytest.mark.parametrize("name", ["tanh", "elu", "gelu", "mish", "sigmoid"])
@pytest.mark.parametrize("digits", [6, 12])
def test_float64_rules_agree_with_mpmath_rules_on_the_same_nodes(name: str, digits: int) -> None:
    """At <= 12 digits and 16 working digits a built-in's rule sums in float64; its moments
    agree with the mpmath rule of the same (digits, dps) to 1e-12 of the integrand's size, from
    q = 4^-10 to 4^10 (the critical scan's range)."""
    act = builtin(name)
    with mpmath.workdps(16):
        for k in (-10, -3, 0, 4, 10):
            q = mpmath.mpf(4) ** k
            fast = rule_for(act, q, digits, 16, 64)
            assert isinstance(fast, Float64Rule)
            slow = GaussianRule(act, fast.q_ref, digits, 16, 64)
            got, want = fast.moments(q), slow.moments(q)
            scale = want["f2"] + want["df2"]
            for key in want:
                assert abs(got[key] - want[key]) <= mpmath.mpf("1e-12") * scale, (name, k, key)


def test_float64_rules_only_for_built_ins_at_low_precision() -> None:
    with mpmath.workdps(30):
        q = mpmath.mpf(1)
        assert type(rule_for(builtin("tanh"), q, 20, 30)) is GaussianRule
        assert type(rule_for(builtin("tanh"), q, 13, 16)) is GaussianRule
        assert type(rule_for(activation("x*tanh(x)"), q, 6, 16)) is GaussianRule
        assert type(rule_for(builtin("tanh"), q, 6, 16)) is Float64Rule


def test_a_float64_rule_refuses_a_divergent_expectation_like_the_mpmath_rule() -> None:
    """E[exp(2 x^2)] diverges for q >= 1/4: given a float64 twin (no built-in diverges), the
    float64 rule refuses it with a one-line InputError as the mpmath rule does (its twin
    overflows at the outer nodes: "cannot be evaluated"), never a number."""
    base = activation("exp(x^2)")
    act = dataclasses.replace(base, pair64=lambda t: (math.exp(t * t), 2 * t * math.exp(t * t)))
    with mpmath.workdps(16):
        for cls in (Float64Rule, GaussianRule):
            rule = cls(act, mpmath.mpf(1), 6, 16, 64)
            with pytest.raises(InputError, match=r"activation exp\(x\*\*2\): ") as info:
                rule.moments(mpmath.mpf(1), ("f2",))
            assert "\n" not in str(info.value) and "accepted: activations" in str(info.value)


@pytest.mark.parametrize("name", ["gelu", "tanh", "elu"])
def test_the_fused_dot_products_are_mpmath_fdot_bit_for_bit(name: str) -> None:
    """The moments' sums (one pass over the nodes for every moment) round the exact sum of
    the exact products once, as mpmath.fdot does: equal to it bit for bit, except where the
    sum cancels to nothing (E[f] of the odd tanh), where both are zero to the working
    precision relative to the sum of |terms|."""
    from derive.maths.gaussian_rule import _SIGNED, _dots

    act = builtin(name)
    with mpmath.workdps(30):
        rule = GaussianRule(act, mpmath.mpf(1), 20, 30)
        rule._upto(5)
        for q in ("0.2", "1", "6"):
            inv2q = 1 / (2 * mpmath.mpf(q))
            for lv in rule.levels:
                w = rule._weights(lv, inv2q)
                columns = [lv.value(m) for m in range(6)]
                got = _dots(w, columns, [m in _SIGNED for m in range(6)])
                for m, (value, size) in enumerate(got):
                    want = mpmath.fdot(w, columns[m])
                    if name == "tanh" and m == 0:  # E[f] = 0: cancels to nothing
                        assert abs(value) <= mpmath.mpf(2) ** -150 * size
                        assert abs(want) <= mpmath.mpf(2) ** -150 * size
                        continue
                    assert value == want, (name, q, m)
                    if m in _SIGNED:
                        assert size == mpmath.fdot(w, lv.magnitude(m)), (name, q, m)
