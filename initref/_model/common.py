"""What the model-level functions share, whatever the framework.

* The catalogue of known rules (:data:`RULES`): the std each common initialization gives a
  layer, as a function of its fans, with every constant taken from the generated tables.
* The match of a measured std to a rule (:func:`match_rules`): the sample root mean square
  ``s`` of n weights has the relative standard error ``sqrt(Var[w^2] / n) / (2 E[w^2])``
  (``= sqrt((kurtosis_excess + 2) / (4 n))``, estimated from the sample's own fourth moment);
  a rule matches when ``|s / s_rule - 1| < 4`` standard errors.  Several rules with distinct
  stds inside the band are reported as ambiguous, none as no match: never a guess.
* The per-layer second-moment factor ``r = E[w^2] fan_in / g^2`` (``g^2`` = 1 / E[f(z)^2] of the
  activation that follows the layer, VARIANCE_GAINS): the factor by which the layer multiplies
  the signal's second moment relative to the variance-preserving init, and ``r^L``, the product
  over the layers (the second moment at depth, relative to what the variance-preserving init
  keeps, for a plain chain of layers without biases; exact in expectation at any width for the
  ReLU family).
* The stability of the second moment at the chosen point, from the mean-field tables:
  CRITICAL (with biases at the critical point) and VARIANCE_PRESERVING_SLOPE (no bias, the
  derived gain: q* = 1 with slope T'(1)).
* The report types and their text, dict and figure.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._generated import constants  # the generated tables (initref.constants)
from .._generated import numpy_init as _np_init

# A match is a measured std within this many standard errors of a rule's std.
MATCH_Z = 4.0

# The layer kinds the model-level functions initialize.
KINDS = ("linear", "conv", "conv_transpose", "embedding")

_S2 = constants.TRUNCNORM[(-2.0, 2.0)]  # N(0, 1) truncated to [-2, 2]


@dataclass(frozen=True)
class KnownRule:
    """A known initialization: ``Var[w] = scale / fan`` (``fan`` "fan_in", "fan_out",
    "fan_avg"), or ``Var[w] = scale`` whatever the fans (``fan`` "none")."""

    name: str
    fan: str
    scale: float
    description: str

    def variance(self, fan_in: float, fan_out: float) -> float:
        if self.fan == "none":
            return self.scale
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        return self.scale / fan[self.fan]


def _truncated_variance(k: float) -> float:
    return float(constants.TRUNCNORM[(-k, k)].variance)


# std 0.02 with torch's absolute cutoffs +-2 = +-100 sigma: the std after truncation is
# 0.02 s(100), s from the generated float64 snippet (s(100) rounds to 1)
_STD_002 = 0.02 * _np_init.truncnorm_moments(-100.0, 100.0)[1]

RULES: tuple[KnownRule, ...] = (
    KnownRule(
        "he",
        "fan_in",
        _np_init.HE_SCALE,
        "He, Var = 2/fan_in: torch kaiming_normal_/kaiming_uniform_, TF/Keras/JAX he_normal "
        "(std after truncation), initref",
    ),
    KnownRule("he_fan_out", "fan_out", _np_init.HE_SCALE, "He with fan_out, Var = 2/fan_out"),
    KnownRule(
        "he_std_before_truncation",
        "fan_in",
        _np_init.HE_SCALE * _truncated_variance(2.0),
        "He by hand with the std before truncation: truncated_normal(stddev=sqrt(2/fan_in)) "
        f"cut at +-2 sigma, std x {_S2.std:.4f} (the seed's trap)",
    ),
    KnownRule(
        "torch_default",
        "fan_in",
        # r = Var fan_in / 2 of the ReLU depth table, times He's 2: Var = 1/(3 fan_in)
        constants.DEPTH_R["torch_default_linear"][0] * _np_init.HE_SCALE,
        "PyTorch's nn.Linear/nn.Conv default kaiming_uniform_(a=sqrt(5)) = "
        "U(+-1/sqrt(fan_in)), Var = 1/(3 fan_in)",
    ),
    KnownRule(
        "glorot",
        "fan_avg",
        _np_init.GLOROT_SCALE,
        "Glorot/Xavier, Var = 2/(fan_in + fan_out): Keras Dense/Conv default glorot_uniform",
    ),
    KnownRule(
        "lecun",
        "fan_in",
        _np_init.LECUN_SCALE,
        "LeCun, Var = 1/fan_in: Flax Dense/Conv default lecun_normal (std after truncation)",
    ),
    KnownRule(
        "lecun_std_before_truncation",
        "fan_in",
        _np_init.LECUN_SCALE * _truncated_variance(2.0),
        "LeCun with the std before truncation: Haiku hk.Linear default "
        "TruncatedNormal(1/sqrt(fan_in)), cut at +-2 sigma",
    ),
    KnownRule(
        "std_0.02",
        "none",
        _STD_002 * _STD_002,
        "std 0.02 whatever the fan: trunc_normal_(std=0.02) with torch's absolute cutoffs +-2 "
        "(+-100 sigma, no truncation), or normal_(0, 0.02)",
    ),
    KnownRule("std_1", "none", 1.0, "std 1 whatever the fan: torch nn.Embedding default N(0, 1)"),
    KnownRule(
        "keras_embedding_default",
        "none",
        0.05 * 0.05 / 3.0,
        "Keras Embedding default uniform(-0.05, 0.05), Var = 0.05^2/3",
    ),
)
RULES_BY_NAME: dict[str, KnownRule] = {r.name: r for r in RULES}

# Shapes of the weight law, told apart by the excess kurtosis of the sample.
SHAPES: tuple[tuple[str, float], ...] = (
    ("normal", 0.0),
    ("truncated_normal(+-2 sigma)", _S2.excess_kurtosis),
    ("uniform", -1.2),  # (9/5) - 3, exactly
)


# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """The activation that follows a layer, resolved: ``name`` is a key of the gain tables
    (or "gain" for a number given by the user), ``variance_gain`` is ``g**2``."""

    name: str
    label: str
    variance_gain: float


def builtin(name: str, variance_gains: Mapping[str, float]) -> Activation:
    return Activation(name, name, variance_gains[name])


class Unknown:
    """An operation after a layer that decides nothing (an unknown function, a reduction, a
    product of two signals): the layer is ambiguous through it; ``what`` names it."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return self.what

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and other.what == self.what

    def __hash__(self) -> int:
        return hash(self.what)


LINEAR = "linear"  # what the next weighted layer or the model's output means


def verdict(outcomes: Collection[object], variance_gains: Mapping[str, float]) -> Activation | str:
    """The activation a layer's output reaches, from what each path forward from it reaches
    (an Activation, LINEAR or an Unknown), or why it is ambiguous (a message: "its output
    reaches ...")."""
    unknown = sorted(repr(o) for o in outcomes if isinstance(o, Unknown))
    decided = {o for o in outcomes if not isinstance(o, Unknown)}
    if unknown:
        return f"its output reaches {', '.join(unknown)}"
    if len(decided) == 1:
        (only,) = decided
        if only == LINEAR:
            return builtin(LINEAR, variance_gains)
        if isinstance(only, Activation | str):
            return only
    labels = sorted(o.label if isinstance(o, Activation) else str(o) for o in decided)
    return f"its output reaches several activations ({', '.join(labels)})"


def leaky_relu(slope: float, variance_gains: Mapping[str, float]) -> Activation:
    """The leaky ReLU of negative slope ``slope``: the table's entry at its default slope,
    else E[f(z)^2] = (1 + a^2) / 2 (He et al. 2015, eq. 15) in closed form."""
    if slope == 0.01:
        return builtin("leaky_relu", variance_gains)
    if slope == 0.0:
        return builtin("relu", variance_gains)
    return Activation("leaky_relu", f"leaky_relu({slope!r})", 2.0 / (1.0 + slope * slope))


def resolve(value: object, variance_gains: Mapping[str, float], where: str) -> Activation:
    """A user's activation: a built-in name or a positive number (the gain g)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(
            f"{where}: {value!r} is not an activation (accepted: {', '.join(variance_gains)}, "
            "or a gain g > 0 as a number)"
        )
    if isinstance(value, str):
        if value in variance_gains:
            return builtin(value, variance_gains)
        hint = _np_init._name_hint(value, tuple(variance_gains))  # the generated files' hint
        raise ValueError(
            f"{where}: {value!r} is not a built-in activation{hint} "
            f"(accepted: {', '.join(variance_gains)}, or a gain g > 0 as a number)"
        )
    g = float(value)
    if not (math.isfinite(g) and g > 0):
        raise ValueError(f"{where}: {value!r} is out of range (accepted: a gain g > 0)")
    return Activation("gain", f"gain={g!r}", g * g)


def check_activation_map(
    activations: Mapping[str, object] | None,
    names: Sequence[str],
    variance_gains: Mapping[str, float],
) -> dict[str, Activation]:
    """The user's map {layer name: activation}, every key a layer of the model."""
    if activations is None:
        return {}
    if not isinstance(activations, Mapping):
        raise TypeError(
            f"activations: {type(activations).__name__} is not a mapping "
            "(accepted: {layer name: activation})"
        )
    unknown = sorted(set(activations) - set(names))
    if unknown:
        shown = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
        raise ValueError(
            f"activations: {', '.join(map(repr, unknown))} name no initializable layer "
            f"(accepted: {shown})"
        )
    return {k: resolve(v, variance_gains, f"activations[{k!r}]") for k, v in activations.items()}


# ---------------------------------------------------------------------------------------------
# the point: weight and bias variances, stability
# ---------------------------------------------------------------------------------------------


def check_bias_variance(bias_variance: object, critical: bool) -> float:
    if isinstance(critical, bool) is False:
        raise TypeError(f"critical: {critical!r} is not a bool (accepted: True, False)")
    if bias_variance is None:
        if critical:
            raise ValueError(
                "bias_variance: None with critical=True (accepted: one of "
                f"{constants.CRITICAL_BIAS_VARIANCES}, the tabulated critical line)"
            )
        return 0.0
    if isinstance(bias_variance, bool) or not isinstance(bias_variance, int | float):
        raise TypeError(
            f"bias_variance: {bias_variance!r} is not a real number (accepted: a float >= 0)"
        )
    b2 = float(bias_variance)
    if not (math.isfinite(b2) and b2 >= 0):
        raise ValueError(f"bias_variance: {bias_variance!r} is out of range (accepted: >= 0)")
    if critical and b2 not in constants.CRITICAL_BIAS_VARIANCES:
        raise ValueError(
            f"bias_variance: {bias_variance!r} is not on the tabulated critical line "
            f"(accepted with critical=True: {constants.CRITICAL_BIAS_VARIANCES})"
        )
    return b2


def critical_point(act: Activation, bias_variance: float, layer: str) -> Any:
    """The tabulated critical point of ``act`` at sigma_b^2 = ``bias_variance``."""
    if act.name == "gain" or act.label != act.name:
        raise ValueError(
            f"{layer}: critical=True needs a tabulated activation at its default parameter, "
            f"not {act.label} (accepted: {', '.join(sorted({k for k, _ in constants.CRITICAL}))})"
        )
    points = constants.CRITICAL[(act.name, bias_variance)]
    if not points:
        raise ValueError(
            f"{layer}: {act.name} has no critical point at bias_variance={bias_variance!r} "
            f"(python -m derive critical {act.name} --bias-variance {bias_variance!r} says why)"
        )
    stable = [p for p in points if p.stability == "stable"]
    if len(points) > 1 and len(stable) != 1:
        raise ValueError(
            f"{layer}: {act.name} has {len(points)} critical points at bias_variance="
            f"{bias_variance!r} and no single stable one (accepted: an unambiguous point)"
        )
    return stable[0] if len(points) > 1 else points[0]


@dataclass(frozen=True)
class Point:
    """Where a layer's weights and biases put the signal: Var[w] = weight_variance / fan,
    biases N(0, bias_variance)."""

    weight_variance: float
    bias_variance: float
    critical: Any | None


def point(act: Activation, bias_variance: float, critical: bool, layer: str) -> Point:
    """The layer's point.  With ``critical``, a layer followed by no activation ("linear": a
    readout, or a layer feeding another layer) is not part of the mean-field recursion: it
    keeps the variance-preserving gain 1 and a zero bias."""
    if critical and act.name == "linear" and act.label == "linear":
        return Point(act.variance_gain, 0.0, None)
    if critical:
        p = critical_point(act, bias_variance, layer)
        return Point(p.weight_variance, bias_variance, p)
    return Point(act.variance_gain, bias_variance, None)


@dataclass(frozen=True)
class Stability:
    """The second moment's fixed point for one activation at the chosen point (mean-field,
    infinite width): q* (pre-activation second moment; None: every q), the length map's slope
    T'(q*), the verdict (stable, marginal, unstable, neutral, or not tabulated) and
    slope**layers, the factor by which a small deviation of q from q* changes over the
    layers that use this activation."""

    activation: str
    layers: int
    weight_variance: float
    bias_variance: float
    q_star: float | None
    slope: float | None
    stability: str
    xi_q: float | None
    growth_over_layers: float | None
    source: str


def _verdict(slope: float) -> str:
    if slope < 1.0:
        return "stable"
    return "neutral" if slope == 1.0 else "unstable"


def stability(act: Activation, pt: Point, layers: int) -> Stability:
    """From CRITICAL at a critical point, from VARIANCE_PRESERVING_SLOPE at the derived gain
    without bias; anything else is not tabulated (said so, never estimated)."""
    if pt.critical is not None:
        c = pt.critical
        return Stability(
            act.label,
            layers,
            pt.weight_variance,
            pt.bias_variance,
            c.q_star,
            c.slope,
            c.stability,
            c.xi_q,
            c.slope**layers,
            f"constants.CRITICAL[({act.name!r}, {pt.bias_variance!r})]",
        )
    if pt.bias_variance == 0.0 and act.name in constants.VARIANCE_PRESERVING_SLOPE:
        if act.label == act.name:
            slope = constants.VARIANCE_PRESERVING_SLOPE[act.name]
            verdict = _verdict(slope)
            q_star: float | None = None if verdict == "neutral" else 1.0
            xi = None if slope >= 1.0 else -1.0 / math.log(slope) if slope > 0 else 0.0
            if verdict == "neutral":
                xi = math.inf
            return Stability(
                act.label,
                layers,
                pt.weight_variance,
                0.0,
                q_star,
                slope,
                verdict,
                xi,
                slope**layers,
                f"constants.VARIANCE_PRESERVING_SLOPE[{act.name!r}]",
            )
        if act.name == "leaky_relu":  # any slope: positively homogeneous, every q fixed
            return Stability(
                act.label,
                layers,
                pt.weight_variance,
                0.0,
                None,
                1.0,
                "neutral",
                math.inf,
                1.0,
                "homogeneous of degree 1",
            )
    return Stability(
        act.label,
        layers,
        pt.weight_variance,
        pt.bias_variance,
        None,
        None,
        "not tabulated",
        None,
        None,
        "no table for this point (use critical=True for a tabulated one)",
    )


# ---------------------------------------------------------------------------------------------
# measuring weights
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moments:
    """Raw moments of a layer's weights (about 0): count and E[w], E[w^2], E[w^4], E[w^6],
    E[w^8] as float64."""

    count: int
    m1: float
    m2: float
    m4: float
    m6: float
    m8: float

    @property
    def rms(self) -> float:
        return math.sqrt(self.m2)

    @property
    def relative_se(self) -> float:
        """Relative standard error of the sample RMS: sqrt(Var[w^2] / n) / (2 E[w^2])."""
        if self.count < 2 or self.m2 == 0.0:
            return math.inf
        return math.sqrt(max(self.m4 - self.m2 * self.m2, 0.0) / self.count) / (2.0 * self.m2)

    @property
    def excess_kurtosis(self) -> float:
        return self.m4 / (self.m2 * self.m2) - 3.0 if self.m2 > 0 else math.nan

    @property
    def kurtosis_se(self) -> float:
        """Standard error of the excess kurtosis m4/m2^2 - 3 (delta method, the sample's own
        moments up to the eighth)."""
        if self.count < 2 or self.m2 == 0.0:
            return math.inf
        a = 1.0 / self.m2**2
        b = 2.0 * self.m4 / self.m2**3
        var = (
            a * a * (self.m8 - self.m4**2)
            - 2.0 * a * b * (self.m6 - self.m4 * self.m2)
            + b * b * (self.m4 - self.m2**2)
        )
        return math.sqrt(max(var, 0.0) / self.count)


def moments_of(values: Any) -> Moments:
    """Moments of a NumPy array (the framework modules compute them on the device)."""
    import numpy as np

    w = np.asarray(values, dtype=np.float64).ravel()
    if w.size == 0:
        return Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    w2 = w * w
    w4 = w2 * w2
    return Moments(
        int(w.size),
        float(w.mean()),
        float(w2.mean()),
        float(w4.mean()),
        float((w4 * w2).mean()),
        float((w4 * w4).mean()),
    )


@dataclass(frozen=True)
class RuleMatch:
    rule: str
    std: float
    z: float


# activations whose derived gain is already a rule above (He, LeCun) or He to 1e-4
_GAIN_IS_A_RULE = ("linear", "relu", "leaky_relu", "selu")


def gain_rule(act: Activation) -> KnownRule | None:
    """initref's own rule for the activation after the layer, Var = g^2 / fan_in, where it is
    not one of RULES already (it is considered only for layers followed by that activation:
    ELU's g^2 = 1.5505 is the trap's 2 s(2)^2 = 1.5475 to 0.2%)."""
    if act.name in _GAIN_IS_A_RULE and act.label == act.name:
        return None
    return KnownRule(
        "initref_gain",
        "fan_in",
        act.variance_gain,
        "initref's derived gain for the activation after the layer, Var = g^2/fan_in",
    )


def match_rules(
    m: Moments, fan_in: float, fan_out: float, act: Activation | None = None
) -> tuple[RuleMatch, ...]:
    """Every rule whose std is within MATCH_Z standard errors of the measured RMS, nearest
    first (with ``act``, initref's gain for it as well)."""
    se = m.relative_se
    found = []
    extra = gain_rule(act) if act is not None else None
    for rule in (*RULES, *([extra] if extra else [])):
        std = math.sqrt(rule.variance(fan_in, fan_out))
        z = (m.rms / std - 1.0) / se if se > 0 else (0.0 if m.rms == std else math.inf)
        if abs(z) < MATCH_Z:
            found.append(RuleMatch(rule.name, std, z))
    return tuple(sorted(found, key=lambda x: (abs(x.z), x.rule)))


def verdict_of(matches: Sequence[RuleMatch], m: Moments, fan_in: float) -> tuple[str | None, str]:
    """(the rule, or None; the words).  Rules with the same std (e.g. he and he_fan_out when
    fan_in = fan_out) are one answer, named together; distinct stds in the band are ambiguous."""
    he = math.sqrt(_np_init.HE_SCALE / fan_in) if fan_in > 0 else math.nan
    if not matches:
        return None, f"no known rule (std = {m.rms / he:.4g} x He's sqrt(2/fan_in))"
    stds = sorted({x.std for x in matches})
    if stds[-1] - stds[0] <= 1e-12 * stds[-1]:
        name = " = ".join(x.rule for x in matches)
        return name, f"matches {name}"
    return None, "ambiguous: " + " or ".join(x.rule for x in matches) + " (too few weights)"


def shapes_of(m: Moments) -> tuple[str, ...]:
    """The law shapes whose excess kurtosis is within MATCH_Z standard errors of the sample's."""
    se = m.kurtosis_se
    k = m.excess_kurtosis
    return tuple(name for name, value in SHAPES if se > 0 and abs(k - value) < MATCH_Z * se)


# ---------------------------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------------------------


def _g(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class LayerInit:
    """One initialized (or skipped) layer: ``std`` is the weights' std after truncation,
    ``sqrt(weight_variance / fan) * residual_factor``; ``gain`` is ``sqrt(weight_variance)``
    (the activation's derived gain, or the critical sigma_w)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    fan_in: int
    fan_out: int
    activation: str
    found_by: str
    rule: str
    weight_variance: float
    gain: float
    std: float
    bias_std: float | None
    residual_factor: float
    skipped: str | None = None


def skipped_layer(
    name: str, kind: str, shape: tuple[int, ...], activation: str, found_by: str
) -> LayerInit:
    """A zero-size layer: reported, not initialized (nothing to draw)."""
    return LayerInit(
        name, kind, shape, 0, 0, activation, found_by, "", 0.0, 0.0, 0.0, None, 1.0,
        "skipped: zero-size",
    )  # fmt: skip


def initialized_layer(
    name: str,
    kind: str,
    shape: tuple[int, ...],
    fans: tuple[int, int],
    activation: str,
    found_by: str,
    point: Point,
    draw: tuple[str, str, float, float],
    std: float,
    bias_std: float | None,
    factor: float,
) -> LayerInit:
    """The report row of an initialized layer; ``draw`` is (mode, distribution, lower,
    upper) as given to the framework module's variance_scaling."""
    mode, distribution, lower, upper = draw
    cut = "" if distribution != "truncated_normal" else f" [{lower:g}, {upper:g}]"
    rule = (
        f"critical sigma_w^2, {mode}" if point.critical else f"g^2 = {activation}, {mode}"
    ) + f", {distribution}{cut}"
    return LayerInit(
        name, kind, shape, fans[0], fans[1], activation, found_by, rule,
        point.weight_variance, math.sqrt(point.weight_variance), std, bias_std, factor,
    )  # fmt: skip


@dataclass(frozen=True)
class InitReport:
    """What initialize did: per layer (name, fans, activation and how it was found, rule,
    std, gain, bias std), per activation the stability of the second moment."""

    framework: str
    layers: tuple[LayerInit, ...]
    stability: tuple[Stability, ...]
    untouched: tuple[str, ...] = ()
    residual_adds: int = 0
    params: Any = field(default=None, repr=False, compare=False)  # linen: the new variables

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (without ``params``)."""
        return {k: v for k, v in asdict(self).items() if k != "params"}

    def table(self) -> str:
        rows = [
            [
                x.name,
                x.kind,
                "x".join(map(str, x.shape)),
                str(x.fan_in),
                x.activation + ("" if x.found_by == "traced" else f" ({x.found_by})"),
                x.skipped or x.rule,
                "-" if x.skipped else f"{x.std:.4g}",
                "-" if x.skipped else f"{x.gain:.4g}",
                "-" if x.bias_std is None else f"{x.bias_std:.4g}",
                "" if x.residual_factor == 1.0 else f"x{x.residual_factor:.4g}",
            ]
            for x in self.layers
        ]
        heads = [
            "layer",
            "kind",
            "shape",
            "fan_in",
            "activation",
            "rule",
            "std",
            "gain",
            "bias",
            "residual",
        ]
        parts = [
            f"initref initialize ({self.framework}): {len(self.layers)} layers",
            _table(heads, rows),
            "",
            "stability of the second moment (mean field):",
        ]
        srows = [
            [
                s.activation,
                str(s.layers),
                f"{s.weight_variance:.6g}",
                f"{s.bias_variance:.6g}",
                "any" if s.q_star is None and s.stability == "neutral" else _g(s.q_star, 6),
                _g(s.slope, 6),
                s.stability,
                _g(s.growth_over_layers, 4),
                s.source,
            ]
            for s in self.stability
        ]
        parts.append(
            _table(
                [
                    "activation",
                    "layers",
                    "sigma_w^2",
                    "sigma_b^2",
                    "q*",
                    "slope",
                    "verdict",
                    "slope^layers",
                    "from",
                ],
                srows,
            )
        )
        if self.untouched:
            parts.append("left as they were: " + ", ".join(self.untouched))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.table()


@dataclass(frozen=True)
class LayerDiagnosis:
    """One layer's weights as found: RMS std against the fan, the rules it matches, the shape
    of its law, and ``r``, its second-moment factor relative to the variance-preserving init
    for the activation after it (``rule_r``: the same for the matched rule's exact std)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    fan_in: int
    fan_out: int
    count: int
    activation: str
    std: float
    mean: float
    relative_se: float
    excess_kurtosis: float
    matches: tuple[RuleMatch, ...]
    rule: str | None
    verdict: str
    shapes: tuple[str, ...]
    r: float
    rule_r: float | None
    bias_std: float | None


@dataclass(frozen=True)
class DiagnoseReport:
    """Per layer the diagnosis; ``depth_ratio`` is the product of the layers' r (the predicted
    second moment at the last layer relative to the variance-preserving init, for a plain
    chain); ``rule_depth_ratio`` the same from the matched rules' exact stds (None unless every
    layer matched one rule)."""

    framework: str
    layers: tuple[LayerDiagnosis, ...]
    skipped: tuple[str, ...]
    depth_ratio: float
    rule_depth_ratio: float | None
    rules: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        rows = [
            [
                x.name,
                "x".join(map(str, x.shape)),
                str(x.fan_in),
                x.activation,
                f"{x.std:.4g}",
                f"{x.std / math.sqrt(_np_init.HE_SCALE / x.fan_in):.4f}",
                x.verdict,
                ",".join(s.split("(")[0] for s in x.shapes) or "-",
                f"{x.r:.4f}",
            ]
            for x in self.layers
        ]
        heads = ["layer", "shape", "fan_in", "activation", "std", "std/He", "rule", "law", "r"]
        parts = [
            f"initref diagnose ({self.framework}): {len(self.layers)} layers",
            _table(heads, rows),
        ]
        n = len(self.layers)
        parts.append(
            f"predicted second moment at depth {n} relative to the variance-preserving init: "
            f"r^{n} = {self.depth_ratio:.4g} (from the weights)"
            + (
                ""
                if self.rule_depth_ratio is None
                else f", {self.rule_depth_ratio:.4g} (from the matched rules)"
            )
        )
        for name in self.rules:
            known = RULES_BY_NAME.get(name)
            text = known.description if known else "initref's derived gain, Var = g^2/fan_in"
            parts.append(f"  {name}: {text}")
        if self.skipped:
            parts.append("skipped (zero-size): " + ", ".join(self.skipped))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.table()

    def figure(self, path: str | Path | None = None) -> Any:
        """matplotlib Figure of the predicted second moment r_1 ... r_l against the layer l
        (from the weights, and from the matched rules where every layer matched one), with 1,
        the variance-preserving line; saved to ``path`` when given."""
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg", force=False)
            from matplotlib.figure import Figure
        except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
            raise ImportError(f"figure: matplotlib is needed ({exc})") from None
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        depth = range(1, len(self.layers) + 1)
        ax.semilogy(
            list(depth),
            cumulative([x.r for x in self.layers]),
            "o-",
            ms=3,
            label="predicted from the weights",
        )
        if self.rule_depth_ratio is not None:
            rule_r = [x.rule_r for x in self.layers]
            ax.semilogy(
                list(depth),
                cumulative([r for r in rule_r if r is not None]),
                "--",
                label="from the matched rules",
            )
        ax.axhline(1.0, color="grey", lw=0.8, label="variance-preserving")
        ax.set_xlabel("layer l")
        ax.set_ylabel("second moment relative to variance-preserving, r^l")
        ax.set_title(f"initref diagnose ({self.framework})")
        ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


def cumulative(values: Sequence[float]) -> list[float]:
    out, p = [], 1.0
    for v in values:
        p *= v
        out.append(p)
    return out


def diagnose_layer(
    *,
    name: str,
    kind: str,
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    moments: Moments,
    act: Activation,
    bias_std: float | None,
) -> LayerDiagnosis:
    """The diagnosis of one non-empty layer."""
    matches = match_rules(moments, fan_in, fan_out, act)
    rule, words = verdict_of(matches, moments, fan_in)
    r = moments.m2 * fan_in / act.variance_gain
    rule_r = None
    if rule is not None:
        rule_r = matches[0].std ** 2 * fan_in / act.variance_gain
    return LayerDiagnosis(
        name=name,
        kind=kind,
        shape=shape,
        fan_in=fan_in,
        fan_out=fan_out,
        count=moments.count,
        activation=act.label,
        std=moments.rms,
        mean=moments.m1,
        relative_se=moments.relative_se,
        excess_kurtosis=moments.excess_kurtosis,
        matches=matches,
        rule=rule,
        verdict=words,
        shapes=shapes_of(moments),
        r=r,
        rule_r=rule_r,
        bias_std=bias_std,
    )


def diagnose_report(
    framework: str, layers: Sequence[LayerDiagnosis], skipped: Sequence[str]
) -> DiagnoseReport:
    depth = math.prod(x.r for x in layers)
    rule_rs = [x.rule_r for x in layers]
    rule_depth = None
    if layers and all(r is not None for r in rule_rs):
        rule_depth = math.prod(r for r in rule_rs if r is not None)
    names = sorted({m.rule for x in layers for m in x.matches if x.rule is not None})
    return DiagnoseReport(framework, tuple(layers), tuple(skipped), depth, rule_depth, tuple(names))


def stabilities(
    used: Sequence[tuple[Activation, Point]],
) -> tuple[Stability, ...]:
    """One Stability per distinct (activation, point), counting its layers, sorted by name."""
    counts: dict[tuple[Activation, Point], int] = {}
    for key in used:
        counts[key] = counts.get(key, 0) + 1
    return tuple(
        sorted(
            (stability(a, p, n) for (a, p), n in counts.items()),
            key=lambda s: (s.activation, s.bias_variance),
        )
    )


def check_choice(name: str, value: object, accepted: Sequence[str]) -> str:
    """``value`` if it is one of ``accepted`` (exact), else the generated files' one-line
    ValueError with its close-match hint."""
    if not isinstance(value, str) or value not in accepted:
        raise _np_init._unknown_name(name, value, tuple(accepted))
    return value


def check_default_activation(
    value: object, variance_gains: Mapping[str, float]
) -> Activation | None:
    if value is None:
        return None
    return resolve(value, variance_gains, "default_activation")
