"""``initialize`` and ``diagnose`` for Flax models (exported by :mod:`initref.flax`), linen and
nnx, drawing with :mod:`initref.jax`.

Layers: nnx ``Linear``, ``Conv``, ``ConvTranspose``, ``Embed`` modules; in a linen parameter
tree, every collection holding a ``kernel`` (Dense, Conv, ConvTranspose: kernel
``[..., in, out]``) or an ``embedding`` (Embed), named by its path ("Dense_0",
"block/Conv_1").

Activations, with ``inputs=`` (a sample of the call's positional arguments: an array or a
``jax.ShapeDtypeStruct`` of the input's shape and dtype, or a tuple of them; other items, such
as a ``train`` flag, are passed as they are): the forward pass is traced with
``jax.make_jaxpr`` (linen: ``module.apply(variables, *inputs)`` with every collection mutable
and a ``dropout`` rng; nnx: ``model(*inputs)`` on a copy made by ``nnx.split``/``nnx.merge``,
so the model is not touched) and the activation after each layer is recognized from the
jaxpr's primitives, whatever the model's structure (initref._model.flax_trace says how: the
signal is followed through reshapes, pooling, additions and normalization/dropout modules to
the first elementwise function of it, which must match one of relu, leaky_relu (any slope),
elu, selu, gelu (erf), gelu_tanh, silu, mish, softplus, tanh, sigmoid; the next weighted layer
or the output means "linear"; anything else is an error naming the layer).  Without
``inputs=``, a ``Sequential`` (linen ``nn.Sequential``, ``nnx.Sequential``) is read from its
layer list (the functions of jax.nn / flax between two weighted layers; jax's default
gelu(approximate=True) is gelu_tanh); any other model needs its layers named in
``activations={path: activation}``, or ``default_activation=`` -- never a guess.  An
``activations=`` entry always wins over what is traced.

``residual_scaling=True`` (with ``inputs=``) multiplies the std of the last weighted layer of
each residual branch by 1/sqrt(N), N the number of residual additions in the trace (an
addition whose one operand is computed from the other through a weighted layer).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen, nnx

from .._generated import jax_init as _init
from . import common, flax_trace
from .common import Activation

VARIANCE_GAINS: dict[str, float] = _init.VARIANCE_GAINS

_NNX_LAYERS: tuple[type[Any], ...] = (nnx.Linear, nnx.Conv, nnx.ConvTranspose, nnx.Embed)
_LINEN_LAYERS: tuple[type[Any], ...] = (linen.Dense, linen.Conv, linen.ConvTranspose, linen.Embed)
_PASS_NAMES = ("LayerNorm", "BatchNorm", "GroupNorm", "RMSNorm", "InstanceNorm", "Dropout")
# modules the signal passes on the way to its activation (traced as one step)
_NNX_PASS: tuple[type[Any], ...] = tuple(getattr(nnx, n) for n in _PASS_NAMES if hasattr(nnx, n))
_LINEN_PASS: tuple[type[Any], ...] = tuple(
    getattr(linen, n) for n in _PASS_NAMES if hasattr(linen, n)
)
_FUNCTIONS: dict[Any, str] = {
    jax.nn.relu: "relu",
    jax.nn.selu: "selu",
    jax.nn.silu: "silu",
    jax.nn.mish: "mish",
    jax.nn.softplus: "softplus",
    jax.nn.tanh: "tanh",
    jnp.tanh: "tanh",
    jax.nn.sigmoid: "sigmoid",
}
_LINEAR = common.LINEAR


def _function_activation(fn: Any) -> Activation | None:
    """A jax.nn function (or a functools.partial of one) as a table entry, None if unknown."""
    vg = VARIANCE_GAINS
    kwargs: dict[str, Any] = {}
    if isinstance(fn, functools.partial) and not fn.args:
        fn, kwargs = fn.func, dict(fn.keywords)
    try:
        simple = _FUNCTIONS.get(fn)
    except TypeError:  # unhashable
        return None
    if simple is not None and not kwargs:
        return common.builtin(simple, vg)
    if fn is jax.nn.gelu and set(kwargs) <= {"approximate"}:
        return common.builtin("gelu_tanh" if kwargs.get("approximate", True) else "gelu", vg)
    if fn is jax.nn.leaky_relu and set(kwargs) <= {"negative_slope"}:
        return common.leaky_relu(float(kwargs.get("negative_slope", 0.01)), vg)
    if fn is jax.nn.elu and float(kwargs.get("alpha", 1.0)) == 1.0 and set(kwargs) <= {"alpha"}:
        return common.builtin("elu", vg)
    return None


def _sequential(items: list[Any], names: list[str | None]) -> dict[str, Activation | str]:
    """Activations of the weighted items of a layer list (``names[i]`` the path of item i when
    it is a weighted layer, else None)."""
    out: dict[str, Activation | str] = {}
    for i, name in enumerate(names):
        if name is None:
            continue
        act: Activation | str = common.builtin(_LINEAR, VARIANCE_GAINS)
        for item in items[i + 1 :]:
            if isinstance(item, _NNX_LAYERS + _LINEN_LAYERS):
                break
            found = _function_activation(item)
            if found is None:
                act = f"it is followed by {item!r:.60}, not a tabulated activation"
            else:
                act = found
            break
        out[name] = act
    return out


def _path(keys: tuple[Any, ...]) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in keys)


# ---------------------------------------------------------------------------------------------
# the layers of a model
# ---------------------------------------------------------------------------------------------


class _Layer:
    """One weighted layer: its name, kind, weight (an array) and bias (or None); ``put``
    stores new values."""

    def __init__(self, name: str, kind: str, weight: Any, bias: Any) -> None:
        self.name, self.kind, self.weight, self.bias = name, kind, weight, bias


def _nnx_layers(model: Any) -> tuple[dict[str, Any], dict[str, Activation | str]]:
    modules: dict[str, Any] = {}
    for path, m in nnx.iter_graph(model):
        if isinstance(m, _NNX_LAYERS):
            modules["/".join(map(str, path))] = m
    traced: dict[str, Activation | str] = {}
    for path, m in nnx.iter_graph(model):
        if isinstance(m, nnx.Sequential):
            base = "/".join(map(str, path))
            items = list(m.layers)
            names = [
                "/".join(filter(None, (base, "layers", str(i))))
                if isinstance(x, _NNX_LAYERS)
                else None
                for i, x in enumerate(items)
            ]
            traced.update(_sequential(items, names))
    return modules, traced


def _nnx_kind(m: Any) -> str:
    if isinstance(m, nnx.Embed):
        return "embedding"
    if isinstance(m, nnx.ConvTranspose):
        return "conv_transpose"
    return "conv" if isinstance(m, nnx.Conv) else "linear"


def _linen_layers(params: Mapping[str, Any]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{path: (kind, key path)} of every collection with a kernel or an embedding."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}

    def walk(node: Mapping[str, Any], keys: tuple[str, ...]) -> None:
        if "kernel" in node and not isinstance(node["kernel"], Mapping):
            rank = len(np.shape(node["kernel"]))
            out["/".join(keys)] = ("conv" if rank > 2 else "linear", keys)
        elif "embedding" in node and not isinstance(node["embedding"], Mapping):
            out["/".join(keys)] = ("embedding", keys)
        for k, v in node.items():
            if isinstance(v, Mapping):
                walk(v, (*keys, str(k)))

    walk(params, ())
    return out


def _linen_traced(module: Any, names: Mapping[str, Any]) -> dict[str, Activation | str]:
    if not isinstance(module, linen.Sequential):
        return {}
    items = list(module.layers)
    paths = [f"layers_{i}" if isinstance(x, _LINEN_LAYERS) else None for i, x in enumerate(items)]
    return {k: v for k, v in _sequential(items, paths).items() if k in names}


class _Traced:
    """A traced forward pass: the activations it finds and its residual branches."""

    def __init__(self, trace: flax_trace.Trace, problems: Mapping[str, str]) -> None:
        self.trace, self.problems = trace, problems

    def activations(self, names: list[str]) -> dict[str, Activation | str]:
        found = self.trace.activations(names)
        for name, why in self.problems.items():
            if name in found and not isinstance(found[name], Activation):
                found[name] = why
        return found


_NAME_ATTR = "_initref_traced_path"


def _trace_nnx(model: Any, inputs: object) -> _Traced:
    """The forward pass ``model(*inputs)``, on a copy (nnx.split/merge) with its state as
    the traced arguments."""
    values, rebuild = flax_trace.split_inputs(inputs)
    graphdef, state = nnx.split(model)
    tagger = flax_trace.Tagger()

    def wrap(module: Any, fn: Any, args: Any, kwargs: Any) -> Any:
        name = getattr(module, _NAME_ATTR, None)
        if not isinstance(name, str):
            return fn(*args, **kwargs)
        return tagger.call(name, isinstance(module, _NNX_LAYERS), fn, args, kwargs)

    def run(state: Any, *arrays: Any) -> Any:
        copy = nnx.merge(graphdef, state)
        # the path as a static attribute of the copy's modules: it survives the copies that
        # nnx.jit and the other nnx transforms make inside the call
        for path, m in nnx.iter_graph(copy):
            if isinstance(m, _NNX_LAYERS + _NNX_PASS) and not hasattr(m, _NAME_ATTR):
                setattr(m, _NAME_ATTR, "/".join(map(str, path)))
        return copy(*rebuild(arrays))

    classes = [type(m) for _, m in nnx.iter_graph(model) if isinstance(m, _NNX_LAYERS + _NNX_PASS)]
    with flax_trace.patched_calls(classes, wrap):
        closed = flax_trace.make_jaxpr(run, state, *values)
    return _Traced(flax_trace.Trace(closed), tagger.problems)


def _trace_linen(module: Any, variables: Mapping[str, Any], inputs: object) -> _Traced:
    """The forward pass ``module.apply(variables, *inputs)`` (every collection mutable, a
    ``dropout`` rng), each layer's call tagged by ``linen.intercept_methods``."""
    values, rebuild = flax_trace.split_inputs(inputs)
    tagger = flax_trace.Tagger()

    def interceptor(next_fun: Any, args: Any, kwargs: Any, context: Any) -> Any:
        m = context.module
        if context.method_name == "__call__" and isinstance(m, _LINEN_LAYERS + _LINEN_PASS):
            name = "/".join(m.path)
            return tagger.call(name, isinstance(m, _LINEN_LAYERS), next_fun, args, kwargs)
        return next_fun(*args, **kwargs)

    def run(v: Any, *arrays: Any) -> Any:
        rngs = {"dropout": jax.random.key(0)}
        return module.apply(v, *rebuild(arrays), mutable=True, rngs=rngs)[0]

    with linen.intercept_methods(interceptor):
        closed = flax_trace.make_jaxpr(run, variables, *values)
    return _Traced(flax_trace.Trace(closed), tagger.problems)


def _variables(params: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(params.get("params"), Mapping):
        return params
    return {"params": params}


def _resolve(
    names: list[str],
    traced: Mapping[str, Activation | str],
    activations: Mapping[str, object] | None,
    default_activation: object,
) -> dict[str, tuple[Activation, str]]:
    given = common.check_activation_map(activations, names, VARIANCE_GAINS)
    default = common.check_default_activation(default_activation, VARIANCE_GAINS)
    out: dict[str, tuple[Activation, str]] = {}
    missing = []
    for name in names:
        found = traced.get(name)
        if name in given:
            out[name] = (given[name], "map")
        elif isinstance(found, Activation):
            out[name] = (found, "traced")
        elif default is not None:
            out[name] = (default, "default")
        else:
            why = found or "the model is not a Sequential, so it is not traced without inputs="
            missing.append(f"{name!r} ({why})")
    if missing:
        raise ValueError(
            f"activations: no activation known for {len(missing)} layers: "
            + "; ".join(missing[:6])
            + ("; ..." if len(missing) > 6 else "")
            + " (accepted: activations={layer path: activation} for them, or default_activation=)"
        )
    return out


def _fans(kind: str, shape: tuple[int, ...]) -> tuple[int, int]:
    if kind == "embedding":
        return 1, int(shape[-1])
    fan_in, fan_out = _init.compute_fans(shape)
    return int(fan_in), int(fan_out)


# ---------------------------------------------------------------------------------------------
# initialize and diagnose
# ---------------------------------------------------------------------------------------------


def _draw(
    key: Any,
    kind: str,
    shape: tuple[int, ...],
    dtype: Any,
    scale: float,
    mode: str,
    distribution: str,
    lower: float,
    upper: float,
) -> Any:
    if kind == "embedding":
        init = _init.variance_scaling(scale, "fan_in", distribution, lower=lower, upper=upper)
        return jnp.reshape(init(key, (1, math.prod(shape)), dtype), shape)
    return _init.variance_scaling(scale, mode, distribution, lower=lower, upper=upper)(
        key, shape, dtype
    )


def initialize(
    model: Any,
    *,
    params: Mapping[str, Any] | None = None,
    inputs: object = None,
    activations: Mapping[str, object] | None = None,
    default_activation: str | float | None = None,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    lower: float = -2.0,
    upper: float = 2.0,
    bias_variance: float | None = None,
    critical: bool = False,
    residual_scaling: bool = False,
    seed: int = 0,
) -> common.InitReport:
    """Initialize a Flax model's Linear/Dense, Conv, ConvTranspose and Embed layers for the
    activation after each, as initref.torch.initialize does (VARIANCE_GAINS or the critical
    sigma_w^2; biases zero or N(0, bias_variance); an embedding's fan 1; zero-size layers
    skipped), drawing with ``initref.jax.variance_scaling(scale, mode, distribution, lower=,
    upper=)`` from ``jax.random.key(seed)`` (std AFTER truncation, layout ``[..., in, out]``).

    * nnx: ``initialize(model)`` assigns the new values in place.
    * linen: ``initialize(module, params=variables)`` returns the report with the new
      variables (the same tree, new kernels and biases) as ``report.params``.

    Activations: module docstring (with ``inputs=``, a sample of the call's positional
    arguments, the forward pass is traced; without, Sequential models are read and others need
    ``activations=`` by layer path or ``default_activation=``).  ``residual_scaling=True``
    (needs ``inputs=``) multiplies the std of the last layer of each residual branch by
    1/sqrt(N), N the number of residual additions traced (none is an error).
    """
    common.check_choice("mode", mode, ("fan_in", "fan_out", "fan_avg"))
    common.check_choice(
        "distribution",
        distribution,
        ("truncated_normal", "untruncated_normal", "normal", "uniform"),
    )
    _init.variance_scaling(1.0, "fan_in", "truncated_normal", lower=lower, upper=upper)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: {seed!r} is not an int (accepted: an int)")
    if not isinstance(residual_scaling, bool):
        raise TypeError(f"residual_scaling: {residual_scaling!r} is not a bool (accepted: bool)")
    if residual_scaling and inputs is None:
        raise ValueError(
            "residual_scaling: True needs the traced forward pass (accepted: with inputs=, a "
            "sample of the model's positional arguments)"
        )
    b2 = common.check_bias_variance(bias_variance, critical)
    key = jax.random.key(seed)
    if isinstance(model, nnx.Module):
        if params is not None:
            raise ValueError("params: given with an nnx model (accepted: None; nnx holds its own)")
        modules, traced = _nnx_layers(model)
        graph = None if inputs is None else _trace_nnx(model, inputs)
        layers = {
            n: _Layer(
                n,
                _nnx_kind(m),
                m.kernel if not isinstance(m, nnx.Embed) else m.embedding,
                getattr(m, "bias", None),
            )
            for n, m in modules.items()
        }
        framework = "flax.nnx"
        tree: Any = None
    elif isinstance(model, linen.Module):
        if not isinstance(params, Mapping):
            raise TypeError(
                f"params: {type(params).__name__} with a linen module (accepted: its variables "
                "or params, a mapping)"
            )
        tree = _mutable(params)  # a fresh tree of dicts, the arrays shared
        root = tree["params"] if "params" in tree and isinstance(tree["params"], Mapping) else tree
        found = _linen_layers(root)
        layers = {}
        for name, (kind, keys) in found.items():
            node = root
            for k in keys:
                node = node[k]
            weight_key = "embedding" if kind == "embedding" else "kernel"
            layers[name] = _Layer(
                name, kind, (node, weight_key), (node, "bias") if "bias" in node else None
            )
        traced = _linen_traced(model, layers)
        graph = None if inputs is None else _trace_linen(model, _variables(params), inputs)
        framework = "flax.linen"
    else:
        raise TypeError(
            f"model: {type(model).__name__} is not a Flax module (accepted: an nnx.Module, or "
            "a linen.Module with params=)"
        )
    if graph is not None:
        traced = graph.activations(list(layers))
    acts = _resolve(list(layers), traced, activations, default_activation)
    factors: dict[str, float] = {}
    adds = 0
    if residual_scaling and graph is not None:
        adds, last = graph.trace.residual_branches(list(layers))
        if adds == 0:
            raise ValueError("residual_scaling: True, but the model has no residual addition")
        factors = {name: 1.0 / math.sqrt(adds) for name in last}
    rows: list[common.LayerInit] = []
    used: list[tuple[Activation, common.Point]] = []
    for i, (name, layer) in enumerate(layers.items()):
        act, how = acts[name]
        get = _getter(layer.weight)
        w = get()
        shape = tuple(int(s) for s in w.shape)
        if math.prod(shape) == 0:
            rows.append(common.skipped_layer(name, layer.kind, shape, act.label, how))
            continue
        fan_in, fan_out = _fans(layer.kind, shape)
        pt = common.point(act, b2, critical, name)
        factor = factors.get(name, 1.0)
        scale = pt.weight_variance * factor * factor
        k_w, k_b = jax.random.split(jax.random.fold_in(key, i))
        _setter(layer.weight)(
            _draw(
                k_w,
                layer.kind,
                shape,
                w.dtype,
                scale,
                mode,
                distribution,
                lower,
                upper,
            )
        )
        fan = (
            1.0
            if layer.kind == "embedding"
            else {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        )
        bias_std: float | None = None
        if layer.bias is not None:
            b = _getter(layer.bias)()
            if pt.bias_variance > 0:
                value = math.sqrt(pt.bias_variance) * jax.random.normal(k_b, b.shape, b.dtype)
            else:
                value = jnp.zeros(b.shape, b.dtype)
            _setter(layer.bias)(value)
            bias_std = math.sqrt(pt.bias_variance)
        draw = (mode, distribution, lower, upper)
        rows.append(
            common.initialized_layer(
                name,
                layer.kind,
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
    return common.InitReport(
        framework, tuple(rows), common.stabilities(used), residual_adds=adds, params=tree
    )


def _mutable(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _mutable(v) for k, v in tree.items()}
    return tree


def _getter(ref: Any) -> Any:
    if isinstance(ref, tuple):
        node, k = ref
        return lambda: node[k]
    return lambda: ref[...]


def _setter(ref: Any) -> Any:
    if isinstance(ref, tuple):
        node, k = ref

        def put(value: Any) -> None:
            node[k] = value

        return put

    def assign(value: Any) -> None:
        ref[...] = value

    return assign


def diagnose(
    model: Any,
    *,
    params: Mapping[str, Any] | None = None,
    inputs: object = None,
    activations: Mapping[str, object] | None = None,
    default_activation: str | float | None = None,
) -> common.DiagnoseReport:
    """Diagnose a Flax model's layers as initref.torch.diagnose does (nnx: ``diagnose(model)``;
    linen: ``diagnose(module, params=variables)``), fans in JAX's layout ``[..., in, out]``,
    activations found as :func:`initialize` finds them (``inputs=``: the traced forward pass)."""
    if isinstance(model, nnx.Module):
        modules, traced = _nnx_layers(model)
        weights = {
            n: (
                _nnx_kind(m),
                m.embedding[...] if isinstance(m, nnx.Embed) else m.kernel[...],
                None if getattr(m, "bias", None) is None else m.bias[...],
            )
            for n, m in modules.items()
        }
        if inputs is not None:
            traced = _trace_nnx(model, inputs).activations(list(weights))
        framework = "flax.nnx"
    elif isinstance(model, linen.Module) and isinstance(params, Mapping):
        root = params["params"] if isinstance(params.get("params"), Mapping) else params
        weights = {}
        for name, (kind, keys) in _linen_layers(root).items():
            node: Any = root
            for k in keys:
                node = node[k]
            weights[name] = (
                kind,
                node["embedding" if kind == "embedding" else "kernel"],
                node.get("bias"),
            )
        traced = _linen_traced(model, weights)
        if inputs is not None:
            graph = _trace_linen(model, _variables(params), inputs)
            traced = graph.activations(list(weights))
        framework = "flax.linen"
    else:
        raise TypeError(
            f"model: {type(model).__name__} is not a Flax module with its params (accepted: an "
            "nnx.Module, or a linen.Module with params=)"
        )
    acts = _resolve(list(weights), traced, activations, default_activation)
    rows, skipped = [], []
    for name, (kind, w, b) in weights.items():
        arr = np.asarray(w)
        if arr.size == 0:
            skipped.append(name)
            continue
        shape = tuple(int(s) for s in arr.shape)
        fan_in, fan_out = _fans(kind, shape)
        bias_std = None
        if b is not None and np.size(b):
            bb = np.asarray(b, dtype=np.float64)
            bias_std = float(np.sqrt(np.mean(bb * bb)))
        rows.append(
            common.diagnose_layer(
                name=name,
                kind=kind,
                shape=shape,
                fan_in=fan_in,
                fan_out=fan_out,
                moments=common.moments_of(arr),
                act=acts[name][0],
                bias_std=bias_std,
            )
        )
    return common.diagnose_report(framework, rows, skipped)
