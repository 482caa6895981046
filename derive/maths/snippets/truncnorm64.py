"""Mean and std of the standard normal truncated to [lower, upper], in float64, stdlib only.

Used at run time by the generated initializers for cutoffs that are not in the table.

Contract (tests/test_snippets.py checks it on a grid, tests/test_properties.py on random
intervals, both against derive.maths.truncnorm): for any lower < upper (either may be
infinite) whose std after truncation is a normal float64 (at least 2^-1022, i.e. a width
above ~7.7e-308 and a tail closer than ~1e307),

    |mean - exact mean| <= 4 ulp(max(|exact mean|, exact std))      (an absolute bound)
    |std  - exact std|  <= 4 ulp(exact std)                          (ulps of the value)

The mean's bound is absolute, on the scale of the spread: a mean of 0 has no ulp of its
own, and an error small against the std is what a sampler can see.  Outside the contract
(a subnormal or zero std) truncnorm_mean_std raises ValueError.

Method: the moments are integrals of the density over the interval, taken by composite
Gauss-Legendre quadrature about the point s of the interval nearest zero, in t = |x| - s,
where the density is proportional to exp(-s t - t^2/2); an interval that straddles zero is
split there.  Each piece [0, L] is mapped onto its panels from its two exact ends (no node
inherits the rounding of a panel width, which moved the end of [-485, 8e-5] by 1e-15 and
its mean by 10 ulps), and the moments are taken in units of the longest piece, with the
variance centred, E[(t - E t)^2]: tails ([30, 31], [1000, 1001]), one-sided and narrow
intervals neither cancel nor underflow ([1e-300, 2e-300] has std 2.9e-301).  Where the
density is constant to float64's resolution on the interval (uniform_to_float64), the law
is U(lower, upper): mean (lower + upper)/2, std (upper - lower)/sqrt(12).
"""

import math

# --- snippet ---

# Gauss-Legendre nodes on [-1, 1] (order 12), by Newton's method on P_12 at import.
_GL_ORDER = 12
# The density is integrated until it has fallen by e^-TAIL = 2e-22 relative to its peak in
# the interval: far below float64's resolution of the moments.
_TAIL = 50.0
_PANEL_DROP = 3.0  # at most this many e-folds of the density inside one panel
_PANEL_WIDTH = 1.0  # and at most this wide (one panel over [-1.7, 1.7] lost 1500 ulps)
_MIN_STD = 2.0**-1022  # the smallest normal float64


def _gauss_legendre(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    nodes, weights = [], []
    for i in range(1, n + 1):
        x = math.cos(math.pi * (i - 0.25) / (n + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, x
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = n * (x * p1 - p0) / (x * x - 1.0)
            step = p1 / dp
            x -= step
            if abs(step) <= 1e-17:
                break
        p0, p1 = 1.0, x
        for k in range(2, n + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        dp = n * (x * p1 - p0) / (x * x - 1.0)
        nodes.append(x)
        weights.append(2.0 / ((1.0 - x * x) * dp * dp))
    return tuple(nodes), tuple(weights)


_GL_NODES, _GL_WEIGHTS = _gauss_legendre(_GL_ORDER)


def uniform_to_float64(lower: float, upper: float) -> bool:
    """True when N(0, 1)'s density varies by less than 2^-53, relative, on [lower, upper].

    The density ratio across the interval is exp(-(max x^2 - min x^2) / 2); below 2^-53
    float64 cannot tell the truncated law from U(lower, upper), whose std is
    (upper - lower) / sqrt(12) (the first-order change of the std is 0 for a linear tilt,
    under 2^-53 / 15 for a quadratic one).
    """
    a, b = float(lower), float(upper)
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    if b <= 0.0:
        a, b = -b, -a
    spread = 0.5 * (b - a) * (b + a) if a >= 0.0 else 0.5 * max(a * a, b * b)
    return spread <= 2.0**-53


def _checked(lower: float, upper: float, mean: float, std: float) -> tuple[float, float]:
    """(mean, std), or ValueError when the std is not a normal float64 (see the contract)."""
    if not _MIN_STD <= std < math.inf:
        raise ValueError(
            f"lower, upper: ({lower!r}, {upper!r}) has a std after truncation of {std!r}, "
            "outside float64's normal range (accepted: cutoffs whose std after truncation "
            "is at least 2.2250738585072014e-308, e.g. a width above 7.8e-308)"
        )
    return mean, std


def truncnorm_mean_std(lower: float, upper: float) -> tuple[float, float]:
    """Mean and std (after truncation) of N(0, 1) truncated to [lower, upper].

    ``lower < upper``; either may be infinite.  See the module docstring for the error
    bound and the method; ValueError when the std is below float64's normal range.
    """
    a, b = float(lower), float(upper)
    sign = 1.0
    if b <= 0.0:  # mirror onto the right half line
        a, b, sign = -b, -a, -1.0
    if uniform_to_float64(a, b):
        return _checked(lower, upper, sign * (0.5 * a + 0.5 * b), (b - a) / math.sqrt(12.0))
    if a >= 0.0:  # t = x - a on [0, L]: the density is exp(-a t - t^2/2) times phi(a)
        shift = a
        if shift > 1.0:  # the reach r of e^-TAIL: a r + r^2/2 = TAIL, without overflow
            reach = 2.0 * _TAIL / shift / (1.0 + math.hypot(1.0, math.sqrt(2.0 * _TAIL) / shift))
        else:
            reach = 2.0 * _TAIL / (shift + math.hypot(shift, math.sqrt(2.0 * _TAIL)))
        pieces = [min(b - a, reach)]
    else:  # the interval straddles zero: t = x, split at 0 into [lo, 0] and [0, hi]
        shift = 0.0
        reach = math.sqrt(2.0 * _TAIL)
        pieces = [max(a, -reach), min(b, reach)]
    unit = max(abs(piece) for piece in pieces)  # moments in units of the longest piece
    us: list[float] = []
    ws: list[float] = []
    for piece in pieces:
        ratio = piece / unit  # the piece is [0, ratio] in units of `unit`
        span = abs(piece)
        drop = shift * span + 0.5 * span * span
        panels = max(1, min(256, math.ceil(max(drop / _PANEL_DROP, span / _PANEL_WIDTH))))
        jacobian = 0.5 * abs(ratio) / panels
        for p in range(panels):
            for node, weight in zip(_GL_NODES, _GL_WEIGHTS, strict=True):
                u = ratio * ((p + 0.5 + 0.5 * node) / panels)  # both ends of the piece exact
                t = unit * u
                us.append(u)
                ws.append(weight * jacobian * math.exp(-(shift * t + 0.5 * t * t)))
    total = math.fsum(ws)
    m1 = math.fsum(w * u for w, u in zip(ws, us, strict=True)) / total
    var = math.fsum(w * (u - m1) * (u - m1) for w, u in zip(ws, us, strict=True)) / total
    return _checked(lower, upper, sign * (shift + unit * m1), unit * math.sqrt(var))
