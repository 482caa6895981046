"""The report's figures: pure functions from plain data to SVG text, in memory.

Every figure is drawn with matplotlib's SVG backend on a bare :class:`~matplotlib.figure.Figure`
(no pyplot, no global state): inside one ``rc_context`` the parameters are reset to matplotlib's
defaults and then pinned (``svg.hashsalt``, glyphs as paths, no ``Date``), so the bytes depend
only on the data and on the pinned matplotlib version, never on a user's matplotlibrc or the clock.
Glyphs come from matplotlib's bundled DejaVu fonts.

Samples are drawn by initref's own generated NumPy sampler (the text of ``numpy_init.py``,
executed into a fresh module) from ``numpy.random.default_rng(seed)`` with fixed seeds.
Measured values are rounded to a few significant digits before they are plotted, so that the
last-bit differences of BLAS kernels or vectorized ``exp`` between machines cannot change a byte.

The figures:

1. the seed article's experiment: TF-style ``he_normal`` against ``truncated_normal`` with the
   same ``stddev`` (shape [2, 50000], fan_in 2), both exact densities drawn;
2. s(k) and the correction 1/s(k) against the cutoff k, the frameworks' k = 2 marked;
3. the mean square activation against depth (1..50 ReLU layers): measured points over the
   predicted lines q_L = r^L q_0 of :mod:`derive.maths.depth`;
4. sampling N(0, 1) truncated to [5, 6] in float32: the inverse-CDF method (uniform in
   [Phi(a), Phi(b)], then sqrt(2) erfinv(2u - 1), both in float32) against initref's sampler;
5. the critical line: sigma_w^2 with chi_1 = 1 against sigma_b^2 for several
   activations, solid where the fixed point q* attracts, dashed where it repels.
"""

from __future__ import annotations

import io
import math
import types
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import BrokenExecutor, Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import numpy.typing as npt

from ..model.report import DEPTH_BATCH, DEPTH_LAYERS, DEPTH_WIDTH, TAIL_SAMPLES

Array = npt.NDArray[np.float64]
Sampler = Callable[..., Any]

SVG_RC: dict[str, Any] = {
    "svg.hashsalt": "initref",  # ids of clip paths etc. from a fixed salt, not from uuid4
    "svg.fonttype": "path",  # glyphs as paths: the figure looks the same in every viewer
    "svg.id": None,
    "font.family": "DejaVu Sans",  # bundled with matplotlib, found before any system font
    "mathtext.fontset": "dejavusans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.0,
    "legend.framealpha": 0.9,
    "path.simplify": False,  # draw every point; simplification would depend on the data's noise
}
METADATA: dict[str, Any] = {"Date": None}
FIG_WIDTH = 7.5  # inches (SVG: 72 units per inch)
# (left, right, bottom, top, gap between axes) in inches: room for the tick labels, the axis
# labels and the title at SVG_RC's font sizes
MARGINS = (0.55, 0.12, 0.52, 0.30, 0.38)
WIDE_LABELS = 0.72  # the left margin for log-scale tick labels (10^-40)
SIG_DIGITS = 4  # significant digits kept of every measured value before plotting
CURVE_DIGITS = 6  # significant digits kept of exact curves (densities)
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

SEED_ARTICLE = 20240601
SEED_DEPTH = 20240602
SEED_TAIL = 20240603

ARTICLE_SHAPE = (2, 50000)  # [fan_in, fan_out] as in the seed article: fan_in = 2, std = 1
ROW_BLOCK = 4  # rows per GEMM in depth_experiment (m n k <= 2^18: one thread)
TAIL_BINS = 50


def round_sig(values: npt.ArrayLike, digits: int = SIG_DIGITS) -> Array:
    """Round every value to ``digits`` significant digits (through its decimal text, exactly)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    out = np.array([float(f"{v:.{digits}g}") for v in flat.tolist()], dtype=np.float64)
    return out.reshape(np.shape(values))


def load_sampler(source: str) -> types.ModuleType:
    """Execute the generated ``numpy_init.py`` text into a fresh module (not in sys.modules)."""
    module = types.ModuleType("initref_numpy_init_for_figures")
    exec(compile(source, "generated/numpy_init.py", "exec"), module.__dict__)
    return module


@contextmanager
def _svg_style() -> Iterator[None]:
    import matplotlib as mpl
    import matplotlib.style

    with mpl.rc_context():
        matplotlib.style.use("default")  # matplotlib's defaults, whatever a matplotlibrc says
        matplotlib.style.use(SVG_RC)
        yield


def _new_figure(height: float, ncols: int = 1, left: float = MARGINS[0]) -> tuple[Any, list[Any]]:
    """A figure of FIG_WIDTH x ``height`` inches with ``ncols`` axes in a row, placed by the
    fixed MARGINS (``left`` inches on the left; a layout engine measures every text at each
    draw: it took half the figures' time)."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(FIG_WIDTH, height))
    _, right, bottom, top, gap = MARGINS
    fig.subplots_adjust(
        left=left / FIG_WIDTH,
        right=1.0 - right / FIG_WIDTH,
        bottom=bottom / height,
        top=1.0 - top / height,
        wspace=gap * ncols / (FIG_WIDTH - left - right - gap * (ncols - 1)),
    )
    FigureCanvasSVG(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=METADATA)
    return buf.getvalue()


def _normal_pdf(x: Array) -> Array:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Figure 1: the article's experiment
# --------------------------------------------------------------------------------------------


def tf_truncated_normal(shape: tuple[int, ...], stddev: float, rng: np.random.Generator) -> Array:
    """``tf.random.truncated_normal(shape, stddev=stddev)``'s law: N(0, stddev^2) with values
    beyond 2 stddev redrawn.  ``stddev`` is the std *before* truncation (TF's documentation)."""
    x = stddev * rng.standard_normal(shape)
    outside = np.abs(x) > 2.0 * stddev
    while outside.any():
        x[outside] = stddev * rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > 2.0 * stddev
    return x


@dataclass(frozen=True)
class ArticleExperiment:
    """Samples of the seed article's two initializers for a [fan_in, fan_out] weight."""

    stddev: float  # sqrt(2 / fan_in), the std both were asked for
    he_normal: Array  # initref's he_normal (TF semantics: std after truncation = stddev)
    truncated_normal: Array  # TF's truncated_normal(stddev=stddev): std before truncation


def article_experiment(
    sampler: types.ModuleType, shape: tuple[int, int] = ARTICLE_SHAPE, seed: int = SEED_ARTICLE
) -> ArticleExperiment:
    """Draw both weights with fixed seeds, as the seed article did (shape [2, 50000])."""
    stddev = math.sqrt(2.0 / shape[0])
    he = np.asarray(sampler.he_normal(shape, dtype=np.float64, rng=np.random.default_rng(seed)))
    tn = tf_truncated_normal(shape, stddev, np.random.default_rng(seed + 1))
    return ArticleExperiment(stddev=stddev, he_normal=he, truncated_normal=tn)


def _truncated_density(x: Array, sigma: float, cutoff: float, mass: float) -> Array:
    """Density of N(0, sigma^2) truncated to [-cutoff sigma, cutoff sigma], mass = Z."""
    inside = np.abs(x) <= cutoff * sigma
    return np.where(inside, _normal_pdf(x / sigma) / (sigma * mass), 0.0)


def figure_article(data: Mapping[str, Any], sampler: types.ModuleType) -> str:
    """Figure 1: histograms of he_normal and truncated_normal(stddev) with their exact densities.

    he_normal is N(0, (stddev / s(2))^2) truncated at +-2 of its own std; truncated_normal is
    N(0, stddev^2) truncated at +-2 stddev, whose std is s(2) stddev (seed article; s(2) from
    derive.maths.truncnorm).
    """
    s2 = float(data["s2"])
    mass = float(data["mass2"])
    exp = article_experiment(sampler)
    sd = exp.stddev
    he_sigma = sd / s2
    edge = 2.0 * he_sigma * 1.06
    bins = np.linspace(-edge, edge, 91)
    grid = np.linspace(-edge, edge, 1201)
    series = (
        ("he_normal", exp.he_normal, he_sigma, COLORS[0]),
        ("truncated_normal", exp.truncated_normal, sd, COLORS[1]),
    )
    with _svg_style():
        fig, (ax,) = _new_figure(4.4)
        top = 0.0
        for label, sample, sigma, color in series:
            counts, _ = np.histogram(sample, bins=bins)
            density = round_sig(counts / (sample.size * np.diff(bins)))
            std = float(round_sig([float(np.std(sample)) / sd])[0])
            ax.stairs(
                density,
                bins,
                color=color,
                alpha=0.25,
                fill=True,
                label=f"{label}: sample (std {std:.4g} × stddev)",
            )
            exact = round_sig(_truncated_density(grid, sigma, 2.0, mass), CURVE_DIGITS)
            top = max(top, float(exact.max()), float(density.max()))
            ax.plot(grid, exact, color=color, lw=1.6, label=f"{label}: exact density")
            for side in (-1.0, 1.0):
                ax.axvline(side * 2.0 * sigma, color=color, ls=":", lw=1.0)
        ax.set_xlim(-edge, edge)
        ax.set_ylim(0.0, 1.45 * top)
        ax.set_xlabel("weight value  (fan_in = 2, so stddev = √(2/fan_in) = 1)")
        ax.set_ylabel("density")
        ax.set_title(
            f"The article's experiment: shape {list(ARTICLE_SHAPE)}, "
            f"{ARTICLE_SHAPE[0] * ARTICLE_SHAPE[1]} samples each"
        )
        ax.text(
            0.99,
            0.97,
            f"truncated_normal's std is s(2) × stddev = {data['s2_text']} × stddev:\n"
            f"each ReLU layer keeps s(2)² = {data['s2_squared_text']} of the second moment,\n"
            f"24 layers keep s(2)⁴⁸ = {data['s2_pow48_text']} of it",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
        )
        ax.legend(loc="upper left", fontsize=7)
        return _svg(fig)


# --------------------------------------------------------------------------------------------
# Figure 2: s(k) and 1/s(k)
# --------------------------------------------------------------------------------------------


def figure_correction(data: Mapping[str, Any]) -> str:
    """Figure 2: s(k), the std of N(0, 1) truncated to [-k, k], and the correction 1/s(k).

    The curve is derive.maths.truncnorm's s(k) on a fine grid; the markers are the spec's symmetric
    cutoffs (constants.md); k = 2 is the cutoff TF/Keras/JAX fix, s(2) = 0.87962566103423978.
    """
    curve = np.array([[float(k), float(s)] for k, s in data["correction_curve"]])
    points = np.array([[float(k), float(s)] for k, s in data["symmetric_points"]])
    s2 = float(data["s2"])
    k, s = curve[:, 0], round_sig(curve[:, 1], CURVE_DIGITS)
    with _svg_style():
        fig, (ax,) = _new_figure(4.0)
        ax.plot(k, s, color=COLORS[0], lw=1.8, label="s(k): std after truncation to [−k, k]")
        ax.plot(
            k,
            round_sig(1.0 / s, CURVE_DIGITS),
            color=COLORS[1],
            lw=1.8,
            label="1/s(k): the correction (divide the wanted std by s(k))",
        )
        if points.size:
            ax.plot(
                points[:, 0],
                points[:, 1],
                "o",
                ms=3.5,
                color=COLORS[0],
                label="spec's symmetric cutoffs (constants.md)",
            )
            ax.plot(
                points[:, 0],
                round_sig(1.0 / points[:, 1], CURVE_DIGITS),
                "o",
                ms=3.5,
                color=COLORS[1],
            )
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.axvline(2.0, color="0.2", lw=0.9, ls=":")
        ax.plot(
            [2.0, 2.0],
            [s2, 1.0 / s2],
            "D",
            ms=7,
            mfc="none",
            mec="black",
            mew=1.4,
            label="TF / Keras / JAX: k = 2 fixed",
        )
        ax.annotate(
            f"s(2) = {data['s2_text']}\n(TF's literal {data['tf_literal']})",
            (2.0, s2),
            xytext=(2.6, 0.45),
            fontsize=8,
            arrowprops={"arrowstyle": "->", "color": "0.2"},
        )
        ax.annotate(
            f"1/s(2) = {data['correction2_text']}",
            (2.0, 1.0 / s2),
            xytext=(2.6, 1.55),
            fontsize=8,
            arrowprops={"arrowstyle": "->", "color": "0.2"},
        )
        ax.set_xlim(0.0, float(k[-1]))
        ax.set_ylim(0.0, 2.5)
        ax.set_xlabel("cutoff k (in units of the normal's std)")
        ax.set_ylabel("factor")
        ax.set_title("Std after truncation to [−k, k] and the correction factor")
        ax.legend(loc="upper right", fontsize=7.5)
        return _svg(fig)


# --------------------------------------------------------------------------------------------
# Figure 4: far in a tail, float32
# --------------------------------------------------------------------------------------------


def erfinv_float32(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """erfinv of float32 arguments, correctly rounded to float32 (mpmath, 30 digits).

    An inverse-CDF sampler in float32 can only produce as many distinct values as there are
    float32 numbers u in [Phi(a), Phi(b)]; the exact erfinv used here shows that collapse
    alone, undisturbed by any approximation error of a float32 erfinv kernel.
    """
    from ..core.numbers import round_float32

    values, inverse = np.unique(v, return_inverse=True)
    with mpmath.workdps(30):
        table = np.array(
            [round_float32(mpmath.erfinv(mpmath.mpf(float(t)))) for t in values.tolist()],
            dtype=np.float32,
        )
    return table[inverse].reshape(v.shape)


def inverse_cdf_float32(
    n: int,
    lower: float,
    upper: float,
    cdf_lower: float,
    cdf_upper: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.float32]:
    """The inverse-CDF truncated-normal sampler of PyTorch <= 2.11 ``trunc_normal_``, timm and
    JAX, in float32: u uniform in [Phi(a), Phi(b)], x = sqrt(2) erfinv(2u - 1), clamped to
    [a, b].  ``cdf_lower``/``cdf_upper`` are Phi(a), Phi(b) (rounded to float32 here)."""
    f32 = np.float32
    lo, hi = f32(cdf_lower), f32(cdf_upper)
    u = lo + (hi - lo) * rng.random(n, dtype=np.float32)
    x = f32(math.sqrt(2.0)) * erfinv_float32(f32(2.0) * u - f32(1.0))
    out: npt.NDArray[np.float32] = np.clip(x, f32(lower), f32(upper))
    return out


def figure_tail(data: Mapping[str, Any], sampler: types.ModuleType) -> str:
    """Figure 4: N(0, 1) truncated to [a, b] = [5, 6], drawn in float32, two samplers, exact
    density phi(x) / Z (Z = Phi(b) - Phi(a) from derive.maths.truncnorm)."""
    tail = data["tail"]
    a, b = float(tail["lower"]), float(tail["upper"])
    mass = float(tail["mass"])
    inv = inverse_cdf_float32(
        TAIL_SAMPLES,
        a,
        b,
        float(tail["cdf_lower"]),
        float(tail["cdf_upper"]),
        np.random.default_rng(SEED_TAIL),
    )
    ours = np.asarray(
        sampler.truncated_normal(
            (TAIL_SAMPLES,),
            std=float(tail["std"]),
            lower=a,
            upper=b,
            dtype=np.float32,
            rng=np.random.default_rng(SEED_TAIL + 1),
        )
    )
    bins = np.linspace(a, b, TAIL_BINS + 1)
    grid = np.linspace(a, b, 401)
    exact = round_sig(_normal_pdf(grid) / mass, CURVE_DIGITS)
    panels = (
        ("inverse CDF in float32 (PyTorch ≤ 2.11, timm, JAX)", inv, COLORS[1]),
        ("initref's numpy_init.truncated_normal, float32", ours, COLORS[0]),
    )
    with _svg_style():
        fig, axes = _new_figure(3.8, ncols=2)
        top = 0.0
        for ax, (title, sample, color) in zip(axes, panels, strict=True):
            counts, _ = np.histogram(sample.astype(np.float64), bins=bins)
            density = round_sig(counts / (sample.size * np.diff(bins)))
            top = max(top, float(density.max()))
            distinct = int(np.unique(sample).size)
            ax.stairs(
                density,
                bins,
                color=color,
                alpha=0.35,
                fill=True,
                label=f"{sample.size} samples, {distinct} distinct values",
            )
            ax.plot(grid, exact, color="black", lw=1.4, label="exact density φ(x)/Z")
            ax.set_title(title, fontsize=8.5)
            ax.set_xlabel("x  (N(0, 1) truncated to [5, 6])")
            ax.set_xlim(a, b)
            ax.legend(loc="upper right", fontsize=7)
        below = inv[inv < np.float32(b)]
        axes[0].annotate(
            f"u = Φ(6) rounds to 1 in float32:\nerfinv(1) = ∞, clamped to {b:g}",
            (b - 0.01, 0.5 * top),
            xytext=(5.45, 0.62 * top),
            fontsize=7.5,
            arrowprops={"arrowstyle": "->", "color": "0.2"},
        )
        axes[0].annotate(
            f"nothing in ({float(below.max()):.3f}, {b:g})",
            (float(below.max()) + 0.01, 0.35 * top),
            xytext=(5.45, 0.38 * top),
            fontsize=7.5,
            arrowprops={"arrowstyle": "->", "color": "0.2"},
        )
        for ax in axes:
            ax.set_ylim(0.0, 1.08 * top)
        axes[0].set_ylabel("density")
        return _svg(fig)


# --------------------------------------------------------------------------------------------
# Figure 3: mean square activation against depth
# --------------------------------------------------------------------------------------------


def _depth_weights(key: str, sampler: types.ModuleType) -> Callable[..., Array]:
    """The weight sampler of one initialization of the depth table, for a [n, n] matrix."""

    def tf_he(shape: tuple[int, int], rng: np.random.Generator) -> Array:
        return np.asarray(sampler.he_normal(shape, dtype=np.float64, rng=rng))

    def tf_uncorrected(shape: tuple[int, int], rng: np.random.Generator) -> Array:
        return tf_truncated_normal(shape, math.sqrt(2.0 / shape[0]), rng)

    def torch_default(shape: tuple[int, int], rng: np.random.Generator) -> Array:
        # kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), Var = 1/(3 fan_in)
        return np.asarray(
            sampler.variance_scaling(
                shape,
                scale=1.0 / 3.0,
                mode="fan_in",
                distribution="uniform",
                dtype=np.float64,
                rng=rng,
            )
        )

    def xavier(shape: tuple[int, int], rng: np.random.Generator) -> Array:
        return np.asarray(sampler.glorot_uniform(shape, dtype=np.float64, rng=rng))

    table: dict[str, Callable[..., Array]] = {
        "tf_he_normal": tf_he,
        "truncated_normal_uncorrected_k2": tf_uncorrected,
        "torch_default_linear": torch_default,
        "xavier": xavier,
    }
    return table[key]


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten_labels(ax: Any) -> None:
    """Label a log axis 10⁻⁵ in plain text: matplotlib's default mathtext labels cost a
    pyparsing run per label (most of a figure's time) for the same glyphs."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def label(value: float, _pos: int | None) -> str:
        return "10" + str(round(math.log10(value))).translate(_SUPERSCRIPT) if value > 0 else ""

    ax.yaxis.set_major_formatter(FuncFormatter(label))
    ax.yaxis.set_minor_formatter(NullFormatter())


def depth_experiment(
    weights: Callable[..., Array],
    layers: int = DEPTH_LAYERS,
    width: int = DEPTH_WIDTH,
    batch: int = DEPTH_BATCH,
    seed: int = SEED_DEPTH,
) -> Array:
    """Mean square pre-activation q_l = mean(y_l^2), l = 1..layers, of a ReLU net in float64:
    y_1 = x_0 W_1 with x_0 = relu(z), z ~ N(0, 1) (so E[x_0^2] = 1/2, as after a ReLU layer),
    y_l = relu(y_{l-1}) W_l; divided by q_0 = 1: the ratio to a unit-variance input."""
    if batch % ROW_BLOCK:
        raise ValueError(f"batch: {batch} (accepted: a multiple of {ROW_BLOCK})")
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((batch, width)), 0.0)
    out = np.empty(layers)
    for layer in range(layers):
        w = weights((width, width), rng)
        # row blocks: the same products as x @ w, as a stack of small GEMMs that OpenBLAS
        # runs on one thread (its threads spin and crawl when the cores are busy, e.g. under
        # pytest -n 2)
        y = (x.reshape(batch // ROW_BLOCK, ROW_BLOCK, width) @ w).reshape(batch, width)
        out[layer] = float(np.mean(y * y))
        x = np.maximum(y, 0.0)
    return out


def figure_depth(data: Mapping[str, Any], sampler: types.ModuleType) -> str:
    """Figure 3: q_L / q_0 against depth L for the depth table's initializations: measured
    (points, one seeded float64 ReLU network each, depth_experiment()) over the predicted r^L
    (lines, derive.maths.depth via derive.model.report)."""
    curves = data["depth"]
    layers = np.arange(1, DEPTH_LAYERS + 1)
    markers = ("o", "s", "^", "D", "v", "P")
    with _svg_style():
        fig, (ax,) = _new_figure(4.6, left=WIDE_LABELS)
        for i, curve in enumerate(curves):
            color = COLORS[i % len(COLORS)]
            predicted = round_sig([float(v) for v in curve["predicted"]], CURVE_DIGITS)
            measured = round_sig(depth_experiment(_depth_weights(curve["key"], sampler)))
            ax.semilogy(
                layers,
                predicted,
                color=color,
                lw=1.4,
                label=f"{curve['label']}: r = {curve['ratio_text']}",
            )
            ax.semilogy(
                layers,
                measured,
                markers[i % len(markers)],
                color=color,
                ms=3.2,
                mfc="none",
                mew=0.9,
            )
        ax.plot(
            [],
            [],
            "o",
            color="0.3",
            ms=3.2,
            mfc="none",
            label=f"points: measured, float64 ReLU net of width {DEPTH_WIDTH}, batch {DEPTH_BATCH}",
        )
        ax.set_xlim(0, DEPTH_LAYERS + 1)
        _power_of_ten_labels(ax)
        ax.set_xlabel("depth L (ReLU layers)")
        ax.set_ylabel("mean square pre-activation q_L / q_0")
        ax.set_title("Second moment against depth: measured (points), predicted rᴸ (lines)")
        ax.legend(loc="lower left", fontsize=7.5)
        return _svg(fig)


# --------------------------------------------------------------------------------------------
# Figure 5: the critical line
# --------------------------------------------------------------------------------------------


def _runs(points: list[tuple[float, float, str]]) -> list[tuple[str, list[float], list[float]]]:
    """Split a curve into runs of one verdict, "stable" or "unstable" (a "marginal" point
    takes the verdict of the next point); consecutive runs share their boundary point."""
    verdicts = [v for _, _, v in points]
    runs: list[tuple[str, list[float], list[float]]] = []
    for i, (x, y, verdict) in enumerate(points):
        if verdict == "marginal":
            verdict = next((v for v in verdicts[i + 1 :] if v != "marginal"), "stable")
        if runs and runs[-1][0] == verdict:
            runs[-1][1].append(x)
            runs[-1][2].append(y)
        elif runs:
            runs.append((verdict, [runs[-1][1][-1], x], [runs[-1][2][-1], y]))
        else:
            runs.append((verdict, [x], [y]))
    return runs


def figure_critical(data: Mapping[str, Any]) -> str:
    """Figure 5: the critical sigma_w^2 against sigma_b^2 (derive.maths.critical, swept along
    q* in derive.model.report): solid where the length map's fixed point q* attracts, dashed
    where it repels; the markers are the tables' points (filled: stable or marginal; open:
    unstable)."""
    crit = data["critical"]
    with _svg_style():
        fig, (ax,) = _new_figure(4.6)
        top = 0.0
        for i, curve in enumerate(crit["curves"]):
            color = COLORS[i % len(COLORS)]
            pts = [(float(b), float(w), v) for b, w, v in curve["points"]]
            for j, (kind, xs, ys) in enumerate(_runs(pts)):
                ax.plot(
                    xs,
                    round_sig(ys, CURVE_DIGITS),
                    color=color,
                    lw=1.6,
                    ls="-" if kind != "unstable" else "--",
                    label=curve["label"] if j == 0 else None,
                )
            top = max(top, max(p[1] for p in pts))
            for b, w, verdict in curve["markers"]:
                ax.plot(
                    [float(b)],
                    [float(w)],
                    "o",
                    ms=4.5,
                    color=color,
                    mfc=color if verdict != "unstable" else "white",
                    mew=1.2,
                )
        ax.plot([], [], "-", color="0.3", lw=1.6, label="q* stable")
        ax.plot([], [], "--", color="0.3", lw=1.6, label="q* unstable (repels)")
        ax.plot([], [], "o", color="0.3", ms=4.5, label="tables' points (open: unstable)")
        ax.set_xlim(0.0, float(crit["max_bias"]))
        ax.set_ylim(0.0, 1.08 * top)
        ax.set_xlabel("bias variance σ_b²")
        ax.set_ylabel("critical weight variance σ_w² (χ₁ = 1)")
        ax.set_title("The critical line: σ_w² with χ₁ = 1 at the fixed point q* of the length map")
        ax.legend(loc="lower right", fontsize=7.5, ncol=2)
        return _svg(fig)


# --------------------------------------------------------------------------------------------
# All figures
# --------------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[Mapping[str, Any], types.ModuleType], str]] = {
    "article_he_normal_vs_truncated_normal": figure_article,
    "correction_vs_cutoff": lambda data, _sampler: figure_correction(data),
    "critical_line": lambda data, _sampler: figure_critical(data),
    "depth_second_moment": figure_depth,
    "tail_float32_sampling": figure_tail,
}


# the figures that draw no samples (they need no numpy_init.py text)
SAMPLER_FREE = frozenset({"correction_vs_cutoff", "critical_line"})
# the figure a worker process draws (send_figure) while this one draws the rest: the costliest
WORKER_FIGURE = "depth_second_moment"


def warm_up() -> None:
    """Import what drawing a figure imports: a worker process's initializer, so that its
    first figure costs no more than here."""
    import matplotlib.style  # noqa: F401
    from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def send_figure(
    pool: Executor | None, report: Mapping[str, Any], sampler_source: str, names: Collection[str]
) -> Future[dict[str, str]] | None:
    """Submit WORKER_FIGURE, when ``names`` has it, to ``pool``'s worker (build_figures there:
    the same bytes); None when there is no pool or no such figure."""
    if pool is None or WORKER_FIGURE not in names:
        return None
    slim = {
        "figures": [f for f in report["figures"] if f["name"] == WORKER_FIGURE],
        "figure_data": report["figure_data"],
    }
    return pool.submit(build_figures, slim, sampler_source, {WORKER_FIGURE})


def received_figure(
    job: Future[dict[str, str]], report: Mapping[str, Any], sampler_source: str
) -> dict[str, str]:
    """The sent figure's ``{path: svg text}``, drawn here if the worker could not run."""
    try:
        return job.result()
    except BrokenExecutor:
        return build_figures(report, sampler_source, {WORKER_FIGURE})


def build_figures(
    report: Mapping[str, Any],
    sampler_source: str | None,
    names: Collection[str] | None = None,
) -> dict[str, str]:
    """``{path: svg text}`` for the figures of the report model (derive.model.report) named in
    ``names`` (default: all), drawn with the generated NumPy sampler whose source text is
    ``sampler_source`` (None: only SAMPLER_FREE figures may be asked for)."""
    chosen = [f for f in report["figures"] if names is None or f["name"] in names]
    needs_sampler = any(f["name"] not in SAMPLER_FREE for f in chosen)
    if needs_sampler and sampler_source is None:
        raise ValueError("build_figures: figures that draw samples need the sampler's source")
    # the sampler-free builders ignore their second argument
    sampler = load_sampler(sampler_source) if sampler_source else types.ModuleType("no_sampler")
    data = report["figure_data"]
    return {f["path"]: BUILDERS[f["name"]](data, sampler) for f in chosen}
