"""Gaussian expectations of an activation on quadrature nodes fixed in x, shared by many variances.

The mean-field maps need E[g(x)] for x ~ N(0, q) at many q (a scan for roots, then a root
solve), the Hermite coefficients of f at one q (:meth:`GaussianRule.hermite_coefficients`, the
correlation map by Mehler's formula) and bivariate expectations E[g(u1) g(u2)] (the product
rule, the reference for the correlation map).  Written in x, the
expectation is the integral of g(x) exp(-x^2 / (2 q)) / sqrt(2 pi q): the activation's values
sit at nodes that do not depend on q, so f and f' are evaluated once per node and reused for
every q near the rule's reference variance and for every moment (f, f', f^2, f'^2, x f f',
x^2 f'^2); only
the Gaussian factor is recomputed.  :func:`derive.maths.gains.gaussian_expectation` cannot do
this (its nodes scale with sqrt(q) and it integrates one g per call); here a root solve costs
one set of activation evaluations instead of one per step.

Quadrature: the double-exponential trapezoidal rule of Takahasi & Mori (1974), split at the
activation's split points (kinks, singular points) so that every piece is analytic inside:

    [a, inf):   x = a + s exp((pi/2) sinh t)                     (exp-sinh)
    (-inf, a]:  x = a - s exp((pi/2) sinh t)
    [a, b]:     x = (a + b)/2 + (b - a)/2 tanh((pi/2) sinh t)     (tanh-sinh)

with s = sqrt(q_ref) and steps h = 2^-k, the nodes of level k being those of level k-1 plus the
odd multiples of h.  The error of such a rule falls quadratically from level to level (the
error of level k is about the square of the change from level k-1 to k, relative to the
integral's size; measured for the built-ins: 20 to 1000 times that square), so a level is
accepted when its change d (relative to the integral of |integrand|) satisfies
d <= 10^-2 sqrt(tol) and d <= d_prev^1.5 (the quadratic regime has begun; changes below
10^-(dps - 3) count as rounding), tol = 10^-(digits + 3).
The t-range is cut where the Gaussian factor is below 10^-(dps + 10) for every q the rule
serves (q within a factor SPAN of q_ref) and where the nodes are within 10^-(digits + 8) s of a
breakpoint (an integrand bounded there contributes less than the tolerance beyond).  An
integrand still visible at the outermost nodes (growth too fast for the Gaussian, a divergent
expectation) raises :class:`~derive.core.errors.InputError` instead of returning a
number, as does an activation that is not real and finite at a node.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from dataclasses import dataclass, field

import mpmath
from mpmath.libmp import from_man_exp, round_nearest

from ..core.errors import InputError
from .activations import Activation

SPAN = 64  # a rule built for q_ref serves q in [q_ref / SPAN, q_ref * SPAN]
MIN_LEVEL = 3  # never accept before h = 1/8 (coarse levels can agree by accident)
MAX_LEVEL = 11
MAX_TERMS = 20000  # of the series behind the bivariate product rule
MAX_HERMITE = 4096  # Hermite coefficients of one activation at one q
HERMITE_WORK = 12_000_000  # (nodes) x (coefficients) that one set of coefficients may cost
# rules asked for at most FLOAT64_DIGITS digits at at most FLOAT64_DPS working digits (the
# cheap stage of root solves and scans) sum in float64 where the activation has a float64
# twin (Float64Rule)
FLOAT64_DIGITS = 12
FLOAT64_DPS = 16
# the moments E[g(x)] one pass over the nodes returns, x ~ N(0, q)
MOMENTS: tuple[str, ...] = ("f", "df", "f2", "df2", "xffp", "x2df2")
DISPLAY: dict[str, str] = {
    "f": "f",
    "df": "f'",
    "f2": "f^2",
    "df2": "f'^2",
    "xffp": "x f f'",
    "x2df2": "x^2 f'^2",
}
_SIGNED = (0, 1, 4)  # indices of the moments whose integrand can be negative (f, f', x f f')
Moments = dict[str, mpmath.mpf]


@dataclass(frozen=True)
class _Level:
    """The nodes one level adds and the activation's values there (computed once); the
    moments' integrands g at the nodes are formed on first use, at the rule's precision."""

    x: list[mpmath.mpf]
    x2: list[mpmath.mpf]
    jac: list[mpmath.mpf]  # dx/dt > 0
    f: list[mpmath.mpf]
    df: list[mpmath.mpf]
    edge: list[int]  # indices of the outermost nodes of the pieces (level 0 only)
    x2_64: list[float] = field(default_factory=list)  # x^2 in float64 (mpmath rules)
    values: dict[int, list[mpmath.mpf]] = field(default_factory=dict)  # by index in MOMENTS
    magnitudes: dict[int, list[mpmath.mpf]] = field(default_factory=dict)  # |g|

    def value(self, m: int) -> list[mpmath.mpf]:
        """g at the nodes for moment MOMENTS[m] (call at the rule's precision)."""
        got = self.values.get(m)
        if got is None:
            if m == 0:
                got = self.f
            elif m == 1:
                got = self.df
            elif m == 2:
                got = [v * v for v in self.f]
            elif m == 3:
                got = [v * v for v in self.df]
            elif m == 4:
                got = [x * v * d for x, v, d in zip(self.x, self.f, self.df, strict=True)]
            else:
                got = [x2 * d * d for x2, d in zip(self.x2, self.df, strict=True)]
            self.values[m] = got
        return got

    def magnitude(self, m: int) -> list[mpmath.mpf]:
        """|g| at the nodes for moment MOMENTS[m]."""
        got = self.magnitudes.get(m)
        if got is None:
            got = self.magnitudes[m] = [abs(v) for v in self.value(m)]
        return got


def _finite_real(act: Activation, x: mpmath.mpf, v: object, what: str) -> mpmath.mpf:
    if not isinstance(v, mpmath.mpf) or not mpmath.isfinite(v):
        raise InputError(
            f"activation {act.label}: {what}({mpmath.nstr(x, 8)}) = {v} is not a finite real "
            "number (accepted: activations real and finite on the whole line)"
        )
    return v


def _dots(
    w: list[mpmath.mpf], columns: list[list[mpmath.mpf]], signed: list[bool]
) -> list[tuple[mpmath.mpf, mpmath.mpf | None]]:
    """For each column g: sum_i w_i g_i and, where ``signed``, sum_i w_i |g_i| (w >= 0), each
    rounded once to the working precision from the exact sum of the exact products, as
    mpmath.fdot rounds (it is its arithmetic on the raw mantissas, the weights unpacked once
    for every column).  Terms below 2^-(2 prec + 64) of the largest are left out (mpmath.fdot
    leaves out terms 2 prec bits below its running sum's lowest bit): they cannot move the
    rounding unless the sum lies within n 2^-(prec + 64) of a rounding boundary, or cancels
    to below 2^-(prec + 64) of its largest term (E[f] of an odd f), where both results are
    zero to the working precision (this gives 0, mpmath.fdot what its kept terms leave)."""
    prec = mpmath.mp.prec
    raw_w = [x._mpf_ for x in w]
    out: list[tuple[mpmath.mpf, mpmath.mpf | None]] = []
    for g, want_size in zip(columns, signed, strict=True):
        terms = []
        for (sw, mw, ew, bw), y in zip(raw_w, g, strict=True):
            sg, mg, eg, bg = y._mpf_
            if mw and mg:
                terms.append((sw ^ sg, mw * mg, ew + eg, ew + eg + bw + bg))
        if not terms:
            out.append((mpmath.mpf(0), mpmath.mpf(0) if want_size else None))
            continue
        floor = max(t[3] for t in terms) - (2 * prec + 64)
        kept = [t for t in terms if t[3] >= floor]
        low = min(t[2] for t in kept)
        total = sum(-(m << (e - low)) if sign else m << (e - low) for sign, m, e, _ in kept)
        value = mpmath.mpf(from_man_exp(total, low, prec, round_nearest))
        size = None
        if want_size:
            size = mpmath.mpf(
                from_man_exp(sum(m << (e - low) for _, m, e, _ in kept), low, prec, round_nearest)
            )
        out.append((value, size))
    return out


class GaussianRule:
    """Nodes, and f and f' cached at them, for E[g(x)], x ~ N(0, q), q near ``q_ref``.

    ``digits``: the accuracy asked of every expectation; arithmetic runs at ``dps``.
    """

    def __init__(
        self, act: Activation, q_ref: mpmath.mpf, digits: int, dps: int, span: int = SPAN
    ) -> None:
        self.act = act
        self.digits = digits
        self.dps = dps
        self.span = span
        with mpmath.workdps(dps):
            self.q_ref = +q_ref
            self.s = mpmath.sqrt(self.q_ref)
            self.tol = mpmath.mpf(10) ** (-(digits + 3))
            self.accept = mpmath.sqrt(self.tol) / 100
            self.floor = mpmath.mpf(10) ** (-(dps - 3))  # changes below it are rounding
            # beyond `reach` the Gaussian weight of every q this rule serves is below 10^-dps
            reach = 4 * self.s * mpmath.sqrt(2 * (dps + 10) * mpmath.log(10)) + 1
            points = act.shape.split_points(-reach, reach, dps)
            ends = [-mpmath.inf, *points, mpmath.inf]
            self.pieces = list(itertools.pairwise(ends))
            self.ranges = [self._t_range(a, b) for a, b in self.pieces]
        self.levels: list[_Level] = []
        self._hermite: tuple[mpmath.mpf, list[_HermiteLevel]] | None = None

    # -- nodes ----------------------------------------------------------------------------

    def _t_range(self, a: mpmath.mpf, b: mpmath.mpf) -> tuple[int, int]:
        """Integer t-limits of a piece (they are level-0 nodes)."""
        ln10 = mpmath.log(10)
        near = (self.digits + 8) * ln10  # -ln of the relative distance left to a breakpoint
        if mpmath.isinf(a) or mpmath.isinf(b):
            # toward the breakpoint: exp(-(pi/2) sinh T) <= 10^-(digits + 8)
            t_near = int(mpmath.ceil(mpmath.asinh(2 * near / mpmath.pi)))
            # outward: exp(-x^2 / (2 q_max)) <= 10^-(dps + 10) at x_far / 2, leaving room
            # for an integrand's polynomial growth
            finite = b if mpmath.isinf(a) else a
            q_max = self.q_ref * self.span
            x_far = abs(finite) + 2 * mpmath.sqrt(2 * q_max * (self.dps + 10) * ln10)
            ratio = max(x_far / self.s, mpmath.mpf(2))
            t_far = int(mpmath.ceil(mpmath.asinh(2 * mpmath.log(ratio) / mpmath.pi)))
            return -t_near, t_far
        # tanh-sinh: 1 - tanh(u) ~ 2 exp(-2u) <= 10^-(digits + 8)
        t = int(mpmath.ceil(mpmath.asinh((near + mpmath.log(2)) / mpmath.pi)))
        return -t, t

    def _map(
        self, a: mpmath.mpf, b: mpmath.mpf, shape: tuple[mpmath.mpf, mpmath.mpf]
    ) -> tuple[mpmath.mpf, mpmath.mpf]:
        """x and dx/dt on the piece [a, b] from the standard node's (y, dy/dt)."""
        y, dy = shape
        if mpmath.isinf(b):  # [a, inf): y = exp((pi/2) sinh t)
            return a + self.s * y, self.s * dy
        if mpmath.isinf(a):  # (-inf, b]
            return b - self.s * y, self.s * dy
        mid, half = (a + b) / 2, (b - a) / 2  # y = tanh((pi/2) sinh t)
        return mid + half * y, half * dy

    def _evaluate(self, x: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
        try:
            fx, dfx = self.act.values(x)
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise InputError(
                f"activation {self.act.label}: cannot be evaluated at x = {mpmath.nstr(x, 8)} "
                f"({exc}) (accepted: activations real and finite on the whole line)"
            ) from None
        return _finite_real(self.act, x, fx, "f"), _finite_real(self.act, x, dfx, "f'")

    def _add_level(self) -> None:
        k = len(self.levels)
        xs: list[mpmath.mpf] = []
        jacs: list[mpmath.mpf] = []
        fs: list[mpmath.mpf] = []
        dfs: list[mpmath.mpf] = []
        edge: list[int] = []
        with mpmath.workdps(self.dps):
            for (a, b), (lo, hi) in zip(self.pieces, self.ranges, strict=True):
                half_line = bool(mpmath.isinf(a) or mpmath.isinf(b))
                shapes = _standard_nodes(half_line, lo, hi, k, self.dps)
                for i, shape in enumerate(shapes):
                    x, jac = self._map(a, b, shape)
                    if not (a < x < b) or jac == 0:
                        continue  # closer to a breakpoint than the working precision resolves
                    fx, dfx = self._evaluate(x)
                    if k == 0 and i in (0, len(shapes) - 1):
                        edge.append(len(xs))
                    xs.append(x)
                    jacs.append(jac)
                    fs.append(fx)
                    dfs.append(dfx)
            x2 = [x * x for x in xs]
        self.levels.append(_Level(xs, x2, jacs, fs, dfs, edge, [float(v) for v in x2]))

    def _upto(self, level: int) -> list[_Level]:
        if level > MAX_LEVEL:
            raise InputError(
                f"activation {self.act.label}: Gaussian expectations did not converge to "
                f"{self.digits} digits with step 2^-{MAX_LEVEL} (accepted: activations smooth "
                "between split points with Gaussian-integrable growth)"
            )
        while len(self.levels) <= level:
            self._add_level()
        return self.levels[: level + 1]

    def _accepted(
        self,
        level: int,
        change: list[mpmath.mpf],
        previous_change: list[mpmath.mpf] | None,
    ) -> bool:
        """The level-acceptance rule of the module docstring (changes are relative)."""
        if level < MIN_LEVEL or previous_change is None:
            return False
        return all(
            d <= self.accept and (d <= self.floor or d <= p**1.5)
            for d, p in zip(change, previous_change, strict=True)
        )

    # -- one-dimensional expectations -----------------------------------------------------

    def moments(self, q: mpmath.mpf, which: tuple[str, ...] = MOMENTS) -> Moments:
        """The expectations named in ``which`` (of E[f], E[f'], E[f^2], E[f'^2], E[x f f'],
        E[x^2 f'^2]: keys of MOMENTS) for x ~ N(0, q)."""
        with mpmath.workdps(self.dps):
            q = +q
            if not self.q_ref / self.span <= q <= self.q_ref * self.span:
                raise ValueError(f"q = {q} is outside the span of the rule for {self.q_ref}")
            inv2q = 1 / (2 * q)
            index = [MOMENTS.index(name) for name in which]
            n = len(index)
            sums = [mpmath.mpf(0)] * n
            sizes = [mpmath.mpf(0)] * n
            previous: list[mpmath.mpf] | None = None
            previous_change: list[mpmath.mpf] | None = None
            level = 0
            while True:
                lv = self._upto(level)[level]
                w = self._weights(lv, inv2q)
                dots = _dots(w, [lv.value(m) for m in index], [m in _SIGNED for m in index])
                for i, (value, size) in enumerate(dots):
                    sums[i] += value
                    if size is not None:
                        sizes[i] += size
                    else:  # a square: |g| = g
                        sizes[i] = sums[i]
                if level == 0:
                    self._check_tails(q, lv, w, sizes, index)
                h = mpmath.mpf(2) ** (-level)
                current = [h * v for v in sums]
                if previous is not None:
                    change = [
                        abs(c - p) / (h * z) if z else mpmath.mpf(0)
                        for c, p, z in zip(current, previous, sizes, strict=True)
                    ]
                    if self._accepted(level, change, previous_change):
                        norm = mpmath.sqrt(2 * mpmath.pi * q)
                        return {name: current[i] / norm for i, name in enumerate(which)}
                    previous_change = change
                previous = current
                level += 1

    def _weights(self, lv: _Level, inv2q: mpmath.mpf) -> list[mpmath.mpf]:
        """dx/dt exp(-x^2 / (2 q)) at the level's nodes (call at the rule's precision).  Where
        x^2 / (2 q) < 2^-(prec + 8), nearest a breakpoint at 0, exp rounds to exactly 1 at
        the working precision: the factor is dx/dt itself, without the exp."""
        tiny = 2.0 ** -(mpmath.mp.prec + 8)
        inv = float(inv2q)
        return [
            j if x2f * inv < tiny else j * mpmath.exp(-x2 * inv2q)
            for j, x2, x2f in zip(lv.jac, lv.x2, lv.x2_64, strict=True)
        ]

    def _check_tails(
        self,
        q: mpmath.mpf,
        lv: _Level,
        w: list[mpmath.mpf],
        sizes: list[mpmath.mpf],
        index: list[int],
    ) -> None:
        """Every integrand must be invisible at the outermost nodes (else it diverges)."""
        for i, m in enumerate(index):
            name = MOMENTS[m]
            edge = max((w[e] * lv.magnitude(m)[e] for e in lv.edge), default=mpmath.mpf(0))
            if sizes[i] > 0 and edge > self.tol * sizes[i]:
                raise InputError(
                    f"activation {self.act.label}: E[{DISPLAY[name]}] for x ~ N(0, "
                    f"{mpmath.nstr(q, 6)}) diverges or converges too slowly: the integrand "
                    "has not decayed at the outermost quadrature nodes (accepted: activations "
                    "with Gaussian-integrable growth)"
                )

    # -- Hermite coefficients (the correlation map by Mehler's formula) --------------------

    def hermite_coefficients(self, q: mpmath.mpf, count: int) -> list[mpmath.mpf]:
        """a_n = E[f(x) He_n(x / sqrt q)] / sqrt(n!) for n < count, x ~ N(0, q).

        He_n are the probabilists' Hermite polynomials, orthogonal under N(0, 1) with
        E[He_n^2] = n!, so f(sqrt(q) z) = sum_n a_n He_n(z) / sqrt(n!) in L2 and, by Mehler's
        formula, E[f(u1) f(u2)] = sum_n a_n^2 c^n for (u1, u2) of variances q and correlation
        c; Parseval gives sum_n a_n^2 = E[f^2] and sum_n n a_n^2 = q E[f'^2].

        On this rule's nodes, in fixed point (integers scaled by 2^P, P = bits of dps + 10
        digits): with z = x / sqrt(q), psi_n(z) = He_n(z) exp(-z^2 / 4) / sqrt(n!) by the
        recurrence psi_n = z psi_(n-1) / sqrt(n) - sqrt((n - 1) / n) psi_(n-2) (|psi_n| <= 1,
        the Hermite functions up to pi^(1/4)), and a_n = sum over nodes of
        W f(x) exp(-z^2 / 4) psi_n(z) / sqrt(2 pi q) (W = dx/dt times the step).  Levels are
        accepted by the rule of the module docstring on max_n |change of a_n| / sqrt(E[f^2]).
        """
        with mpmath.workdps(self.dps):
            q = +q
            if not self.q_ref / self.span <= q <= self.q_ref * self.span:
                raise ValueError(f"q = {q} is outside the span of the rule for {self.q_ref}")
            if count > MAX_HERMITE:
                raise InputError(
                    f"activation {self.act.label}: its Hermite series at q = {mpmath.nstr(q, 6)} "
                    f"needs more than {MAX_HERMITE} terms (accepted: activations smooth enough "
                    "for this correlation)"
                )
            scale = mpmath.sqrt(self.moments(q, ("f2",))["f2"])
            if not scale > 0:
                return [mpmath.mpf(0)] * count
            bits = math.ceil((self.dps + 10) * math.log2(10))
            if self._hermite is None or self._hermite[0] != q:
                self._hermite = (q, [])
            state = self._hermite[1]
            steps = _hermite_steps(bits, count)
            norm = mpmath.sqrt(2 * mpmath.pi * q)
            previous: list[mpmath.mpf] | None = None
            previous_change: list[mpmath.mpf] | None = None
            level = MIN_LEVEL - 2
            while True:
                levels = self._upto(level)
                while len(state) <= level:
                    state.append(self._hermite_level(levels[len(state)], q, bits))
                used = state[: level + 1]
                work = sum(len(lv.z) for lv in used) * count
                if work > HERMITE_WORK:
                    raise InputError(
                        f"activation {self.act.label}: {count} Hermite coefficients at q = "
                        f"{mpmath.nstr(q, 6)} need {work} node terms, over the budget of "
                        f"{HERMITE_WORK} (accepted: activations smooth enough for this "
                        "correlation at these digits)"
                    )
                for lv in used:
                    lv.extend(count, bits, steps)
                totals = [sum(lv.sums[k] for lv in used) for k in range(count)]
                current = [mpmath.ldexp(mpmath.mpf(t), -2 * bits - level) / norm for t in totals]
                if previous is not None:
                    change = [
                        max(abs(a - b) for a, b in zip(current, previous, strict=True)) / scale
                    ]
                    if self._accepted(level, change, previous_change):
                        return current
                    previous_change = change
                previous = current
                level += 1

    def _hermite_level(self, lv: _Level, q: mpmath.mpf, bits: int) -> _HermiteLevel:
        """The fixed-point start of the recurrence at one level's nodes (nodes whose weight
        is below 2^-P are left out)."""
        zs: list[int] = []
        gs: list[int] = []
        psi0: list[int] = []
        inv4q = 1 / (4 * q)
        root = mpmath.sqrt(q)
        for x, x2, jac, fx in zip(lv.x, lv.x2, lv.jac, lv.f, strict=True):
            e = mpmath.exp(-x2 * inv4q)
            g = int(mpmath.ldexp(jac * fx * e, bits))
            if g:
                zs.append(int(mpmath.ldexp(x / root, bits)))
                gs.append(g)
                psi0.append(int(mpmath.ldexp(e, bits)))
        return _HermiteLevel(zs, gs, psi0)

    # -- two-dimensional expectations (correlation map) ------------------------------------

    def bivariate(self, q: mpmath.mpf, c: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
        """E[f(u1) f(u2)] and E[f'(u1) f'(u2)] for (u1, u2) centred normal with variances q
        and correlation c, |c| < 1: the product rule on the same nodes in both variables,
        level by level under the same acceptance rule (finer levels resolve the ridge of
        width sqrt(q (1 - c^2)) along the diagonal)."""
        with mpmath.workdps(self.dps):
            q, c = +q, +c
            one_c2 = 1 - c * c
            inv = 1 / (2 * q * one_c2)
            norm = 2 * mpmath.pi * q * mpmath.sqrt(one_c2)
            previous: list[mpmath.mpf] | None = None
            previous_change: list[mpmath.mpf] | None = None
            level = MIN_LEVEL - 2  # acceptance needs two changes before MIN_LEVEL
            while True:
                levels = self._upto(level)
                h2 = mpmath.mpf(4) ** (-level)
                ff, dd, size_f, size_d = self._product_sums(levels, q, c, inv)
                current = [h2 * ff / norm, h2 * dd / norm]
                sizes = [h2 * size_f / norm, h2 * size_d / norm]
                if previous is not None:
                    change = [
                        abs(a - b) / z if z else mpmath.mpf(0)
                        for a, b, z in zip(current, previous, sizes, strict=True)
                    ]
                    if self._accepted(level, change, previous_change):
                        return current[0], current[1]
                    previous_change = change
                previous = current
                level += 1

    def _product_sums(
        self, levels: list[_Level], q: mpmath.mpf, c: mpmath.mpf, inv: mpmath.mpf
    ) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf, mpmath.mpf]:
        """S_g = sum over node pairs of A_i A_j exp(kappa x_i x_j), A_i = W_i g(x_i)
        exp(-x_i^2 inv), kappa = 2 c inv, for g = f and f' (W = dx/dt), and bounds of the
        sums of |terms| (the tolerance's scale).

        The double sum is separable through exp(kappa x y) = sum_k kappa^k x^k y^k / k!:
        S_g = sum_k kappa^k / k! M_k^2 with the moments M_k = sum_i A_i x_i^k, so it costs
        (nodes x terms) products instead of nodes^2 exponentials.  Term k is of the order
        |c|^k (it is Mehler's expansion of the bivariate normal, up to the quadrature), so
        the series stops when two successive terms of the bound series (|A|, |x|, |kappa|:
        at most a few times the sum of |terms|) fall below 10^-(digits + 5) (1 - |c|) of it.
        Nodes whose own Gaussian factor is below 10^-(dps + 5) are left out."""
        cut = (self.dps + 5) * mpmath.log(10) * 2 * q
        xs: list[mpmath.mpf] = []
        af: list[mpmath.mpf] = []
        ad: list[mpmath.mpf] = []
        for lv in levels:
            for x, x2, j, fx, dfx in zip(lv.x, lv.x2, lv.jac, lv.f, lv.df, strict=True):
                if x2 <= cut:
                    a = j * mpmath.exp(-x2 * inv)
                    xs.append(x)
                    af.append(a * fx)
                    ad.append(a * dfx)
        ax = [abs(x) for x in xs]
        pf, pd = list(af), list(ad)
        qf, qd = [abs(v) for v in af], [abs(v) for v in ad]
        kappa = 2 * c * inv
        eps = mpmath.mpf(10) ** (-(self.digits + 5)) * (1 - abs(c))
        coef = bound = mpmath.mpf(1)
        ff = dd = size_f = size_d = mpmath.mpf(0)
        last = (mpmath.inf, mpmath.inf)
        for k in range(MAX_TERMS):
            mf, md = mpmath.fsum(pf), mpmath.fsum(pd)
            nf, nd = mpmath.fsum(qf), mpmath.fsum(qd)
            ff += coef * mf * mf
            dd += coef * md * md
            term_f, term_d = bound * nf * nf, bound * nd * nd
            size_f += term_f
            size_d += term_d
            if (
                k >= 2
                and max(term_f, last[0]) <= eps * size_f
                and max(term_d, last[1]) <= eps * size_d
            ):
                return ff, dd, size_f, size_d
            last = (term_f, term_d)
            pf = [p * x for p, x in zip(pf, xs, strict=True)]
            pd = [p * x for p, x in zip(pd, xs, strict=True)]
            qf = [p * x for p, x in zip(qf, ax, strict=True)]
            qd = [p * x for p, x in zip(qd, ax, strict=True)]
            coef *= kappa / (k + 1)
            bound *= abs(kappa) / (k + 1)
        raise InputError(
            f"activation {self.act.label}: the correlation map at c = {mpmath.nstr(c, 8)} "
            f"needs more than {MAX_TERMS} terms (accepted: correlations not this close to 1)"
        )


class _HermiteLevel:
    """The Hermite recurrence at one level's nodes, in integers scaled by 2^P: z = x / sqrt q,
    the weights g = W f exp(-z^2 / 4), the last two psi_n, and the sums S_n = sum g psi_n."""

    __slots__ = ("current", "g", "previous", "sums", "z")

    def __init__(self, z: list[int], g: list[int], psi0: list[int]) -> None:
        self.z, self.g = z, g
        self.previous: list[int] = [0] * len(z)
        self.current = psi0
        self.sums: list[int] = [sum(map(operator.mul, g, psi0))]

    def extend(self, count: int, bits: int, steps: list[tuple[int, int]]) -> None:
        """S_n for every n < count; steps[n] = (2^P / sqrt(n), 2^P sqrt((n - 1) / n))."""
        z, g, prev, cur = self.z, self.g, self.previous, self.current
        two = 2 * bits
        for n in range(len(self.sums), count):
            r, s = steps[n]
            nxt = [
                (zi * ci * r >> two) - (pi * s >> bits)
                for zi, ci, pi in zip(z, cur, prev, strict=True)
            ]
            prev, cur = cur, nxt
            self.sums.append(sum(map(operator.mul, g, nxt)))
        self.previous, self.current = prev, cur


_STEPS: dict[int, list[tuple[int, int]]] = {}


def _hermite_steps(bits: int, count: int) -> list[tuple[int, int]]:
    """(floor(2^P / sqrt n), floor(2^P sqrt((n - 1) / n))) for n < count (exact integers)."""
    steps = _STEPS.setdefault(bits, [(0, 0)])
    one = 1 << (2 * bits)
    for n in range(len(steps), count):
        steps.append((math.isqrt(one // n), math.isqrt(((n - 1) * one) // n)))
    return steps


@functools.cache
def _standard_nodes(
    half_line: bool, lo: int, hi: int, level: int, dps: int
) -> tuple[tuple[mpmath.mpf, mpmath.mpf], ...]:
    """(y, dy/dt) at the nodes level ``level`` adds on t in [lo, hi]: y = exp((pi/2) sinh t)
    (half-lines) or tanh((pi/2) sinh t) (finite pieces).  They depend on no activation and
    no scale, so every rule at ``dps`` shares them."""
    with mpmath.workdps(dps):
        if level == 0:
            ts = [mpmath.mpf(j) for j in range(lo, hi + 1)]
        else:
            step = mpmath.mpf(2) ** (-level)
            ts = [lo + (2 * m + 1) * step for m in range((hi - lo) * 2 ** (level - 1))]
        out = []
        for t in ts:
            u = mpmath.pi / 2 * mpmath.sinh(t)
            du = mpmath.pi / 2 * mpmath.cosh(t)
            if half_line:
                e = mpmath.exp(u)
                out.append((e, e * du))
            else:
                out.append((mpmath.tanh(u), du / mpmath.cosh(u) ** 2))
        return tuple(out)


class Float64Rule(GaussianRule):
    """A :class:`GaussianRule` whose one-dimensional expectations run in float64: the same
    pieces, t-ranges, nodes and acceptance rule, the activation evaluated by its float64 twin
    (``Activation.pair64``) and the sums taken by ``math.fsum``.  Used for the cheap stage of
    the root solves and scans (at most FLOAT64_DIGITS digits at FLOAT64_DPS working digits),
    where float64's 53 bits (15.9 digits) keep every sum well inside the rounding floor
    10^-(dps - 3) of the acceptance rule; the results are returned as mpf.  The bivariate
    sums run in mpmath on the float64 nodes (inherited)."""

    def __init__(
        self, act: Activation, q_ref: mpmath.mpf, digits: int, dps: int, span: int = SPAN
    ) -> None:
        super().__init__(act, q_ref, digits, dps, span)
        self.pair64 = act.pair64
        self.s64 = float(self.s)
        self.tol64 = float(self.tol)
        self.accept64 = float(self.accept)
        self.floor64 = float(self.floor)

    def _evaluate64(self, x: float) -> tuple[float, float]:
        assert self.pair64 is not None
        try:
            fx, dfx = self.pair64(x)
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise InputError(
                f"activation {self.act.label}: cannot be evaluated at x = {x:.8g} ({exc}) "
                "(accepted: activations real and finite on the whole line)"
            ) from None
        for what, v in (("f", fx), ("f'", dfx)):
            if not math.isfinite(v):
                raise InputError(
                    f"activation {self.act.label}: {what}({x:.8g}) = {v} is not a finite real "
                    "number (accepted: activations real and finite on the whole line)"
                )
        return fx, dfx

    def _add_level(self) -> None:
        k = len(self.levels)
        xs: list[float] = []
        jacs: list[float] = []
        fs: list[float] = []
        dfs: list[float] = []
        edge: list[int] = []
        s = self.s64
        for (a_mp, b_mp), (lo, hi) in zip(self.pieces, self.ranges, strict=True):
            a, b = float(a_mp), float(b_mp)
            half_line = math.isinf(a) or math.isinf(b)
            shapes = _standard_nodes64(half_line, lo, hi, k, self.dps)
            for i, (y, dy) in enumerate(shapes):
                if math.isinf(b):  # [a, inf)
                    x, jac = a + s * y, s * dy
                elif math.isinf(a):  # (-inf, b]
                    x, jac = b - s * y, s * dy
                else:
                    x, jac = (a + b) / 2 + (b - a) / 2 * y, (b - a) / 2 * dy
                if not (a < x < b) or jac == 0.0:
                    continue  # closer to a breakpoint than float64 resolves
                fx, dfx = self._evaluate64(x)
                if k == 0 and i in (0, len(shapes) - 1):
                    edge.append(len(xs))
                xs.append(x)
                jacs.append(jac)
                fs.append(fx)
                dfs.append(dfx)
        x2 = [x * x for x in xs]
        self.levels.append(_Level(xs, x2, jacs, fs, dfs, edge))

    def moments(self, q: mpmath.mpf, which: tuple[str, ...] = MOMENTS) -> Moments:
        with mpmath.workdps(self.dps):
            q = +q
            if not self.q_ref / self.span <= q <= self.q_ref * self.span:
                raise ValueError(f"q = {q} is outside the span of the rule for {self.q_ref}")
        qf = float(q)
        inv2q = 1.0 / (2.0 * qf)
        index = [MOMENTS.index(name) for name in which]
        n = len(index)
        sums = [0.0] * n
        sizes = [0.0] * n
        previous: list[float] | None = None
        previous_change: list[float] | None = None
        level = 0
        while True:
            lv = self._upto(level)[level]
            w = [j * math.exp(-x2 * inv2q) for j, x2 in zip(lv.jac, lv.x2, strict=True)]
            for i, m in enumerate(index):
                sums[i] += math.fsum(map(operator.mul, w, lv.value(m)))
                if m in _SIGNED:
                    sizes[i] += math.fsum(map(operator.mul, w, lv.magnitude(m)))
                else:  # a square: |g| = g
                    sizes[i] = sums[i]
            if level == 0:
                self._check_tails64(qf, lv, w, sizes, index)
            h = 2.0**-level
            current = [h * v for v in sums]
            if previous is not None:
                change = [
                    abs(c - p) / (h * z) if z else 0.0
                    for c, p, z in zip(current, previous, sizes, strict=True)
                ]
                if self._accepted64(level, change, previous_change):
                    norm = math.sqrt(2.0 * math.pi * qf)
                    with mpmath.workdps(self.dps):
                        return {name: mpmath.mpf(current[i] / norm) for i, name in enumerate(which)}
                previous_change = change
            previous = current
            level += 1

    def _accepted64(
        self, level: int, change: list[float], previous_change: list[float] | None
    ) -> bool:
        if level < MIN_LEVEL or previous_change is None:
            return False
        return all(
            d <= self.accept64 and (d <= self.floor64 or d <= p**1.5)
            for d, p in zip(change, previous_change, strict=True)
        )

    def _check_tails64(
        self, q: float, lv: _Level, w: list[float], sizes: list[float], index: list[int]
    ) -> None:
        for i, m in enumerate(index):
            name = MOMENTS[m]
            edge = max((w[e] * lv.magnitude(m)[e] for e in lv.edge), default=0.0)
            if sizes[i] > 0 and edge > self.tol64 * sizes[i]:
                raise InputError(
                    f"activation {self.act.label}: E[{DISPLAY[name]}] for x ~ N(0, "
                    f"{q:.6g}) diverges or converges too slowly: the integrand "
                    "has not decayed at the outermost quadrature nodes (accepted: activations "
                    "with Gaussian-integrable growth)"
                )


@functools.cache
def _standard_nodes64(
    half_line: bool, lo: int, hi: int, level: int, dps: int
) -> tuple[tuple[float, float], ...]:
    """:func:`_standard_nodes` rounded to float64."""
    return tuple((float(y), float(dy)) for y, dy in _standard_nodes(half_line, lo, hi, level, dps))


def _bucket(q: mpmath.mpf, base: int) -> int:
    """k of the reference variance base^k nearest to q on a log scale."""
    return math.floor(float(mpmath.log(q, base)) + 0.5)


_CACHE: dict[tuple[str, str, int, int, int, int], GaussianRule] = {}
_CACHE_LIMIT = 256


def rule_for(
    act: Activation, q: mpmath.mpf, digits: int, dps: int, span: int = SPAN
) -> GaussianRule:
    """The rule for q_ref = span^k nearest to q (q / q_ref within a factor sqrt(span)), so
    that nearby q share one set of activation values.  Rules are pure functions of
    (activation, k, span, digits, dps), so caching them is exact; keyed by the activation's
    name and label (a user expression's label is its canonical SymPy text, a built-in's
    carries its parameter)."""
    bucket = _bucket(q, span)
    key = (act.name, act.label, bucket, span, digits, dps)
    rule = _CACHE.get(key)
    if rule is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.pop(next(iter(_CACHE)))
        with mpmath.workdps(dps):
            q_ref = mpmath.mpf(span) ** bucket
        fast = act.pair64 is not None and digits <= FLOAT64_DIGITS and dps <= FLOAT64_DPS
        rule = (Float64Rule if fast else GaussianRule)(act, q_ref, digits, dps, span)
        _CACHE[key] = rule
    return rule


def expectations(
    act: Activation,
    q: mpmath.mpf,
    digits: int,
    dps: int,
    which: tuple[str, ...] = MOMENTS,
    span: int = SPAN,
) -> Moments:
    """:meth:`GaussianRule.moments` at q, on the cached rule whose span covers q."""
    return rule_for(act, q, digits, dps, span).moments(q, which)
