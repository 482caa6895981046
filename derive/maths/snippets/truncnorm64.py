"""Mean and std of the standard normal truncated to [lower, upper], in float64, stdlib only.

Used at run time by the generated initializers for cutoffs that are not in the table.
The moments are integrals of the density over the interval, taken by composite
Gauss-Legendre quadrature about the bound nearest zero, with centred second moments,
so there is no cancellation: far tails ([30, 31], [1000, 1001]), one-sided intervals
and very narrow intervals stay accurate to a few ulps (tests/test_snippets.py measures it
against mpmath at 30 digits).
"""

import math

# --- snippet ---

# Gauss-Legendre nodes on [-1, 1] (order 12), by Newton's method on P_12 at import.
_GL_ORDER = 12
# The density is integrated until it has fallen by e^-TAIL = 2e-22 relative to its peak in
# the interval: far below float64's resolution of the moments.
_TAIL = 50.0
_PANEL_DROP = 1.5  # at most this many e-folds of the density inside one panel
_PANEL_WIDTH = 1.0  # and at most this wide (one panel over [-1.7, 1.7] lost 1500 ulps)


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


def truncnorm_mean_std(lower: float, upper: float) -> tuple[float, float]:
    """Mean and std (after truncation) of N(0, 1) truncated to [lower, upper].

    ``lower < upper``; either may be infinite.  With s the bound nearest zero (0 when the
    interval straddles it) and t = |x| - s, the density is proportional to
    exp(-s t - t^2/2) on the shifted interval; its moments are summed panel by panel, the
    variance as E[(t - E t)^2], so neither tails nor narrow intervals cancel.
    """
    a, b = float(lower), float(upper)
    sign = 1.0
    if b <= 0.0:  # mirror onto the right half line
        a, b, sign = -b, -a, -1.0
    if a >= 0.0:
        shift = a
        reach = 2.0 * _TAIL / (shift + math.hypot(shift, math.sqrt(2.0 * _TAIL)))
        lo, hi = 0.0, min(b - a, reach)
    else:  # the interval straddles zero: no shift
        shift = 0.0
        reach = math.sqrt(2.0 * _TAIL)
        lo, hi = max(a, -reach), min(b, reach)
    drop = shift * (hi - lo) + max(lo * lo, hi * hi) / 2.0
    panels = max(1, min(256, math.ceil(max(drop / _PANEL_DROP, (hi - lo) / _PANEL_WIDTH))))
    width = (hi - lo) / panels
    ts: list[float] = []
    ws: list[float] = []
    for p in range(panels):
        centre = lo + (p + 0.5) * width
        for node, weight in zip(_GL_NODES, _GL_WEIGHTS, strict=True):
            t = centre + 0.5 * width * node
            ts.append(t)
            ws.append(weight * math.exp(-(shift * t + 0.5 * t * t)))
    total = math.fsum(ws)
    if not total > 0.0:
        return sign * shift, 0.0
    m1 = math.fsum(w * t for w, t in zip(ws, ts, strict=True)) / total
    var = math.fsum(w * (t - m1) * (t - m1) for w, t in zip(ws, ts, strict=True)) / total
    return sign * (shift + m1), math.sqrt(var)
