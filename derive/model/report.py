"""The report's model: LaTeX from the SymPy derivations, each next to its numbers.

``report_model(spec, model)`` adds what ``templates/report.md.j2`` lays out to the tables'
model: the He rule forward and backward (He, Zhang, Ren & Sun 2015, eq. 7-15) and its leaky
slope, the truncated-normal moments (Johnson, Kotz & Balakrishnan vol. 1, eq. 13.134-13.135),
the list of figures, and the plain data the figures are drawn from (:mod:`derive.emit.figures`).
Every number is a finished string; LaTeX comes from ``sympy.latex`` of the derived expressions.
"""

from __future__ import annotations

import decimal
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from ..core.numbers import format_sig, round_float32
from ..maths import he_rule, truncnorm_symbolic
from ..maths.truncnorm import TF_LITERAL, truncnorm_moments
from .spec import Spec

FIGURE_DIR = "figures"
DIGITS = 20  # significant digits printed in the report
CURVE_DIGITS = 17  # enough for a float64 plot
TAIL = ("5", "6")  # figure 4's interval
CURVE_STEP = decimal.Decimal("0.05")
CURVE_START = decimal.Decimal("0.1")
CURVE_STOP = decimal.Decimal("6")
VAR_W = sp.Symbol(r"\operatorname{Var}[w]", positive=True)
EXAMPLE_FANS = (2, 256)  # the seed article's fan_in and figure 3's width

# (slope a, where it is a default)
LEAKY_SLOPES: tuple[tuple[str, str], ...] = (
    ("0", "ReLU (He et al.)"),
    ("0.01", "PyTorch `nn.LeakyReLU` default `negative_slope`"),
    ("0.2", "TensorFlow `tf.nn.leaky_relu` default `alpha`"),
    ("0.3", "Keras 3 `LeakyReLU` default `negative_slope`"),
    ("sqrt(5)", "PyTorch's default `nn.Linear`/`nn.Conv*` init: `kaiming_uniform_(a=√5)`"),
    ("1", "linear (LeCun)"),
)

# The figures' experiments (derive.emit.figures runs them with these sizes; the report states them).
DEPTH_LAYERS = 50
DEPTH_WIDTH = 256
DEPTH_BATCH = 256
TAIL_SAMPLES = 200_000


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    alt: str

    @property
    def path(self) -> str:
        return f"{FIGURE_DIR}/{self.name}.svg"


FIGURES: tuple[Figure, ...] = (
    Figure(
        "article_he_normal_vs_truncated_normal",
        "The article's experiment: he_normal against truncated_normal with the same stddev",
        "Histograms of TF-style he_normal and of truncated_normal(stddev) with exact densities",
    ),
    Figure(
        "correction_vs_cutoff",
        "s(k) and the correction 1/s(k) against the cutoff k",
        "Std after truncation s(k) and correction 1/s(k) against k, k = 2 marked",
    ),
    Figure(
        "depth_second_moment",
        "Mean square activation against depth",
        "Mean square activation against depth for four initializations, measured and predicted",
    ),
    Figure(
        "tail_float32_sampling",
        "Sampling far in a tail: [5, 6] in float32",
        "Inverse-CDF float32 samples collapse onto a few values; initref's follow the density",
    ),
    Figure(
        "critical_line",
        "The critical line: the weight variance at the edge of chaos against the bias variance",
        "Critical sigma_w^2 against sigma_b^2 for tanh, ELU, SELU, GELU and SiLU, solid where "
        "the fixed point q* is stable, dashed where it repels",
    ),
)


def figure_paths() -> tuple[str, ...]:
    """The files emitted next to report.md (relative to the output directory)."""
    return tuple(f.path for f in FIGURES)


def _latex(expr: Any) -> str:
    return str(sp.latex(expr))


def _n(expr: sp.Expr, digits: int = DIGITS) -> str:
    """An exact SymPy number to ``digits`` significant digits (trailing zeros kept)."""
    with mpmath.workdps(digits + 10):
        value = mpmath.mpf(sp.N(expr, digits + 10))
    return format_sig(value, digits)


def _slope(text: str) -> sp.Expr:
    return sp.sqrt(5) if text == "sqrt(5)" else sp.Rational(text)


def he_forward() -> dict[str, Any]:
    """He et al. eq. 7-10 and 15: E[f(y)^2] integrated, the forward condition, solved."""
    p = he_rule.gaussian_density()
    y, a = he_rule.y, he_rule.slope
    integral = sp.Integral(y**2 * p, (y, 0, sp.oo)) + sp.Integral((a * y) ** 2 * p, (y, -sp.oo, 0))
    rule = he_rule.general_rule("fan_in")
    relu = he_rule.variance_rule(0, "fan_in")
    return {
        "equations": [
            rf"\mathbb{{E}}[f(y)^2] = {_latex(integral)} = "
            + _latex(he_rule.rectifier_second_moment()),
            _latex(he_rule.forward_condition().subs(he_rule.var_w, VAR_W))
            + r" \quad\Longrightarrow\quad "
            + _latex(sp.Eq(VAR_W, rule)),
            rf"a = 0:\quad {_latex(sp.Eq(VAR_W, relu.variance))},\quad "
            rf"\operatorname{{std}}[w] = {_latex(relu.std)},\quad "
            rf"L_{{\mathrm{{uniform}}}} = {_latex(relu.uniform_limit)}",
        ],
        "numbers": _fan_numbers(relu, he_rule.n_in, "n_in"),
    }


def he_backward() -> dict[str, Any]:
    """He et al. eq. 11-14: E[f'(y)^2] integrated, the backward condition, solved; Glorot."""
    p = he_rule.gaussian_density()
    y, a = he_rule.y, he_rule.slope
    integral = sp.Integral(p, (y, 0, sp.oo)) + a**2 * sp.Integral(p, (y, -sp.oo, 0))
    rule = he_rule.general_rule("fan_out")
    relu = he_rule.variance_rule(0, "fan_out")
    glorot = he_rule.variance_rule(1, "fan_avg")
    return {
        "equations": [
            rf"\mathbb{{E}}[f'(y)^2] = {_latex(integral)} = "
            + _latex(he_rule.rectifier_derivative_second_moment()),
            _latex(he_rule.backward_condition().subs(he_rule.var_w, VAR_W))
            + r" \quad\Longrightarrow\quad "
            + _latex(sp.Eq(VAR_W, rule)),
            r"\text{Glorot (}a = 1,\ n = \tfrac{n_{in} + n_{out}}{2}\text{)}:\quad "
            + _latex(sp.Eq(VAR_W, glorot.variance)),
        ],
        "numbers": _fan_numbers(relu, he_rule.n_out, "n_out"),
    }


def _fan_numbers(rule: he_rule.VarianceRule, fan: sp.Symbol, name: str) -> list[dict[str, str]]:
    rows = []
    for n in EXAMPLE_FANS:
        rows.append(
            {
                "fan": f"{name} = {n}",
                "variance": _n(rule.variance.subs(fan, n)),
                "std": _n(rule.std.subs(fan, n)),
                "uniform_limit": _n(rule.uniform_limit.subs(fan, n)),
            }
        )
    return rows


def leaky() -> dict[str, Any]:
    """He et al. eq. 15: the gain sqrt(n Var[w]) = sqrt(2 / (1 + a^2)) for the leaky slope a."""
    gain = sp.simplify(sp.sqrt(he_rule.general_rule("fan_in") * he_rule.n_in))
    rows = []
    for text, where in LEAKY_SLOPES:
        value = _slope(text)
        g = sp.nsimplify(gain.subs(he_rule.slope, value))
        rows.append(
            {
                "slope": "√5" if text == "sqrt(5)" else text,
                "where": where,
                "gain_exact": _latex(g),
                "gain": _n(g),
                "variance_times_fan": _n(g**2),
            }
        )
    return {
        "equations": [rf"\text{{gain}} = \sqrt{{n\,\operatorname{{Var}}[w]}} = {_latex(gain)}"],
        "rows": rows,
    }


def truncnorm_section(digits: int) -> dict[str, Any]:
    """JKB eq. 13.134-13.135 for N(0, 1) on [a, b]: SymPy's integrals, the phi/Phi forms, and
    their values at TensorFlow's [-2, 2]."""
    forms = truncnorm_symbolic.truncnorm_forms()
    display = truncnorm_symbolic.display_forms()
    x, a, b = truncnorm_symbolic.x, truncnorm_symbolic.a, truncnorm_symbolic.b
    phi = truncnorm_symbolic.normal_density()
    z_int = sp.Integral(phi, (x, a, b))
    m = truncnorm_moments("-2", "2", digits)
    values = m.as_dict()
    return {
        "equations": [
            rf"Z = {_latex(z_int)} = {_latex(forms.mass)} = {_latex(display['mass'])}",
            rf"\mu = \frac{{1}}{{Z}}{_latex(sp.Integral(x * phi, (x, a, b)))} = "
            + _latex(display["mean"]),
            rf"\sigma_T^2 = \frac{{1}}{{Z}}{_latex(sp.Integral(x**2 * phi, (x, a, b)))} - \mu^2 = "
            + _latex(display["variance"]),
            rf"s(k) = \sigma_T\big|_{{a=-k,\,b=k}} = {_latex(symmetric_std())}",
        ],
        "numbers": [
            {"name": name, "value": format_sig(values[name], min(DIGITS, digits))}
            for name in ("mass", "mean", "variance", "std", "correction", "excess_kurtosis")
        ],
        "std_float64": repr(float(m.std)),
        "literal_verdict": "the same float64"
        if float(m.std) == float(TF_LITERAL)
        else "a different float64",
    }


def symmetric_std() -> sp.Expr:
    """s(k): the variance's phi/Phi form at a = -k, b = k, with phi(-k) = phi(k) and
    Phi(-k) = 1 - Phi(k)."""
    k = sp.Symbol("k", positive=True)
    phi, Phi = sp.Function("phi"), sp.Function("Phi")
    a, b = truncnorm_symbolic.a, truncnorm_symbolic.b
    variance = truncnorm_symbolic.display_forms()["variance"].subs({a: -k, b: k})
    variance = variance.subs({phi(-k): phi(k), Phi(-k): 1 - Phi(k)})
    return sp.sqrt(sp.simplify(variance))


def _correction_curve() -> list[list[str]]:
    out = []
    k = CURVE_START
    while k <= CURVE_STOP:
        s = truncnorm_moments(-k, k, CURVE_DIGITS).std
        out.append([str(k), repr(float(s))])
        k += CURVE_STEP
    return out


# the depth table's rows drawn in figure 3, with their legend labels
DEPTH_FIGURE: tuple[tuple[str, str], ...] = (
    ("tf_he_normal", "TF/Keras he_normal (truncated at ±2, corrected)"),
    ("truncated_normal_uncorrected_k2", "truncated_normal(stddev=√(2/n)), uncorrected"),
    ("xavier", "Glorot/Xavier uniform on ReLU"),
    ("torch_default_linear", "PyTorch default nn.Linear init on ReLU"),
)


def depth_section() -> dict[str, Any]:
    """derive.maths.depth: the predicted r^L, L = 1..DEPTH_LAYERS, of the initializations figure 3
    measures (the depth table itself is the tables' ``depth``)."""
    from ..maths.depth import depth_table

    by_key = {row.key: row for row in depth_table(DEPTH_LAYERS, digits=CURVE_DIGITS)}
    curves = []
    for key, label in DEPTH_FIGURE:
        r = by_key[key].r
        with mpmath.workdps(CURVE_DIGITS + 5):
            predicted = [repr(float(r**n)) for n in range(1, DEPTH_LAYERS + 1)]
        curves.append(
            {"key": key, "label": label, "ratio_text": format_sig(r, 4), "predicted": predicted}
        )
    return {
        "curves": curves,
        "width": str(DEPTH_WIDTH),
        "batch": str(DEPTH_BATCH),
        "layers": str(DEPTH_LAYERS),
    }


def figure_data(model: Mapping[str, Any], depth: dict[str, Any]) -> dict[str, Any]:
    """Plain strings the figures are drawn from (derive.emit.figures parses them back)."""
    m2 = truncnorm_moments("-2", "2", CURVE_DIGITS)
    tail = truncnorm_moments(TAIL[0], TAIL[1], CURVE_DIGITS)
    with mpmath.workdps(40):
        cdf = [mpmath.ncdf(mpmath.mpf(t)) for t in TAIL]
        s2_pow48 = m2.variance**24
    s2 = m2.std
    return {
        "depth": depth["curves"],
        "s2": repr(float(s2)),
        "mass2": repr(float(m2.mass)),
        "s2_text": format_sig(s2, 8),
        "s2_squared_text": format_sig(m2.variance, 6),
        "s2_pow48_text": format_sig(s2_pow48, 4),
        "correction2_text": format_sig(m2.correction, 8),
        "tf_literal": model["reference"]["tf_literal"],
        "correction_curve": _correction_curve(),
        "symmetric_points": [
            [row["upper"], row["values"]["std"]["float64_repr"]] for row in model["symmetric"]
        ],
        "tail": {
            "lower": TAIL[0],
            "upper": TAIL[1],
            "mass": repr(float(tail.mass)),
            "std": repr(float(tail.std)),
            "cdf_lower": repr(round_float32(cdf[0])),
            "cdf_upper": repr(round_float32(cdf[1])),
        },
    }


# the critical line's figure: these activations, each swept along q* (module docstring of
# derive.maths.critical: sigma_w^2 = 1 / D(q), sigma_b^2 = q - V(q) / D(q)) on q = START * RATIO^k
CRITICAL_FIGURE: tuple[str, ...] = ("tanh", "elu", "selu", "gelu", "silu")
CRITICAL_CURVE_START = "0.001"
CRITICAL_CURVE_RATIO = "1.3"
CRITICAL_CURVE_POINTS_MAX = 200
CRITICAL_FIGURE_DEFAULT_MAX_BIAS = "0.2"  # when the spec's bias variances are all 0
CRITICAL_TABLE_DIGITS = 8  # digits of sigma_w^2 in the report's table


def critical_curve(name: str, max_bias: mpmath.mpf) -> list[list[str]]:
    """Points (sigma_b^2, sigma_w^2, "stable" | "unstable") of the critical line of a built-in,
    parametrized by q* (every q > 0 with q - V(q)/D(q) >= 0 is the critical q* of the bias
    variance sigma_b^2 = q - V(q)/D(q), at sigma_w^2 = 1/D(q); stable where
    |T'(q)| = |V'(q)| / D(q) < 1), from q* = 0 (when f(0) = 0: sigma_w^2 = 1/D(0)) until
    sigma_b^2 passes ``max_bias``; to CURVE_DIGITS digits (a plot)."""
    from ..maths.activations import builtin
    from ..maths.meanfield import (
        ROUGH_DIGITS,
        ROUGH_DPS,
        ROUGH_SPAN,
        length_map,
        one_sided_derivative_square,
    )

    act = builtin(name)
    points: list[list[str]] = []
    with mpmath.workdps(ROUGH_DPS):
        if act.f(mpmath.mpf(0)) == 0:
            d0 = one_sided_derivative_square(act, ROUGH_DPS)
            points.append(["0", format_sig(1 / d0, 8), "marginal"])
        q = mpmath.mpf(CRITICAL_CURVE_START)
        ratio = mpmath.mpf(CRITICAL_CURVE_RATIO)
        for _ in range(CRITICAL_CURVE_POINTS_MAX):
            lm = length_map(act, q, ROUGH_DIGITS, ROUGH_DPS, ROUGH_SPAN)
            b2 = q - lm.V / lm.D
            if b2 >= 0:
                verdict = "stable" if abs(lm.dV / lm.D) < 1 else "unstable"
                points.append([format_sig(b2, 8), format_sig(1 / lm.D, 8), verdict])
            if b2 > max_bias:
                break
            q *= ratio
    return points


def critical_section(critical: dict[str, Any]) -> dict[str, Any]:
    """The report's critical-line table (activations by bias variance, sigma_w^2 to
    CRITICAL_TABLE_DIGITS digits with the verdict) and the figure's curves and markers."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in critical["rows"]:
        by_name.setdefault(row["name"], []).append(row)
    table = []
    for rows in by_name.values():
        cells = []
        for row in rows:
            if row["status"] == "none":
                cells.append("none")
                continue
            texts = []
            for p in row["points"]:
                w2 = format_sig(mpmath.mpf(p["weight_variance"]["decimal"]), CRITICAL_TABLE_DIGITS)
                where = "every q" if p["q_star"]["kind"] == "any" else p["stability"]
                texts.append(f"{w2} ({where})")
            cells.append("; ".join(texts))
        table.append({"label": rows[0]["label"], "cells": cells})
    values = [mpmath.mpf(v) for v in critical["bias_variances"]]
    top = max(values, default=mpmath.mpf(0))
    max_bias = top if top > 0 else mpmath.mpf(CRITICAL_FIGURE_DEFAULT_MAX_BIAS)
    curves = []
    for name in CRITICAL_FIGURE:
        rows = by_name.get(name, [])
        markers = [
            [row["bias_variance"], p["weight_variance"]["float64_repr"], p["stability"]]
            for row in rows
            for p in row["points"]
            if p["weight_variance"]["kind"] == "finite"
        ]
        label = rows[0]["label"] if rows else name
        curves.append(
            {
                "name": name,
                "label": label,
                "points": critical_curve(name, max_bias),
                "markers": markers,
            }
        )
    return {
        "table": table,
        "max_bias": format_sig(max_bias, 6),
        "curves": curves,
        "curve_ratio": CRITICAL_CURVE_RATIO,
        "curve_start": CRITICAL_CURVE_START,
        "table_digits": str(CRITICAL_TABLE_DIGITS),
    }


def report_model(spec: Spec, model: Mapping[str, Any]) -> dict[str, Any]:
    """Everything report.md.j2 prints beyond the tables' model, plus the figures' data."""
    figures = [{"name": f.name, "path": f.path, "title": f.title, "alt": f.alt} for f in FIGURES]
    m2 = truncnorm_moments("-2", "2", DIGITS)
    tail = truncnorm_moments(TAIL[0], TAIL[1], DIGITS)
    depth = depth_section()
    critical = critical_section(model["critical"])
    with mpmath.workdps(DIGITS + 10):
        he_cutoff = 2 * m2.correction  # TF's he_normal cutoff in units of the wanted std
    return {
        "depth": depth,
        "matplotlib": f"matplotlib {importlib.metadata.version('matplotlib')}",
        "digits_shown": str(min(DIGITS, spec.digits)),
        "he_cutoff_text": format_sig(he_cutoff, 6),
        "curve_step": str(CURVE_STEP),
        "tail_samples": str(TAIL_SAMPLES),
        "tail_mass_text": format_sig(tail.mass, 8),
        "figures_by_name": {f["name"]: f for f in figures},
        "he_forward": he_forward(),
        "he_backward": he_backward(),
        "leaky": leaky(),
        "truncnorm": truncnorm_section(spec.digits),
        "figures": figures,
        "figure_data": {**figure_data(model, depth), "critical": critical},
        "critical": critical,
    }
