"""``initialize`` and ``diagnose`` for a Keras 3 model (exported by :mod:`initref.keras`).

The activation after each ``Dense``, ``Conv1D/2D/3D``, ``Conv*Transpose`` and ``Embedding`` is
read from the layer's config (``activation=``) and, when that is linear, from the layers its
output feeds in the model's graph: through shape-only and normalizing layers (Dropout,
Flatten, Reshape, Permute, pooling, padding, upsampling, batch/layer/group normalization,
Add, Concatenate) to the first activation (an ``Activation`` layer, ``ReLU``, ``LeakyReLU``,
``ELU``, or the next layer's own ``activation=``, which applies after that layer's weights
and so does not count: the next weighted layer means "linear").  Anything else on the way is
ambiguous: name the layer in ``activations=`` or give ``default_activation=``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from .._generated import tf_init as _init
from . import common
from .common import Activation

VARIANCE_GAINS: dict[str, float] = _init.VARIANCE_GAINS

_L = keras.layers
_CONV = (_L.Conv1D, _L.Conv2D, _L.Conv3D)
_CONV_T = (_L.Conv1DTranspose, _L.Conv2DTranspose, _L.Conv3DTranspose)
_LAYERS: tuple[type[Any], ...] = (_L.Dense, *_CONV, *_CONV_T, _L.Embedding)
_PASS: tuple[type[Any], ...] = tuple(
    getattr(_L, name)
    for name in (
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianDropout",
        "AlphaDropout",
        "Flatten",
        "Reshape",
        "Permute",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "Add",
        "Concatenate",
        "Identity",
        "RMSNormalization",
    )
    if hasattr(_L, name)
)
_END = ("softmax", "log_softmax")
_LINEAR = common.LINEAR
_Unknown = common.Unknown


def _leaky_default() -> float:
    return float(
        inspect.signature(keras.activations.leaky_relu).parameters["negative_slope"].default
    )


def _function_activation(fn: Any) -> Activation | str | None:
    """A Keras activation function as a table entry; "linear" for linear, "end" for softmax,
    None when unknown."""
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # an unregistered callable
        return None
    if not isinstance(name, str):
        return None
    name = {"swish": "silu"}.get(name, name)
    if name == _LINEAR:
        return _LINEAR
    if name in _END:
        return "end"
    if name == "leaky_relu":
        return common.leaky_relu(_leaky_default(), VARIANCE_GAINS)
    if name in VARIANCE_GAINS:
        return common.builtin(name, VARIANCE_GAINS)
    return None


def _layer_activation(layer: Any) -> Activation | str | _Unknown | None:
    """What an activation layer applies (None: not an activation layer)."""
    if isinstance(layer, _L.Activation):
        act = _function_activation(layer.activation)
        if act is None:
            return _Unknown(f"Activation {layer.name!r} ({layer.get_config().get('activation')})")
        return _LINEAR if act == "end" else act
    if isinstance(layer, _L.ReLU):
        if layer.max_value is not None or float(layer.threshold) != 0.0:
            return _Unknown(f"ReLU {layer.name!r} with max_value/threshold")
        return common.leaky_relu(float(layer.negative_slope), VARIANCE_GAINS)
    if isinstance(layer, _L.LeakyReLU):
        return common.leaky_relu(float(layer.negative_slope), VARIANCE_GAINS)
    if isinstance(layer, _L.ELU):
        if float(layer.alpha) == 1.0:
            return common.builtin("elu", VARIANCE_GAINS)
        return _Unknown(f"ELU {layer.name!r} (alpha={layer.alpha}; tabulated: 1)")
    if isinstance(layer, _L.Softmax):
        return _LINEAR
    return None


def _consumers(layer: Any, members: set[int]) -> list[Any]:
    return [n.operation for n in layer._outbound_nodes if id(n.operation) in members]


def _producers(layer: Any, members: set[int]) -> list[Any]:
    out = []
    for node in layer._inbound_nodes:
        out += [p.operation for p in node.parent_nodes if id(p.operation) in members]
    return out


def _following(layer: Any, members: set[int], memo: dict[int, frozenset[Any]]) -> frozenset[Any]:
    if id(layer) in memo:
        return memo[id(layer)]
    found: set[Any] = set()
    users = _consumers(layer, members)
    if not users:
        found.add(_LINEAR)  # the model's output
    for user in users:
        if isinstance(user, _LAYERS):
            found.add(_LINEAR)
            continue
        act = _layer_activation(user)
        if act is not None:
            found.add(act)
        elif isinstance(user, _PASS):
            found |= _following(user, members, memo)
        else:
            found.add(_Unknown(f"{type(user).__name__} {user.name!r}"))
    memo[id(layer)] = frozenset(found)
    return memo[id(layer)]


def _layers(model: Any) -> dict[str, Any]:
    return {layer.name: layer for layer in model.layers if isinstance(layer, _LAYERS)}


def _traced(model: Any, layers: Mapping[str, Any]) -> dict[str, Activation | str]:
    members = {id(x) for x in model.layers}
    memo: dict[int, frozenset[Any]] = {}
    out: dict[str, Activation | str] = {}
    for name, layer in layers.items():
        own = getattr(layer, "activation", None)
        if own is not None:
            act = _function_activation(own)
            if act is None:
                out[name] = f"its activation= {own!r} is not tabulated"
                continue
            if isinstance(act, Activation):
                out[name] = act
                continue
            if act == "end":
                out[name] = common.builtin(_LINEAR, VARIANCE_GAINS)
                continue
        outcomes = _following(layer, members, memo)
        out[name] = common.verdict(outcomes, VARIANCE_GAINS)
    return out


def _check_model(model: object) -> Any:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model: {type(model).__name__} is not a keras.Model (accepted: one)")
    if not model.built:
        raise ValueError("model: not built, so its weights do not exist (accepted: a built model)")
    return model


def _resolve(
    model: Any,
    layers: Mapping[str, Any],
    activations: Mapping[str, object] | None,
    default_activation: object,
) -> dict[str, tuple[Activation, str]]:
    given = common.check_activation_map(activations, list(layers), VARIANCE_GAINS)
    default = common.check_default_activation(default_activation, VARIANCE_GAINS)
    traced = _traced(model, layers)
    out: dict[str, tuple[Activation, str]] = {}
    missing = []
    for name in layers:
        found = traced.get(name)
        if name in given:
            out[name] = (given[name], "map")
        elif isinstance(found, Activation):
            out[name] = (found, "config")
        elif default is not None:
            out[name] = (default, "default")
        else:
            missing.append(f"{name!r} ({found})")
    if missing:
        raise ValueError(
            f"activations: no activation known for {len(missing)} layers: "
            + "; ".join(missing[:6])
            + ("; ..." if len(missing) > 6 else "")
            + " (accepted: activations={layer name: activation} for them, or default_activation=)"
        )
    return out


def _kind(layer: Any) -> str:
    if isinstance(layer, _L.Embedding):
        return "embedding"
    if isinstance(layer, _CONV_T):
        return "conv_transpose"
    return "conv" if isinstance(layer, _CONV) else "linear"


def _weight(layer: Any) -> Any:
    return layer.embeddings if isinstance(layer, _L.Embedding) else layer.kernel


def _fans(layer: Any) -> tuple[int, int]:
    w = _weight(layer)
    if isinstance(layer, _L.Embedding):
        return 1, int(w.shape[1])
    fan_in, fan_out = _init.compute_fans(tuple(int(s) for s in w.shape))
    return int(fan_in), int(fan_out)


def _residual_last(model: Any, layers: Mapping[str, Any]) -> tuple[int, set[str]]:
    """Residual additions (an Add whose one input is computed from the other) and the weighted
    layers that end their branches (walking back through parameter-free layers)."""
    members = {id(x) for x in model.layers}
    ancestors: dict[int, set[int]] = {}

    def up(layer: Any) -> set[int]:
        if id(layer) not in ancestors:
            ancestors[id(layer)] = set()
            mine: set[int] = set()
            for p in _producers(layer, members):
                mine |= {id(p)} | up(p)
            ancestors[id(layer)] = mine
        return ancestors[id(layer)]

    adds, last = 0, set()
    for layer in model.layers:
        if not isinstance(layer, _L.Add):
            continue
        ins = _producers(layer, members)
        if len(ins) != 2:
            continue
        a, b = ins
        if id(b) in up(a):
            branch, skip = a, b
        elif id(a) in up(b):
            branch, skip = b, a
        else:
            continue
        adds += 1
        stack, seen = [branch], set()
        while stack:
            n = stack.pop()
            if id(n) in seen or n is skip or id(n) in up(skip):
                continue
            seen.add(id(n))
            if isinstance(n, _LAYERS):
                last.add(n.name)
                continue
            stack.extend(_producers(n, members))
    return adds, last


def initialize(
    model: Any,
    *,
    activations: Mapping[str, object] | None = None,
    default_activation: str | float | None = None,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    lower: float = -2.0,
    upper: float = 2.0,
    bias_variance: float | None = None,
    critical: bool = False,
    residual_scaling: bool = False,
    seed: int | None = None,
) -> common.InitReport:
    """Initialize every Dense, Conv*, Conv*Transpose and Embedding of a built Keras model in
    place (``assign``) for the activation that follows it, and report what was done.

    The weights are drawn by ``initref.keras.VarianceScaling(scale=g**2, mode, distribution,
    lower=, upper=)`` (std AFTER truncation ``g / sqrt(fan)``, Keras's layout ``[..., in,
    out]``), g**2 = VARIANCE_GAINS[activation], or the critical sigma_w^2 of
    constants.CRITICAL with ``critical=True``; the rest as initref.torch.initialize (biases
    zero or N(0, bias_variance), an embedding's fan 1, ``residual_scaling`` 1/sqrt(N) on the
    last layer of each residual branch, errors naming layers without a known activation,
    zero-size layers skipped).  ``seed`` (an int) makes the draw reproducible.
    """
    model = _check_model(model)
    common.check_choice("mode", mode, ("fan_in", "fan_out", "fan_avg"))
    common.check_choice(
        "distribution", distribution, ("truncated_normal", "untruncated_normal", "uniform")
    )
    _init.VarianceScaling(lower=lower, upper=upper)  # checks the cutoffs
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: {seed!r} is not an int (accepted: an int or None)")
    if not isinstance(residual_scaling, bool):
        raise TypeError(f"residual_scaling: {residual_scaling!r} is not a bool (accepted: bool)")
    b2 = common.check_bias_variance(bias_variance, critical)
    layers = _layers(model)
    found = _resolve(model, layers, activations, default_activation)
    factors: dict[str, float] = {}
    adds = 0
    if residual_scaling:
        adds, last = _residual_last(model, layers)
        if adds == 0:
            raise ValueError("residual_scaling: True, but the model has no residual addition")
        factors = {name: 1.0 / math.sqrt(adds) for name in last}
    points = {name: common.point(act, b2, critical, name) for name, (act, _) in found.items()}
    seeds = keras.random.SeedGenerator(seed)
    rows: list[common.LayerInit] = []
    used: list[tuple[Activation, common.Point]] = []
    for name, layer in layers.items():
        act, how = found[name]
        w = _weight(layer)
        shape = tuple(int(s) for s in w.shape)
        kind = _kind(layer)
        if math.prod(shape) == 0:
            rows.append(common.skipped_layer(name, kind, shape, act.label, how))
            continue
        fan_in, fan_out = _fans(layer)
        pt = points[name]
        factor = factors.get(name, 1.0)
        scale = pt.weight_variance * factor * factor
        if kind == "embedding":
            init = _init.VarianceScaling(
                scale, "fan_in", distribution, seed=seeds, lower=lower, upper=upper
            )
            value = keras.ops.reshape(init((1, math.prod(shape)), dtype=w.dtype), shape)
            fan = 1.0
        else:
            init = _init.VarianceScaling(
                scale, mode, distribution, seed=seeds, lower=lower, upper=upper
            )
            value = init(shape, dtype=w.dtype)
            fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        w.assign(value)
        bias = getattr(layer, "bias", None) if kind != "embedding" else None
        bias_std: float | None = None
        if bias is not None:
            if pt.bias_variance > 0:
                bias.assign(
                    keras.random.normal(
                        tuple(bias.shape),
                        stddev=math.sqrt(pt.bias_variance),
                        dtype=bias.dtype,
                        seed=seeds,
                    )
                )
            else:
                bias.assign(keras.ops.zeros(tuple(bias.shape), dtype=bias.dtype))
            bias_std = math.sqrt(pt.bias_variance)
        draw = (mode, distribution, lower, upper)
        rows.append(
            common.initialized_layer(
                name,
                kind,
                shape,
                (fan_in, fan_out),
                act.label,
                how,
                pt,
                draw,
                math.sqrt(scale / fan),
                bias_std,
                factor,
            )
        )
        used.append((act, pt))
    mine = {id(v) for layer in layers.values() for v in layer.weights}
    untouched = tuple(v.path for v in model.weights if id(v) not in mine)
    return common.InitReport("keras", tuple(rows), common.stabilities(used), untouched, adds)


def diagnose(
    model: Any,
    *,
    activations: Mapping[str, object] | None = None,
    default_activation: str | float | None = None,
) -> common.DiagnoseReport:
    """Diagnose a built Keras model's layers as initref.torch.diagnose does (fans in Keras's
    layout ``[..., in, out]``, an embedding's fan_in 1; activations found as
    :func:`initialize` finds them)."""
    model = _check_model(model)
    layers = _layers(model)
    found = _resolve(model, layers, activations, default_activation)
    rows, skipped = [], []
    for name, layer in layers.items():
        w = np.asarray(keras.ops.convert_to_numpy(_weight(layer)))
        if w.size == 0:
            skipped.append(name)
            continue
        fan_in, fan_out = _fans(layer)
        bias = getattr(layer, "bias", None) if not isinstance(layer, _L.Embedding) else None
        bias_std = None
        if bias is not None:
            b = np.asarray(keras.ops.convert_to_numpy(bias), dtype=np.float64)
            bias_std = float(np.sqrt(np.mean(b * b))) if b.size else None
        rows.append(
            common.diagnose_layer(
                name=name,
                kind=_kind(layer),
                shape=tuple(int(s) for s in w.shape),
                fan_in=fan_in,
                fan_out=fan_out,
                moments=common.moments_of(w),
                act=found[name][0],
                bias_std=bias_std,
            )
        )
    return common.diagnose_report("keras", rows, skipped)
