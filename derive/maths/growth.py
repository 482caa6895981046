"""Asymptotic growth of an activation expression as x -> +inf (use f(-x) for -inf).

For every subexpression u (SymPy, symbol ``z``) bottom-up: an upper and a lower bound of
log|u(x)| for large x of the form ``sum a_q x^q + k log x + log c`` (q > 0 rational, a_q
exact where the expression's numbers are), or a *tower* (log|u| tending to +-inf faster than
every power of x: e^(e^x), e^(-e^x)), and u's eventual sign.  Rational functions of x get
their exact leading term c x^k; sums, products, powers, exp, log, the bounded functions
(sin, cos, tanh, erf, erfc), sinh, cosh, abs, max, min, sign, Heaviside and Piecewise
combine their arguments' bounds conservatively (an upper bound may only grow, a lower bound
only shrink, where the rules cannot be exact: cosh(x^3) - sinh(x^3) = e^(-x^3) is bounded
above by e^(x^3)).  These bounds decide, before any integration, whether f^2 and f'^2 times
the Gaussian density are integrable (:func:`integrable_against_gaussian`): the leading term
of 2 log|f| - x^2/2 must be negative (or it must be k log x with k < -1); with the lower
bound the same test proves divergence.  exp(x^2/5) passes (2/5 - 1/2 < 0), exp(x^2/4) and
exp(exp(exp(x))) do not.  Coefficients are Fractions where exact; floats (from pi, e, logs)
that land within 1e-9 of a decision are treated as undecided, never as passing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

Num = Fraction | float


def _sp() -> Any:
    import sympy

    return sympy


FLOAT_TOL = 1e-9  # float coefficients closer than this (relative) count as equal
LOGLOG = Fraction(1, 64)  # log log x is bounded above by this multiple of log x


@dataclass(frozen=True)
class LogBound:
    """A bound on log|u(x)| for large x: ``sum a x^q + k log x + log c`` (terms: q > 0
    descending, a != 0; c > 0), or ``tower`` = +1 / -1 when log|u| tends to +inf / -inf
    faster than every power of x (e^(e^x), e^(-e^x))."""

    terms: tuple[tuple[Fraction, Num], ...] = ()
    k: Fraction = Fraction(0)
    c: Num = Fraction(1)
    tower: int = 0

    @property
    def huge(self) -> bool:
        """The constant factor is beyond float range (|u| may exceed e^700)."""
        return isinstance(self.c, float) and math.isinf(self.c)

    def leading(self) -> tuple[Fraction, Num] | None:
        return self.terms[0] if self.terms else None

    def at(self, x: float) -> float:
        """The bound's value (a float) at x > 0."""
        if self.tower:
            return math.inf * self.tower
        total = math.fsum(float(a) * x ** float(q) for q, a in self.terms)
        return float(total + float(self.k) * math.log(x) + _log(self.c))

    def text(self, variable: str) -> str:
        """The bound's leading behaviour, e.g. "like x^2/5", "faster than every power of x"."""
        if self.tower:
            return f"{'faster' if self.tower > 0 else 'slower'} than every power of {variable}"
        parts = []
        for q, a in self.terms:
            power = variable if q == 1 else f"{variable}^{q}"
            parts.append(power if a == 1 else f"{_num_text(a)}*{power}")
        if self.k:
            parts.append(f"log({variable})" if self.k == 1 else f"{self.k}*log({variable})")
        return "like " + (" + ".join(parts) or "a constant")


def _abs(x: Num) -> Num:
    return -x if x < 0 else x


def _log(c: Num) -> float:
    return -math.inf if c == 0 else math.log(c)


def _num_text(a: Num) -> str:
    return str(a) if isinstance(a, Fraction) else f"{a:.6g}"


TOWER_UP = LogBound(tower=1)
TOWER_DOWN = LogBound(tower=-1)
BOUNDED = LogBound()


def _const(c: Num) -> LogBound:
    if c == 0:
        return TOWER_DOWN
    if isinstance(c, float) and math.isinf(c):
        return TOWER_UP
    return LogBound(c=_abs(c))


def _clean(a: Num, up: bool) -> Num | None:
    """A coefficient after a sum: exact zeros vanish, float near-zeros lean conservative."""
    if isinstance(a, Fraction):
        return a if a != 0 else None
    if abs(a) < FLOAT_TOL:
        return FLOAT_TOL if up else -FLOAT_TOL
    return a


def _mul_num(x: Num, y: Num) -> Num:
    if isinstance(x, Fraction) and isinstance(y, Fraction):
        return x * y
    return float(x) * float(y)


def add_bounds(a: LogBound, b: LogBound, up: bool) -> LogBound:
    """Bound of log|u v| from bounds of log|u| and log|v| (``up``: upper bounds)."""
    if a.tower or b.tower:
        if a.tower and b.tower and a.tower != b.tower:
            return TOWER_UP if up else TOWER_DOWN
        return a if a.tower else b
    coeffs: dict[Fraction, Num] = dict(a.terms)
    for q, x in b.terms:
        coeffs[q] = (
            coeffs[q] + x
            if isinstance(coeffs.get(q), Fraction) and isinstance(x, Fraction)
            else float(coeffs.get(q, 0)) + float(x)
        )
    terms = []
    for q in sorted(coeffs, reverse=True):
        cleaned = _clean(coeffs[q], up)
        if cleaned is not None:
            terms.append((q, cleaned))
    c = _mul_num(a.c, b.c)
    if isinstance(c, float) and math.isnan(c):  # 0 * inf: no information
        c = math.inf if up else 0.0
    return LogBound(tuple(terms), a.k + b.k, c)


def scale_bound(a: LogBound, r: Fraction) -> LogBound:
    """Bound of r log|u| (r > 0)."""
    if a.tower:
        return a
    terms = tuple(
        (q, x * r if isinstance(x, Fraction) else float(x) * float(r)) for q, x in a.terms
    )
    if isinstance(a.c, Fraction) and r.denominator == 1:
        c: Num = a.c ** int(r)
    else:
        try:
            c = float(a.c) ** float(r) if a.c != 0 else 0.0
        except OverflowError:
            c = math.inf
    return LogBound(terms, a.k * r, c)


def negate_bound(a: LogBound) -> LogBound:
    """-log|u| as a bound (an upper bound of log|u| becomes a lower bound of log|1/u|)."""
    if a.tower:
        return LogBound(tower=-a.tower)
    terms = tuple((q, -x) for q, x in a.terms)
    c: Num = 1 / a.c if isinstance(a.c, Fraction) else (math.inf if a.c == 0 else 1.0 / a.c)
    return LogBound(terms, -a.k, c)


def compare(a: LogBound, b: LogBound) -> int:
    """+1 if a - b -> +inf, -1 if -> -inf, 0 if the difference may stay bounded."""
    if a.tower != b.tower:
        return 1 if a.tower > b.tower else -1
    if a.tower:
        return 0
    qs = sorted({q for q, _ in a.terms} | {q for q, _ in b.terms}, reverse=True)
    da, db = dict(a.terms), dict(b.terms)
    for q in qs:
        x, y = da.get(q, Fraction(0)), db.get(q, Fraction(0))
        if _num_equal(x, y):
            continue
        return 1 if x > y else -1
    if a.k != b.k:
        return 1 if a.k > b.k else -1
    return 0


def _num_equal(x: Num, y: Num) -> bool:
    if isinstance(x, Fraction) and isinstance(y, Fraction):
        return x == y
    return abs(float(x) - float(y)) <= FLOAT_TOL * max(1.0, abs(float(x)), abs(float(y)))


def bound_max(a: LogBound, b: LogBound, factor: int = 1) -> LogBound:
    """Upper bound of log(max(|u|, |v|) * factor)."""
    order = compare(a, b)
    if order:
        return a if order > 0 else b
    if a.tower:
        return a
    c = (
        max(float(a.c), float(b.c))
        if not (isinstance(a.c, Fraction) and isinstance(b.c, Fraction))
        else max(a.c, b.c)
    )
    return LogBound(a.terms, a.k, _mul_num(c, Fraction(factor)))


def bound_min(a: LogBound, b: LogBound) -> LogBound:
    """Lower bound of log min(|u|, |v|) from lower bounds."""
    order = compare(a, b)
    if order:
        return b if order > 0 else a
    if a.tower:
        return a
    return LogBound(a.terms, a.k, min(float(a.c), float(b.c)))


def _exp_of(sign: int, g: LogBound, up: bool) -> LogBound:
    """Bound of log|exp(v)| = v for a value v = sign * exp(g(x)) (g bounds log|v|)."""
    if g.tower > 0:
        return LogBound(tower=sign)
    if g.tower < 0:
        return BOUNDED
    lead = g.leading()
    if lead is not None:
        return LogBound(tower=sign) if lead[1] > 0 else BOUNDED
    if g.k > 0:
        return LogBound(((g.k, _mul_num(Fraction(sign), g.c)),))
    if g.k < 0:
        return BOUNDED
    value = sign * float(g.c)
    if value > 700:
        return LogBound(c=math.inf if up else math.exp(700))  # |u| may exceed e^700
    return LogBound(c=math.exp(max(value, -700.0))) if value != 0 else BOUNDED


@dataclass(frozen=True)
class Growth:
    """Upper and lower bounds of log|u| for large x and the eventual sign (+1, -1, 0 unknown)."""

    up: LogBound
    low: LogBound
    sign: int


UNKNOWN = Growth(TOWER_UP, TOWER_DOWN, 0)


def _rational_growth(e: Any, z: Any) -> Growth | None:
    """Exact leading term c x^k of a rational function of x."""
    sp = _sp()
    if not e.is_rational_function(z) or sp.count_ops(e) > 200:
        return None
    num, den = sp.fraction(sp.together(e))
    try:
        pn, pd = sp.Poly(num, z), sp.Poly(den, z)
    except sp.PolynomialError:  # pragma: no cover
        return None
    lc = pn.LC() / pd.LC()
    k = Fraction(pn.degree() - pd.degree())
    if lc == 0 or pn.is_zero:
        return Growth(TOWER_DOWN, TOWER_DOWN, 0)
    if lc.is_Rational:
        c: Num = abs(Fraction(int(lc.p), int(lc.q)))
    else:
        c = abs(float(lc))
    bound = LogBound((), k, c)
    return Growth(bound, bound, 1 if lc > 0 else -1)


def growth(expr: Any, z: Any) -> Growth:
    """Bounds of log|expr| as z -> +inf (use ``expr.subs(z, -z)`` for -inf)."""
    sp = _sp()
    memo: dict[Any, Growth] = {}

    def go(e: Any) -> Growth:
        if e not in memo:
            memo[e] = _go(e)
        return memo[e]

    def _go(e: Any) -> Growth:
        if e == z:
            b = LogBound(k=Fraction(1))
            return Growth(b, b, 1)
        if e.is_number:
            value = float(e) if e.is_real else math.nan
            if math.isnan(value):
                return UNKNOWN
            if e.is_Rational:
                exact: Num = abs(Fraction(int(e.p), int(e.q)))
            else:
                exact = abs(value)
            b = _const(exact)
            return Growth(b, b, (value > 0) - (value < 0))
        exact_rational = _rational_growth(e, z)
        if exact_rational is not None:
            return exact_rational
        head = e.func
        if head is sp.Piecewise:
            values = []
            for piece in e.args:
                if piece.cond is sp.true:
                    values.append(go(piece.expr))
                    break
                sign = go(piece.cond.lhs - piece.cond.rhs).sign
                holds = {sp.StrictGreaterThan: 1, sp.GreaterThan: 1}.get(piece.cond.func, -1)
                if sign == 0:  # undecided: the piece may apply
                    values.append(go(piece.expr))
                elif sign == holds:  # eventually true: this piece is the value
                    values.append(go(piece.expr))
                    break
            up = values[0].up
            low = values[0].low
            for v in values[1:]:
                up = bound_max(up, v.up)
                low = bound_min(low, v.low)
            signs = {v.sign for v in values}
            return Growth(up, low, signs.pop() if len(signs) == 1 else 0)
        sech = _sech_squared_argument(e)
        if sech is not None:  # 1 - tanh(u)^2 = sech(u)^2 <= 4 e^(-2|u|), SymPy's d tanh
            return _sech_squared(go(sech))
        parts = [go(a) for a in e.args]
        if head is sp.Add:
            return _add(parts)
        if head is sp.Mul:
            up, low, sign = parts[0].up, parts[0].low, parts[0].sign
            for p in parts[1:]:
                up = add_bounds(up, p.up, True)
                low = add_bounds(low, p.low, False)
                sign *= p.sign
            return Growth(up, low, sign)
        if head is sp.Pow:
            base, r_expr = parts[0], e.args[1]
            if not r_expr.is_Rational:
                return UNKNOWN
            r = Fraction(int(r_expr.p), int(r_expr.q))
            if r.denominator == 1:
                sign = base.sign ** int(abs(r)) if base.sign else (1 if r % 2 == 0 else 0)
            else:
                sign = 1
            if r > 0:
                return Growth(scale_bound(base.up, r), scale_bound(base.low, r), sign)
            return Growth(
                negate_bound(scale_bound(base.low, -r)),
                negate_bound(scale_bound(base.up, -r)),
                sign,
            )
        if head is sp.exp:
            u = parts[0]
            top = _exp_of(-1, u.low, True) if u.sign < 0 else _exp_of(1, u.up, True)
            bottom = _exp_of(1, u.low, False) if u.sign > 0 else _exp_of(-1, u.up, False)
            return Growth(top, bottom, 1)
        if head is sp.log:
            return _log_growth(parts[0])
        if head in (sp.sin, sp.cos):
            return Growth(BOUNDED, TOWER_DOWN, 0)
        if head in (sp.tanh, sp.erf):
            u = parts[0]
            low = TOWER_DOWN
            if u.sign and compare(u.low, BOUNDED) > 0:
                low = LogBound(c=0.5)
            return Growth(BOUNDED, low, u.sign)
        if head is sp.erfc:
            u = parts[0]
            if u.sign > 0:
                top = _exp_of(-1, scale_bound(u.low, Fraction(2)), True)
                bottom = add_bounds(
                    _exp_of(-1, scale_bound(u.up, Fraction(2)), False),
                    negate_bound(add_bounds(u.up, _const(Fraction(2)), True)),
                    False,
                )
                return Growth(add_bounds(top, _const(Fraction(1)), True), bottom, 1)
            if u.sign < 0:
                return Growth(_const(Fraction(2)), BOUNDED, 1)
            return Growth(_const(Fraction(2)), TOWER_DOWN, 1)
        if head in (sp.sinh, sp.cosh):
            u = parts[0]
            top = _exp_of(1, u.up, True)
            low = TOWER_DOWN if head is sp.sinh else BOUNDED
            if compare(u.low, BOUNDED) > 0:
                low = add_bounds(_exp_of(1, u.low, False), _const(Fraction(1, 4)), False)
            sign = 1 if head is sp.cosh else u.sign
            return Growth(top, low, sign)
        if head is sp.Abs:
            return Growth(parts[0].up, parts[0].low, 1)
        if head in (sp.Max, sp.Min):
            return _extremum(parts, head is sp.Max)
        if head is sp.sign:
            return Growth(BOUNDED, BOUNDED if parts[0].sign else TOWER_DOWN, parts[0].sign)
        if head is sp.Heaviside:
            sign = parts[0].sign
            return Growth(BOUNDED, BOUNDED if sign > 0 else TOWER_DOWN, 1 if sign > 0 else 0)
        return UNKNOWN

    return go(expr)


def _sech_squared_argument(e: Any) -> Any:
    """u if e is 1 - tanh(u)**2 (how SymPy writes tanh'), else None."""
    sp = _sp()
    if e.func is not sp.Add or len(e.args) != 2 or sp.Integer(1) not in e.args:
        return None
    (other,) = [a for a in e.args if a != 1]
    square = -other
    if square.func is sp.Pow and square.args[1] == 2 and square.args[0].func is sp.tanh:
        return square.args[0].args[0]
    return None


def _sech_squared(u: Growth) -> Growth:
    """log sech(u)^2 <= log 4 - 2|u| and >= -2|u|, with exp(low) <= |u| <= exp(up)."""
    two = LogBound(c=Fraction(2))
    if compare(u.low, BOUNDED) > 0:  # |u| -> inf
        up = add_bounds(_exp_of(-1, add_bounds(u.low, two, False), True), _const(4), True)
    else:
        up = BOUNDED  # sech^2 <= 1
    low = _exp_of(-1, add_bounds(u.up, two, True), False)
    return Growth(up, low, 1)


def _add(parts: list[Growth]) -> Growth:
    up = parts[0].up
    for p in parts[1:]:
        up = bound_max(up, p.up, factor=2)
    for j, p in enumerate(parts):
        others = [q for i, q in enumerate(parts) if i != j]
        if p.sign and all(compare(p.low, q.up) > 0 for q in others):
            return Growth(up, p.low, p.sign)
        # same shape, larger constant: |u_j| - sum |u_i| > 0 (2 + sin(x))
        if (
            p.sign
            and not p.low.tower
            and all(
                q.up.terms == p.low.terms and q.up.k == p.low.k and not q.up.tower for q in others
            )
        ):
            rest = sum(float(q.up.c) for q in others)
            if float(p.low.c) > rest * (1 + FLOAT_TOL) + FLOAT_TOL:
                return Growth(up, replace(p.low, c=float(p.low.c) - rest), p.sign)
    signs = {p.sign for p in parts}
    if len(signs) == 1 and 0 not in signs:
        low = parts[0].low
        for p in parts[1:]:
            low = bound_max(low, p.low)
        return Growth(up, low, signs.pop())
    return Growth(up, TOWER_DOWN, 0)


def _log_growth(u: Growth) -> Growth:
    """log(u) for u > 0: |log u| lies between |log of u's bounds|."""

    def log_abs(b: LogBound) -> LogBound:
        if b.tower:
            return TOWER_UP
        lead = b.leading()
        if lead is not None:
            return LogBound((), lead[0], _abs(lead[1]))
        if b.k != 0:
            return LogBound((), LOGLOG, _abs(b.k) * 2)
        return LogBound(c=max(abs(_log(b.c)), 1.0))

    up = bound_max(log_abs(u.up), log_abs(u.low))
    if compare(u.low, BOUNDED) > 0:  # u -> +inf: log u -> +inf
        lead = u.low.leading()
        low = LogBound((), lead[0], _abs(lead[1])) if lead else BOUNDED
        return Growth(up, low, 1)
    if compare(u.up, BOUNDED) < 0:  # u -> 0: log u -> -inf
        lead = u.up.leading()
        low = LogBound((), lead[0], _abs(lead[1])) if lead else BOUNDED
        return Growth(up, low, -1)
    return Growth(up, TOWER_DOWN, 0)


def _extremum(parts: list[Growth], is_max: bool) -> Growth:
    up = parts[0].up
    for p in parts[1:]:
        up = bound_max(up, p.up)
    winners = [p for p in parts if p.sign == (1 if is_max else -1)]
    if winners:  # max >= a positive part (min <= a negative part)
        low = winners[0].low
        for p in winners[1:]:
            low = bound_max(low, p.low)
        return Growth(up, low, 1 if is_max else -1)
    if all(p.sign == (-1 if is_max else 1) for p in parts):
        low = parts[0].low
        for p in parts[1:]:
            low = bound_min(low, p.low)
        return Growth(up, low, -1 if is_max else 1)
    return Growth(up, TOWER_DOWN, 0)


def integrable_against_gaussian(g: LogBound, weight: Fraction, lower: bool = False) -> bool | None:
    """Is e^(g(x) - weight x^2) integrable at +inf?  True (the exponent's leading term is
    negative, or it is k log x with k < -1), False (leading term positive; for a ``lower``
    bound also k log x with k >= -1: the integral diverges), None (the bound cannot decide).
    """
    h = add_bounds(g, LogBound(((Fraction(2), -weight),)), not lower)
    if h.tower:
        return h.tower < 0
    lead = h.leading()
    if lead is not None:
        if isinstance(lead[1], float) and abs(lead[1]) <= FLOAT_TOL:
            return None
        return bool(lead[1] < 0)
    if h.k < -1:
        return True
    return False if lower else None
