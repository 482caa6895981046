"""What must be known about an activation expression before its Gaussian moments are integrated.

An expression f (a SymPy expression in the real symbol ``z``, built by
:func:`derive.maths.activations.parse_activation`) is analysed once:

* **point evaluation** (:func:`point_function`): f compiled into an mpmath closure that reads
  the working precision at call time and refuses, instead of hanging or returning a complex
  number, when an argument leaves the real line (:class:`NotRealError`), hits a pole
  (:class:`SingularError`) or when ``exp``/``sinh``/``cosh`` get an argument beyond
  ``EXP_LIMIT`` = 10^9 or ``sin``/``cos`` one beyond 10^30 (:class:`TooLargeError`): such
  arguments are cheap to pass (mpmath needs about log10|argument| extra digits), but one
  more ``exp`` of the result would need a number with 10^8 digits (``exp(exp(exp(x)))`` at
  x = 3.1), which is where an unguarded evaluation hangs;
* **interval enclosures** (:func:`interval_function`): the range of f over [a, b], rounded
  outwards (a rigorous enclosure up to the last-bit rounding of mpmath's functions, which the
  relative widening by 2^-(prec - 8) covers), used to prove that a cell holds no root;
* **real roots** (:func:`real_roots`): exact (SymPy ``real_roots``) for polynomials with
  rational coefficients; otherwise isolated by subdividing [lo, hi] until each cell either
  excludes 0 (enclosure of u), or is monotone (enclosure of u' excludes 0: one sign change is
  one root, located to any precision by a bracketing solver), or is narrower than
  ``MIN_CELL`` (then both ends become split points: an even number of roots inside such a
  cell, e.g. a double root, changes the integral by at most about MIN_CELL^2 max|f'|);
* **split points**: the roots of the arguments of ``abs``, of ``max``/``min``'s differences,
  of Piecewise conditions and of the bases of ``log`` and of fractional or negative powers
  (kinks, infinite derivatives, poles), on the integration range [-L, L] only: the
  quadrature never looks beyond L (see :mod:`derive.maths.gains` for why the tail beyond L is
  below the requested digits), so kinks there cannot matter;
* **the real domain** (:func:`check_real`): every ``log`` argument and every base of a
  fractional power must be >= 0 on the whole line; the first interval where it is negative
  is named (on [-DOMAIN_RANGE, DOMAIN_RANGE] by the roots above, beyond it by an enclosure
  of the tail or by the eventual sign from the growth analysis);
* **growth at +-infinity** (:mod:`derive.maths.growth`): asymptotic bounds of log|f| and
  log|f'|, which decide before any integration whether E[f^2] and E[f'^2] are finite and
  how far out the quadrature must go.

The growth bounds are asymptotic (they hold for x large enough), so every cut they suggest is
also checked numerically on the actual integrand (:mod:`derive.maths.gains`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import mpmath

from ..core.errors import InputError
from .growth import TOWER_DOWN, Growth, LogBound, growth

Point = Callable[[mpmath.mpf], mpmath.mpf]
Interval = tuple[mpmath.mpf, mpmath.mpf] | None  # None: no real value on the cell
Enclosure = Callable[[mpmath.mpf, mpmath.mpf], Interval]

EXP_LIMIT = 10**9  # |argument| of exp, sinh, cosh beyond which a value is refused
TRIG_LIMIT = 10**30  # |argument| of sin, cos beyond which a value is refused
UNDERFLOW_LIMIT = 10**50  # exp(a) for a < -10^50 is taken as 0 (it is below 10^(-4e49))
MIN_CELL = mpmath.mpf(2) ** -60  # narrowest cell of the root isolation
MAX_CELLS = 20_000  # cells one isolation may visit before it refuses
DOMAIN_RANGE = 64  # the real domain is checked by roots on [-64, 64], beyond by enclosures
ISOLATION_DPS = 40  # working precision of enclosures during root isolation
MAX_POLY_DEGREE = 200  # exact real roots for polynomials up to this degree


class EvaluationError(ArithmeticError):
    """f cannot be evaluated at a point; ``at`` is the point, ``node`` the subexpression."""

    def __init__(self, at: mpmath.mpf, node: Any, why: str) -> None:
        super().__init__(why)
        self.at = at
        self.node = node
        self.why = why


class NotRealError(EvaluationError):
    pass


class SingularError(EvaluationError):
    pass


class TooLargeError(EvaluationError):
    pass


def _sp() -> Any:
    import sympy

    return sympy


def node_text(node: Any, z: Any, variable: str) -> str:
    """A subexpression as text in the user's variable name."""
    sp = _sp()
    return str(sp.sstr(node.subs(z, sp.Symbol(variable, real=True))))


# --------------------------------------------------------------------------------------
# Point evaluation
# --------------------------------------------------------------------------------------


def _constant(value: Any) -> Point:
    """A rational or named constant at the working precision of each call."""
    sp = _sp()
    if value is sp.pi:
        return lambda t: +mpmath.pi
    if value is sp.E:
        return lambda t: +mpmath.e
    if isinstance(value, sp.Rational):
        p, q = int(value.p), int(value.q)
        return (lambda t: mpmath.mpf(p)) if q == 1 else (lambda t: mpmath.mpf(p) / q)
    if isinstance(value, sp.Float):
        text = str(value)
        return lambda t: mpmath.mpf(text)
    raise ValueError(f"unsupported constant {value!r}")  # pragma: no cover - grammar


def _guard_exp(a: mpmath.mpf, t: mpmath.mpf, node: Any) -> None:
    if a > EXP_LIMIT or a < -UNDERFLOW_LIMIT:
        raise TooLargeError(t, node, f"argument {mpmath.nstr(a, 6)} beyond {EXP_LIMIT}")


def point_function(expr: Any, z: Any) -> Point:
    """``expr`` as an mpmath closure of z (precision read at call time), with the guards
    of :class:`NotRealError`, :class:`SingularError` and :class:`TooLargeError`."""
    sp = _sp()
    cache: dict[Any, Point] = {}

    def build(e: Any) -> Point:
        if e in cache:
            return cache[e]
        fn = _build(e)
        cache[e] = fn
        return fn

    def _build(e: Any) -> Point:
        if e == z:
            return lambda t: t
        if e.is_Atom:
            return _constant(e)
        args = [build(a) for a in e.args]
        head = e.func
        if head is sp.Add:

            def add(t: mpmath.mpf) -> mpmath.mpf:
                return mpmath.fsum(a(t) for a in args)

            return add
        if head is sp.Mul:

            def mul(t: mpmath.mpf) -> mpmath.mpf:
                out = args[0](t)
                for a in args[1:]:
                    out = out * a(t)
                return out

            return mul
        if head is sp.Pow:
            return _pow(e, args[0])
        if head is sp.exp:
            a0 = args[0]

            def exp(t: mpmath.mpf) -> mpmath.mpf:
                a = a0(t)
                if a < -UNDERFLOW_LIMIT:
                    return mpmath.mpf(0)
                _guard_exp(a, t, e)
                return mpmath.exp(a)

            return exp
        if head is sp.log:
            a0 = args[0]

            def log(t: mpmath.mpf) -> mpmath.mpf:
                a = a0(t)
                if a < 0:
                    raise NotRealError(t, e, "log of a negative number")
                if a == 0:
                    raise SingularError(t, e, "log(0)")
                return mpmath.log(a)

            return log
        if head in (sp.sinh, sp.cosh):
            a0, fn = args[0], mpmath.sinh if head is sp.sinh else mpmath.cosh

            def hyp(t: mpmath.mpf) -> mpmath.mpf:
                a = a0(t)
                _guard_exp(abs(a), t, e)
                return fn(a)

            return hyp
        if head in (sp.sin, sp.cos):
            a0, trig = args[0], mpmath.sin if head is sp.sin else mpmath.cos

            def periodic(t: mpmath.mpf) -> mpmath.mpf:
                a = a0(t)
                if abs(a) > TRIG_LIMIT:
                    raise TooLargeError(t, e, f"argument {mpmath.nstr(a, 6)} beyond 1e30")
                return trig(a)

            return periodic
        simple = {
            sp.tanh: mpmath.tanh,
            sp.erf: mpmath.erf,
            sp.erfc: mpmath.erfc,
            sp.Abs: abs,
            sp.sign: mpmath.sign,
        }
        if head in simple:
            a0, fn1 = args[0], simple[head]
            return lambda t: fn1(a0(t))
        if head is sp.Max:
            return lambda t: max(a(t) for a in args)
        if head is sp.Min:
            return lambda t: min(a(t) for a in args)
        if head is sp.Heaviside:
            a0 = args[0]
            h0 = args[1] if len(args) > 1 else (lambda t: mpmath.mpf(1) / 2)

            def heaviside(t: mpmath.mpf) -> mpmath.mpf:
                a = a0(t)
                return mpmath.mpf(1) if a > 0 else mpmath.mpf(0) if a < 0 else h0(t)

            return heaviside
        if head is sp.Piecewise:
            pieces = [(build(p.expr), _condition(p.cond)) for p in e.args]

            def piecewise(t: mpmath.mpf) -> mpmath.mpf:
                for value, cond in pieces:
                    if cond(t):
                        return value(t)
                raise NotRealError(t, e, "no piece applies")  # pragma: no cover

            return piecewise
        raise ValueError(f"unsupported function {head}")  # pragma: no cover - grammar

    def _condition(cond: Any) -> Callable[[mpmath.mpf], bool]:
        if cond is sp.true:
            return lambda t: True
        diff = build(cond.lhs - cond.rhs)
        ops: dict[Any, Callable[[mpmath.mpf], bool]] = {
            sp.StrictGreaterThan: lambda d: d > 0,
            sp.GreaterThan: lambda d: d >= 0,
            sp.StrictLessThan: lambda d: d < 0,
            sp.LessThan: lambda d: d <= 0,
        }
        test = ops[cond.func]
        return lambda t: test(diff(t))

    def _pow(e: Any, base: Point) -> Point:
        exponent = e.args[1]
        if exponent.is_Integer:
            n = int(exponent)

            def ipow(t: mpmath.mpf) -> mpmath.mpf:
                b = base(t)
                if n < 0 and b == 0:
                    raise SingularError(t, e, "division by zero")
                return b**n

            return ipow
        if exponent == sp.Rational(1, 2):
            power: Callable[[mpmath.mpf], mpmath.mpf] = mpmath.sqrt
        else:
            r = build(exponent)

            def power(b: mpmath.mpf) -> mpmath.mpf:
                return mpmath.power(b, r(b))

        negative = bool(exponent.is_negative)

        def fpow(t: mpmath.mpf) -> mpmath.mpf:
            b = base(t)
            if b < 0:
                raise NotRealError(t, e, "fractional power of a negative number")
            if b == 0:
                if negative:
                    raise SingularError(t, e, "division by zero")
                return mpmath.mpf(0)
            return power(b)

        return fpow

    return build(expr)


# --------------------------------------------------------------------------------------
# Interval enclosures
# --------------------------------------------------------------------------------------


def _widen(lo: mpmath.mpf, hi: mpmath.mpf) -> Interval:
    if mpmath.isnan(lo) or mpmath.isnan(hi):
        return (-mpmath.inf, mpmath.inf)
    eps = mpmath.ldexp(1, 8 - mpmath.mp.prec)
    return (lo - abs(lo) * eps, hi + abs(hi) * eps)


def _products(a: tuple[mpmath.mpf, mpmath.mpf], b: tuple[mpmath.mpf, mpmath.mpf]) -> Interval:
    vals = []
    for x in a:
        for y in b:
            if (mpmath.isinf(x) and y == 0) or (mpmath.isinf(y) and x == 0):
                vals.append(mpmath.mpf(0))
            else:
                vals.append(x * y)
    return _widen(min(vals), max(vals))


def _ipow(iv: tuple[mpmath.mpf, mpmath.mpf], n: int) -> Interval:
    lo, hi = iv
    if n == 0:
        return (mpmath.mpf(1), mpmath.mpf(1))
    if n < 0:
        p = _ipow(iv, -n)
        assert p is not None
        plo, phi = p
        if plo > 0 or phi < 0:
            return _widen(1 / phi, 1 / plo)
        if plo == 0 and phi == 0:
            return None
        if plo >= 0:
            return (1 / phi if phi != 0 else mpmath.mpf(0), mpmath.inf)
        return (-mpmath.inf, mpmath.inf)
    if n % 2 == 0:
        if lo >= 0:
            return _widen(lo**n, hi**n)
        if hi <= 0:
            return _widen(hi**n, lo**n)
        return _widen(mpmath.mpf(0), max(lo**n, hi**n))
    return _widen(lo**n, hi**n)


def _sin_range(lo: mpmath.mpf, hi: mpmath.mpf) -> Interval:
    if mpmath.isinf(lo) or mpmath.isinf(hi) or hi - lo >= 2 * mpmath.pi:
        return (mpmath.mpf(-1), mpmath.mpf(1))
    values = [mpmath.sin(lo), mpmath.sin(hi)]
    two_pi = 2 * mpmath.pi
    top = mpmath.ceil((lo - mpmath.pi / 2) / two_pi) * two_pi + mpmath.pi / 2
    bottom = mpmath.ceil((lo + mpmath.pi / 2) / two_pi) * two_pi - mpmath.pi / 2
    low, high = _widen(min(values), max(values)) or (values[0], values[1])
    if top <= hi:
        high = mpmath.mpf(1)
    if bottom <= hi:
        low = mpmath.mpf(-1)
    return (max(low, mpmath.mpf(-1)), min(high, mpmath.mpf(1)))


def interval_function(expr: Any, z: Any) -> Enclosure:
    """An enclosure of ``expr`` over [a, b] (None where it has no real value there)."""
    sp = _sp()
    cache: dict[Any, Enclosure] = {}

    def build(e: Any) -> Enclosure:
        if e not in cache:
            cache[e] = _build(e)
        return cache[e]

    def _build(e: Any) -> Enclosure:
        if e == z:
            return lambda a, b: (a, b)
        if e.is_Atom:
            c = _constant(e)
            return lambda a, b: _widen(c(a), c(a))
        args = [build(x) for x in e.args]
        head = e.func

        def each(a: mpmath.mpf, b: mpmath.mpf) -> list[tuple[mpmath.mpf, mpmath.mpf]] | None:
            out = []
            for f in args:
                iv = f(a, b)
                if iv is None:
                    return None
                out.append(iv)
            return out

        def monotone(fn: Callable[[mpmath.mpf], mpmath.mpf], increasing: bool) -> Enclosure:
            def enc(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                lo, hi = ivs[0]
                x, y = fn(lo), fn(hi)
                return _widen(x, y) if increasing else _widen(y, x)

            return enc

        if head is sp.Add:

            def add(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                return _widen(mpmath.fsum(i[0] for i in ivs), mpmath.fsum(i[1] for i in ivs))

            return add
        if head is sp.Mul:

            def mul(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                out: Interval = ivs[0]
                for iv in ivs[1:]:
                    assert out is not None
                    out = _products(out, iv)
                return out

            return mul
        if head is sp.Pow:
            exponent = e.args[1]
            if exponent.is_Integer:
                n = int(exponent)

                def ipow(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                    ivs = each(a, b)
                    return None if ivs is None else _ipow(ivs[0], n)

                return ipow
            r = mpmath.mpf(exponent.p) / exponent.q

            def fpow(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                lo, hi = ivs[0]
                if hi < 0:
                    return None
                lo = max(lo, mpmath.mpf(0))
                if r > 0:
                    return _widen(mpmath.power(lo, r), mpmath.power(hi, r))
                top = mpmath.inf if lo == 0 else mpmath.power(lo, r)
                return _widen(mpmath.power(hi, r), top)

            return fpow

        def capped_exp(x: mpmath.mpf) -> mpmath.mpf:
            return mpmath.inf if x > EXP_LIMIT else mpmath.exp(x)

        if head is sp.exp:
            return monotone(capped_exp, True)
        if head is sp.log:

            def log(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                lo, hi = ivs[0]
                if hi <= 0:
                    return None
                return _widen(mpmath.log(lo) if lo > 0 else -mpmath.inf, mpmath.log(hi))

            return log
        if head is sp.tanh:
            return monotone(mpmath.tanh, True)
        if head is sp.erf:
            return monotone(mpmath.erf, True)
        if head is sp.erfc:
            return monotone(mpmath.erfc, False)
        if head is sp.sinh:
            return monotone(
                lambda x: mpmath.sinh(x) if abs(x) <= EXP_LIMIT else mpmath.sign(x) * mpmath.inf,
                True,
            )
        if head is sp.cosh:

            def cosh(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                lo, hi = ivs[0]
                big = max(abs(lo), abs(hi))
                top = mpmath.inf if big > EXP_LIMIT else mpmath.cosh(big)
                small = mpmath.mpf(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
                return _widen(mpmath.cosh(small), top)

            return cosh
        if head in (sp.sin, sp.cos):
            shift = head is sp.cos

            def sin(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                lo, hi = ivs[0]
                if shift:
                    lo, hi = lo + mpmath.pi / 2, hi + mpmath.pi / 2
                return _sin_range(lo, hi)

            return sin
        if head is sp.Abs:

            def absolute(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                lo, hi = ivs[0]
                if lo >= 0:
                    return (lo, hi)
                if hi <= 0:
                    return (-hi, -lo)
                return (mpmath.mpf(0), max(-lo, hi))

            return absolute
        if head in (sp.Max, sp.Min):
            pick = max if head is sp.Max else min

            def extremum(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                return (pick(i[0] for i in ivs), pick(i[1] for i in ivs))

            return extremum
        if head in (sp.sign, sp.Heaviside):
            unit = head is sp.sign

            def step(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = each(a, b)
                if ivs is None:
                    return None
                lo, hi = ivs[0]

                def s(x: mpmath.mpf) -> mpmath.mpf:
                    if unit:
                        return mpmath.sign(x)
                    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else mpmath.mpf(0.5)

                return (s(lo), s(hi))

            return step
        if head is sp.Piecewise:
            values = [build(p.expr) for p in e.args]

            def union(a: mpmath.mpf, b: mpmath.mpf) -> Interval:
                ivs = [iv for iv in (v(a, b) for v in values) if iv is not None]
                if not ivs:
                    return None
                return (min(i[0] for i in ivs), max(i[1] for i in ivs))

            return union
        return lambda a, b: (-mpmath.inf, mpmath.inf)  # pragma: no cover - grammar

    return build(expr)


# --------------------------------------------------------------------------------------
# Real roots
# --------------------------------------------------------------------------------------


@dataclass
class Root:
    """A real root of u, available at any precision: an exact algebraic number (SymPy), a
    bracket [lo, hi] with a sign change refined on demand, or (``cell``) a cell narrower
    than MIN_CELL where the isolation could not decide (both ends are split points)."""

    lo: mpmath.mpf
    hi: mpmath.mpf
    exact: Any = None
    u: Point | None = None
    cell: bool = False
    _cache: dict[int, mpmath.mpf] = field(default_factory=dict)

    def approx(self) -> float:
        return float(self.at(20))

    def at(self, dps: int) -> mpmath.mpf:
        """The root to ``dps`` digits (a cell's midpoint for an undecided cell)."""
        if dps in self._cache:
            return self._cache[dps]
        with mpmath.workdps(dps + 5):
            if self.exact is not None:
                value = mpmath.mpf(_sp().N(self.exact, dps + 10))
            elif self.cell or self.lo == self.hi:
                value = (self.lo + self.hi) / 2
            else:
                assert self.u is not None
                value = _bracketed_root(self.u, self.lo, self.hi)
        self._cache[dps] = value
        return value


def _bracketed_root(u: Point, a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    """A root of u in [a, b] (u(a), u(b) of opposite signs) to the working precision:
    Illinois steps, with a bisection whenever the bracket fails to halve."""
    fa, fb = u(a), u(b)
    if fa == 0:
        return a
    if fb == 0:
        return b
    tol = mpmath.ldexp(1, -mpmath.mp.prec + 2)
    side = 0
    for _ in range(4 * mpmath.mp.prec + 100):
        width = b - a
        if width <= tol * max(abs(a), abs(b), mpmath.ldexp(1, -mpmath.mp.prec)):
            break
        c = (a * fb - b * fa) / (fb - fa)
        if not a < c < b:
            c = (a + b) / 2
        fc = u(c)
        if fc == 0:
            return c
        if (fc > 0) == (fa > 0):
            a, fa = c, fc
            if side == -1:
                fb /= 2
            side = -1
        else:
            b, fb = c, fc
            if side == 1:
                fa /= 2
            side = 1
        if b - a > width / 2:  # the secant step did not halve it: bisect once
            m = (a + b) / 2
            fm = u(m)
            if fm == 0:
                return m
            if (fm > 0) == (fa > 0):
                a, fa = m, fm
            else:
                b, fb = m, fm
    return (a + b) / 2


def _rational_poly(u: Any, z: Any) -> Any:
    """u as a SymPy Poly over QQ, or None."""
    sp = _sp()
    if not u.is_polynomial(z):
        return None
    try:
        poly = sp.Poly(u, z)
    except sp.PolynomialError:  # pragma: no cover
        return None
    if poly.get_domain() not in (sp.ZZ, sp.QQ) or poly.degree() > MAX_POLY_DEGREE:
        return None
    return poly


def real_roots(u: Any, z: Any, lo: float, hi: float, variable: str = "x") -> list[Root]:
    """Real roots (and undecided cells) of u in [lo, hi], sorted."""
    poly = _rational_poly(u, z)
    if poly is not None:
        if poly.degree() <= 0:
            return []
        roots = []
        for r in sorted(set(poly.real_roots()), key=lambda r: float(r)):
            value = mpmath.mpf(_sp().N(r, 30))
            if lo <= value <= hi:
                roots.append(Root(value, value, exact=r))
        return roots
    return _isolate(u, z, lo, hi, variable)


def _isolate(u: Any, z: Any, lo: float, hi: float, variable: str) -> list[Root]:
    sp = _sp()
    point = point_function(u, z)
    enclose = interval_function(u, z)
    enclose_d = interval_function(sp.diff(u, z), z)
    found: list[Root] = []
    with mpmath.workdps(ISOLATION_DPS):
        edges = [mpmath.mpf(x) for x in range(math.floor(lo), math.ceil(hi) + 1)]
        edges = [max(min(x, mpmath.mpf(hi)), mpmath.mpf(lo)) for x in edges]
        cells = [(a, b) for a, b in itertools.pairwise(edges) if a < b][::-1]
        visited = 0
        while cells:
            a, b = cells.pop()
            visited += 1
            if visited > MAX_CELLS:
                raise InputError(
                    f"activation: the roots of {node_text(u, z, variable)} could not be isolated "
                    f"in {MAX_CELLS} cells (accepted: arguments of abs/max/min/log/powers with "
                    "finitely many, separable roots)"
                )
            span = enclose(a, b)
            if span is None or span[0] > 0 or span[1] < 0:
                continue
            slope = enclose_d(a, b)
            if slope is not None and (slope[0] > 0 or slope[1] < 0):
                ua, ub = _safe(point, a), _safe(point, b)
                if ua is None or ub is None:
                    found.append(Root(a, b, cell=True))
                elif ua == 0:
                    found.append(Root(a, a))
                elif ub != 0 and (ua > 0) != (ub > 0):
                    found.append(Root(a, b, u=point))
                continue
            if b - a > MIN_CELL * max(1, abs(a)):
                m = (a + b) / 2
                cells += [(m, b), (a, m)]
                continue
            ua, ub = _safe(point, a), _safe(point, b)
            if ua is not None and ub is not None and ua != 0 and ub != 0 and (ua > 0) != (ub > 0):
                found.append(Root(a, b, u=point))
            else:
                found.append(Root(a, b, cell=True))
    return _merge(found)


def _safe(point: Point, t: mpmath.mpf) -> mpmath.mpf | None:
    try:
        return point(t)
    except EvaluationError:
        return None


def _merge(roots: list[Root]) -> list[Root]:
    """Sorted, with adjacent undecided cells joined."""
    roots.sort(key=lambda r: (r.lo, r.hi))
    out: list[Root] = []
    for r in roots:
        if out and out[-1].cell and r.cell and r.lo <= out[-1].hi:
            out[-1] = replace(out[-1], hi=max(out[-1].hi, r.hi), _cache={})
        elif out and r.lo == out[-1].lo and r.hi == out[-1].hi:
            continue
        else:
            out.append(r)
    return out


# --------------------------------------------------------------------------------------
# Domain and split points of a parsed expression
# --------------------------------------------------------------------------------------


def _nodes(expr: Any) -> Iterable[Any]:
    """Subexpressions in post-order (innermost first), each once."""
    seen: set[Any] = set()
    stack = [(expr, False)]
    while stack:
        e, done = stack.pop()
        if done:
            if e not in seen:
                seen.add(e)
                yield e
            continue
        stack.append((e, True))
        for a in reversed(e.args):
            stack.append((a, False))


def critical_arguments(expr: Any, z: Any) -> list[tuple[Any, str]]:
    """(u, why) for every u whose roots are split points of expr: abs arguments, max/min
    differences, Piecewise conditions, sign/Heaviside arguments, log arguments and bases of
    fractional or negative powers."""
    sp = _sp()
    out: list[tuple[Any, str]] = []
    for e in _nodes(expr):
        if not e.has(z) or e.is_Atom:
            continue
        head = e.func
        if head in (sp.Abs, sp.sign, sp.Heaviside):
            out.append((e.args[0], "kink"))
        elif head in (sp.Max, sp.Min):
            args = list(e.args)
            for i, a in enumerate(args):
                for b in args[i + 1 :]:
                    out.append((a - b, "kink"))
        elif head is sp.Piecewise:
            for p in e.args:
                if isinstance(p.cond, sp.core.relational.Relational):
                    out.append((p.cond.lhs - p.cond.rhs, "kink"))
        elif head is sp.log or (head is sp.Pow and not (e.args[1].is_Integer and e.args[1] > 0)):
            out.append((e.args[0], "singular"))
    unique: dict[Any, str] = {}
    for u, why in out:
        if u.has(z) and (u not in unique or why == "singular"):
            unique[u] = why
    return list(unique.items())


def real_domain_problem(
    expr: Any, z: Any, variable: str = "x"
) -> tuple[Any, float, float, str] | None:
    """The first subexpression (innermost first) that is not real on part of the line:
    (node, a, b, why) with f non-real on (a, b) (a or b may be -inf / inf); None if f is
    real wherever it is finite."""
    sp = _sp()
    for e in _nodes(expr):
        if not e.has(z) or e.is_Atom:
            continue
        if e.func is sp.log:
            u, why = e.args[0], "log of a negative number"
        elif e.func is sp.Pow and not e.args[1].is_Integer:
            u, why = e.args[0], "fractional power of a negative number"
        else:
            continue
        where = negative_region(u, z, variable)
        if where is not None:
            return e, where[0], where[1], why
    return None


def _negative_beyond(u: Any, z: Any, point: Point, side: int) -> bool:
    """u < 0 on the whole tail beyond DOMAIN_RANGE on this side (enclosure or eventual sign
    with samples); False when that is not established (the message then names the part
    inside the range only)."""
    r = mpmath.mpf(DOMAIN_RANGE)
    span = (
        interval_function(u, z)(r, mpmath.inf)
        if side > 0
        else interval_function(u, z)(-mpmath.inf, -r)
    )
    if span is not None and span[1] < 0:
        return True
    eventual = growth(u if side > 0 else u.subs(z, -z), z).sign
    probes = [_safe(point, side * r * 2**j) for j in range(0, 12)]
    return eventual < 0 and all(p is not None and p < 0 for p in probes)


def negative_region(u: Any, z: Any, variable: str = "x") -> tuple[float, float] | None:
    """An interval where u < 0 (None: u >= 0 wherever it is defined)."""
    r = DOMAIN_RANGE
    point = point_function(u, z)
    roots = [x for x in real_roots(u, z, -r, r, variable) if not x.cell]
    singular = []
    for v, why in critical_arguments(u, z):
        if why == "singular":
            singular += [x for x in real_roots(v, z, -r, r, variable) if not x.cell]
    cuts = sorted({x.approx() for x in roots + singular} | {-float(r), float(r)})
    with mpmath.workdps(ISOLATION_DPS):
        negative = []
        for a, b in itertools.pairwise(cuts):
            if b - a < 1e-30:
                continue
            value = _safe(point, (mpmath.mpf(a) + mpmath.mpf(b)) / 2)
            if value is not None and value < 0:
                negative.append((a, b))
        if negative:  # the one nearest 0 is named
            a, b = min(
                negative, key=lambda ab: min(abs(ab[0]), abs(ab[1])) if ab[0] * ab[1] > 0 else 0
            )
            if a == -r and _negative_beyond(u, z, point, -1):
                a = -math.inf
            if b == r and _negative_beyond(u, z, point, 1):
                b = math.inf
            return a, b
        # beyond the range: an enclosure of the tail, else the eventual sign
        enclose = interval_function(u, z)
        for side in (1, -1):
            lo, hi = (mpmath.mpf(r), mpmath.inf) if side > 0 else (-mpmath.inf, mpmath.mpf(-r))
            span = enclose(lo, hi)
            if span is None:
                return (r, math.inf) if side > 0 else (-math.inf, -r)
            if span[0] >= 0:
                continue
            eventual = growth(u if side > 0 else u.subs(z, -z), z).sign
            probes = [_safe(point, side * mpmath.mpf(r) * 2**j) for j in range(1, 12)]
            if eventual > 0 and all(p is None or p >= 0 for p in probes):
                continue
            if eventual < 0 or any(p is not None and p < 0 for p in probes):
                return (r, math.inf) if side > 0 else (-math.inf, -r)
            raise InputError(
                f"activation: cannot establish that {node_text(u, z, variable)} >= 0 for "
                f"|{variable}| > {r} "
                "(accepted: expressions real on the whole line)"
            )
    return None


# --------------------------------------------------------------------------------------
# The shape of an activation: split points and growth, as the quadrature needs them
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Where the quadrature splits and how fast f and f' may grow.

    ``f_bounds`` / ``df_bounds``: upper and lower bounds of log|f| and log|f'| as x -> +inf
    and as x -> -inf (the latter computed on f(-x)).  ``arguments``: the (u, why) whose real roots
    are split points (:func:`critical_arguments`); 0 is always a split point.
    """

    f_bounds: tuple[Growth, Growth]
    df_bounds: tuple[Growth, Growth]
    arguments: tuple[tuple[Any, str], ...] = ()
    z: Any = None
    variable: str = "z"
    _roots: dict[tuple[int, int], list[Root]] = field(default_factory=dict, compare=False)

    def roots(self, reach: float, which: str | None = None) -> list[Root]:
        """Roots of the critical arguments on [-R, R] (R >= reach, a power of 2)."""
        r = 8
        while r < reach:
            r *= 2
        out: list[Root] = []
        for i, (u, why) in enumerate(self.arguments):
            if which is not None and why != which:
                continue
            key = (i, r)
            if key not in self._roots:
                self._roots[key] = real_roots(u, self.z, -r, r, self.variable)
            out += self._roots[key]
        return out

    def split_points(self, lo: mpmath.mpf, hi: mpmath.mpf, dps: int) -> list[mpmath.mpf]:
        """Sorted distinct split points strictly inside (lo, hi), at ``dps`` digits."""
        reach = float(max(abs(lo), abs(hi))) + 1
        points = {mpmath.mpf(0)}
        for root in self.roots(reach):
            if root.cell:
                points |= {root.lo, root.hi}
            else:
                points.add(root.at(dps))
        return sorted(p for p in points if lo < p < hi)


# Every built-in: |f(z)| <= 2 max(1, |z|) and |f'(z)| <= 2 (softplus <= |z| + log 2,
# selu <= lambda |z| with lambda < 2 for z > 0 and lambda alpha < 2 below; tests check it
# against growth() of the SymPy definitions); its only split point is 0.
_LINEAR = Growth(LogBound((), Fraction(1), Fraction(2)), TOWER_DOWN, 0)
_BOUNDED2 = Growth(LogBound(c=Fraction(2)), TOWER_DOWN, 0)
BUILTIN_SHAPE = Shape((_LINEAR, _LINEAR), (_BOUNDED2, _BOUNDED2))


def expression_shape(expr: Any, z: Any, variable: str = "x") -> Shape:
    """The :class:`Shape` of a parsed expression."""
    sp = _sp()
    deriv = sp.diff(expr, z)
    mirrored, mirrored_d = expr.subs(z, -z), deriv.subs(z, -z)
    return Shape(
        (growth(expr, z), growth(mirrored, z)),
        (growth(deriv, z), growth(mirrored_d, z)),
        tuple(critical_arguments(expr, z)),
        z,
        variable,
    )
