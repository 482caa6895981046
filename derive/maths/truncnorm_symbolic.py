"""Closed forms of the truncated standard normal's moments, derived with SymPy.

Each moment is the integral of x^k phi(x) over [a, b] divided by the mass
(Johnson, Kotz & Balakrishnan vol. 1, sec. 10.1, eq. 13.134-13.135); SymPy does the
integration, so nothing here is typed in from a table.  The numeric module
:mod:`derive.maths.truncnorm` evaluates the same forms stably; the tests check that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

x, a, b = sp.symbols("x a b", real=True)


def normal_density(var: sp.Symbol = x) -> sp.Expr:
    """phi(x) = exp(-x^2/2) / sqrt(2 pi), the standard normal density."""
    return sp.exp(-(var**2) / 2) / sp.sqrt(2 * sp.pi)


@dataclass(frozen=True)
class TruncnormForms:
    """SymPy expressions in the symbols a, b (the cutoffs)."""

    mass: sp.Expr
    mean: sp.Expr
    second_moment: sp.Expr
    variance: sp.Expr
    std: sp.Expr
    correction: sp.Expr
    fourth_central_moment: sp.Expr
    excess_kurtosis: sp.Expr

    def latex(self) -> dict[str, str]:
        return {name: sp.latex(getattr(self, name)) for name in self.__dataclass_fields__}


def integration_by_parts_identity(k: int) -> sp.Expr:
    """d/dx[x^(k-1) phi(x)] - ((k-1) x^(k-2) phi(x) - x^k phi(x)); zero for every k >= 1.

    Integrated over [a, b] it gives the recursion
    I_k = (k-1) I_{k-2} - [x^(k-1) phi(x)]_a^b  (Johnson, Kotz & Balakrishnan eq. 13.135).
    """
    phi = normal_density()
    lhs = sp.diff(x ** (k - 1) * phi, x)
    rhs = (k - 1) * x ** (k - 2) * phi - x**k * phi
    return sp.simplify(lhs - rhs)


@cache
def partial_moment(k: int) -> sp.Expr:
    """I_k = the integral of x^k phi(x) dx over [a, b].

    I_0 and I_1 come from SymPy's integrator; higher k from the integration-by-parts
    recursion, whose identity SymPy verifies (direct integration of x^4 phi takes seconds).
    """
    if k < 2:
        antiderivative = sp.integrate(x**k * normal_density(), x)
        return antiderivative.subs(x, b) - antiderivative.subs(x, a)
    if integration_by_parts_identity(k) != 0:  # pragma: no cover - a SymPy regression
        raise ArithmeticError(f"integration by parts failed to verify for k={k}")
    edge = x ** (k - 1) * normal_density()
    return (k - 1) * partial_moment(k - 2) - (edge.subs(x, b) - edge.subs(x, a))


@cache
def truncnorm_forms() -> TruncnormForms:
    """Mass Z, mean, variance, std, 1/std, mu_4 and excess kurtosis for N(0,1) on [a, b]."""
    z = partial_moment(0)
    raw = [sp.Integer(1)] + [partial_moment(k) / z for k in range(1, 5)]
    m1, m2, m3, m4 = raw[1], raw[2], raw[3], raw[4]
    variance = m2 - m1**2
    mu4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    return TruncnormForms(
        mass=z,
        mean=m1,
        second_moment=m2,
        variance=variance,
        std=sp.sqrt(variance),
        correction=1 / sp.sqrt(variance),
        fourth_central_moment=mu4,
        excess_kurtosis=mu4 / variance**2 - 3,
    )


def excess_kurtosis_numerator() -> tuple[tuple[sp.Symbol, ...], sp.Expr]:
    """mu_4 - 3 var^2 as a polynomial in the edge terms T_k = (a^k phi(a) - b^k phi(b)) / Z.

    From the recursion of :func:`partial_moment` divided by Z: m_1 = T_0, m_2 = 1 + T_1,
    m_3 = 2 m_1 + T_2, m_4 = 3 m_2 + T_3; then mu_4 = m_4 - 4 m_1 m_3 + 6 m_1^2 m_2 - 3 m_1^4
    and var = m_2 - m_1^2.  The constant 3 cancels symbolically, so the excess kurtosis
    E / var^2 has no final "- 3" (derive.maths.truncnorm evaluates it so).  Returns the
    symbols (T_0, ..., T_3) and the expanded polynomial.
    """
    t = sp.symbols("T0:4", real=True)
    m1, m2 = t[0], 1 + t[1]
    m3, m4 = 2 * m1 + t[2], 3 * m2 + t[3]
    variance = m2 - m1**2
    mu4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    return t, sp.expand(mu4 - 3 * variance**2)


def display_forms() -> dict[str, sp.Expr]:
    """Readable forms in phi and Phi (for the report): the same maths, written compactly."""
    phi, Phi = sp.Function("phi"), sp.Function("Phi")
    z = Phi(b) - Phi(a)
    mean = (phi(a) - phi(b)) / z
    return {
        "mass": z,
        "mean": mean,
        "variance": 1 + (a * phi(a) - b * phi(b)) / z - mean**2,
    }
