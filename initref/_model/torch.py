"""``initialize`` and ``diagnose`` for a ``torch.nn.Module`` (exported by :mod:`initref.torch`).

The activation after each ``nn.Linear``, ``nn.Conv*``, ``nn.ConvTranspose*`` and
``nn.Embedding`` is read from the model's ``torch.fx`` graph: from the layer's output forward
through shape-only and normalizing operations (dropout, flatten/reshape/permute, pooling,
padding, batch/layer/group/instance norm, concatenation and addition) to the first activation
(module, function or method).  A layer that reaches nothing but another layer, the output or a
softmax is followed by "linear"; one that reaches several different activations, or an
operation this list does not know (a product, an attention call, ...), is ambiguous.  When the
model cannot be traced, or a layer is ambiguous, the layer must be named in
``activations={name: activation}``, or ``default_activation=`` given: never a guess.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .._generated import torch_init as _init
from . import common
from .common import Activation

VARIANCE_GAINS = _init.VARIANCE_GAINS

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, *_CONV, *_CONV_T, nn.Embedding)

# modules and functions the signal passes on the way to its activation, unchanged in kind
_PASS_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.Flatten,
    nn.Unflatten,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.RMSNorm,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.Upsample,
    nn.PixelShuffle,
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
)
_ADD_FUNCTIONS: tuple[Any, ...] = (operator.add, operator.iadd, torch.add)
_PASS_FUNCTIONS: tuple[Any, ...] = (
    *_ADD_FUNCTIONS,
    torch.cat,
    torch.concat,
    torch.flatten,
    torch.reshape,
    torch.permute,
    torch.transpose,
    torch.squeeze,
    torch.unsqueeze,
    operator.getitem,
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.pad,
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d,
    F.adaptive_max_pool2d,
    F.adaptive_max_pool3d,
    F.batch_norm,
    F.layer_norm,
    F.group_norm,
    F.instance_norm,
    F.interpolate,
)
_PASS_METHODS = frozenset(
    {
        "view",
        "reshape",
        "flatten",
        "permute",
        "transpose",
        "contiguous",
        "squeeze",
        "unsqueeze",
        "add",
        "add_",
        "__add__",
        "__iadd__",
        "__getitem__",
        "clone",
        "float",
        "to",
        "type_as",
    }
)
_NON_DATA_METHODS = frozenset({"size", "dim", "shape", "numel", "ndimension", "get_device"})
_END_MODULES: tuple[type[nn.Module], ...] = (nn.Softmax, nn.LogSoftmax)
_END_FUNCTIONS: tuple[Any, ...] = (F.softmax, F.log_softmax, torch.softmax, torch.log_softmax)
_END_METHODS = frozenset({"softmax", "log_softmax"})

_LINEAR = common.LINEAR
_Unknown = common.Unknown


def _arg(node: Any, index: int, name: str, default: Any) -> Any:
    if name in node.kwargs:
        return node.kwargs[name]
    if len(node.args) > index:
        return node.args[index]
    return default


def _module_activation(m: Any) -> Activation | _Unknown | None:
    """The activation a module applies (None: not an activation module)."""
    vg = VARIANCE_GAINS
    simple: dict[type[nn.Module], str] = {
        nn.ReLU: "relu",
        nn.SELU: "selu",
        nn.SiLU: "silu",
        nn.Mish: "mish",
        nn.Tanh: "tanh",
        nn.Sigmoid: "sigmoid",
    }
    for cls, name in simple.items():
        if type(m) is cls:
            return common.builtin(name, vg)
    if type(m) is nn.LeakyReLU:
        return common.leaky_relu(float(m.negative_slope), vg)
    if type(m) is nn.GELU:
        return common.builtin("gelu_tanh" if m.approximate == "tanh" else "gelu", vg)
    if type(m) is nn.ELU:
        if float(m.alpha) == 1.0:
            return common.builtin("elu", vg)
        return _Unknown(f"nn.ELU(alpha={m.alpha}) (tabulated: alpha=1)")
    if type(m) is nn.Softplus:
        if float(m.beta) == 1.0:
            return common.builtin("softplus", vg)
        return _Unknown(f"nn.Softplus(beta={m.beta}) (tabulated: beta=1)")
    return None


def _function_activation(node: Any) -> Activation | _Unknown | None:
    vg = VARIANCE_GAINS
    f = node.target
    simple: dict[Any, str] = {
        F.relu: "relu",
        torch.relu: "relu",
        torch.relu_: "relu",
        F.relu_: "relu",
        F.selu: "selu",
        torch.selu: "selu",
        F.silu: "silu",
        F.mish: "mish",
        torch.tanh: "tanh",
        F.tanh: "tanh",
        torch.sigmoid: "sigmoid",
        F.sigmoid: "sigmoid",
    }
    if f in simple:
        return common.builtin(simple[f], vg)
    if f is F.leaky_relu:
        return common.leaky_relu(float(_arg(node, 1, "negative_slope", 0.01)), vg)
    if f is F.gelu:
        approximate = _arg(node, 1, "approximate", "none")
        return common.builtin("gelu_tanh" if approximate == "tanh" else "gelu", vg)
    if f is F.elu:
        alpha = float(_arg(node, 1, "alpha", 1.0))
        return common.builtin("elu", vg) if alpha == 1.0 else _Unknown(f"F.elu(alpha={alpha})")
    if f is F.softplus:
        beta = float(_arg(node, 1, "beta", 1.0))
        return common.builtin("softplus", vg) if beta == 1.0 else _Unknown(f"softplus(beta={beta})")
    return None


_METHOD_ACTIVATIONS = {
    "relu": "relu",
    "relu_": "relu",
    "tanh": "tanh",
    "tanh_": "tanh",
    "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid",
}

_Outcome = Activation | str | _Unknown


class _Graph:
    """The fx graph of a model and what follows each layer in it."""

    def __init__(self, gm: Any, layers: Mapping[str, Any]) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.layers = layers
        self._memo: dict[Any, frozenset[Any]] = {}

    def _describe(self, node: Any) -> str:
        if node.op == "call_module":
            return f"{type(self.modules[node.target]).__name__} {node.target!r}"
        name = getattr(node.target, "__name__", str(node.target))
        return f"{node.op} {name}"

    def _step(self, node: Any) -> tuple[list[_Outcome], bool]:
        """(outcomes decided at ``node``, whether to follow its users)."""
        if node.op == "output":
            return [_LINEAR], False
        if node.op == "call_module":
            m = self.modules[node.target]
            if isinstance(m, _LAYERS):
                return [_LINEAR], False
            act = _module_activation(m)
            if act is not None:
                return [act], False
            if isinstance(m, _PASS_MODULES):
                return [], True
            if isinstance(m, _END_MODULES):
                return [_LINEAR], False
            return [_Unknown(self._describe(node))], False
        if node.op == "call_function":
            act = _function_activation(node)
            if act is not None:
                return [act], False
            if node.target in _PASS_FUNCTIONS:
                return [], True
            if node.target in _END_FUNCTIONS:
                return [_LINEAR], False
            return [_Unknown(self._describe(node))], False
        if node.op == "call_method":
            if node.target in _METHOD_ACTIVATIONS:
                return [common.builtin(_METHOD_ACTIVATIONS[node.target], VARIANCE_GAINS)], False
            if node.target in _NON_DATA_METHODS:
                return [], False
            if node.target in _PASS_METHODS:
                return [], True
            if node.target in _END_METHODS:
                return [_LINEAR], False
        return [_Unknown(self._describe(node))], False

    def following(self, node: Any) -> frozenset[Any]:
        """Every outcome reached from ``node``'s output."""
        if node in self._memo:
            return self._memo[node]
        found: set[Any] = set()
        for user in node.users:
            outcomes, go_on = self._step(user)
            found.update(outcomes)
            if go_on:
                found.update(self.following(user))
        self._memo[node] = frozenset(found)
        return self._memo[node]

    def activations(self) -> dict[str, Activation | str]:
        """For each layer called in the graph: its activation, or why it is ambiguous."""
        seen: dict[str, set[Any]] = {}
        for node in self.gm.graph.nodes:
            if node.op == "call_module" and node.target in self.layers:
                seen.setdefault(node.target, set()).update(self.following(node))
        out: dict[str, Activation | str] = {}
        for name, outcomes in seen.items():
            out[name] = common.verdict(outcomes, VARIANCE_GAINS)
        return out

    def residual_branches(self) -> tuple[int, set[str]]:
        """(the number of residual additions, the layers that end their branches).

        A residual addition is ``a + b`` where one operand is computed from the other (the
        skip); the branch's last layers are the layers met walking back from the branch
        operand through parameter-free operations, before reaching the skip."""
        ancestors: dict[Any, set[Any]] = {}
        for node in self.gm.graph.nodes:
            mine: set[Any] = set()
            for parent in node.all_input_nodes:
                mine.add(parent)
                mine |= ancestors[parent]
            ancestors[node] = mine
        adds, last = 0, set[str]()
        for node in self.gm.graph.nodes:
            is_add = (node.op == "call_function" and node.target in _ADD_FUNCTIONS) or (
                node.op == "call_method" and node.target in ("add", "add_", "__add__")
            )
            args = [a for a in node.args[:2] if isinstance(a, torch.fx.Node)]
            if not is_add or len(args) != 2:
                continue
            a, b = args
            if b in ancestors[a]:
                branch, skip = a, b
            elif a in ancestors[b]:
                branch, skip = b, a
            else:
                continue
            adds += 1
            stack, visited = [branch], set()
            while stack:
                n = stack.pop()
                if n in visited or n is skip or n in ancestors[skip]:
                    continue
                visited.add(n)
                if n.op == "call_module" and n.target in self.layers:
                    last.add(str(n.target))
                    continue
                stack.extend(n.all_input_nodes)
        return adds, last


def _layers(model: nn.Module) -> dict[str, Any]:
    return {name: m for name, m in model.named_modules() if isinstance(m, _LAYERS)}


def _kind(m: Any) -> str:
    if isinstance(m, nn.Embedding):
        return "embedding"
    if isinstance(m, _CONV_T):
        return "conv_transpose"
    return "conv" if isinstance(m, _CONV) else "linear"


def _fans(m: Any) -> tuple[int, int]:
    """(fan_in, fan_out) as torch counts them; an embedding's input is one-hot: fan_in 1."""
    w = m.weight
    if isinstance(m, nn.Embedding):
        return 1, int(w.shape[1])
    fan_in, fan_out = _init.calculate_fans(w)
    return int(fan_in), int(fan_out)


def _check_model(model: object, what: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: {type(model).__name__} is not a torch.nn.Module (accepted: one)")
    meta = [n for n, p in model.named_parameters() if p.is_meta]
    if meta:
        raise ValueError(
            f"model: {len(meta)} parameters on the meta device ({meta[0]}, ...) have no storage "
            f"to {what} (accepted: materialized parameters: model.to_empty(device=...) first)"
        )
    return model


def _resolve(
    model: nn.Module,
    layers: Mapping[str, Any],
    activations: Mapping[str, object] | None,
    default_activation: object,
    need_graph: bool,
) -> tuple[dict[str, tuple[Activation, str]], _Graph | None, str | None]:
    """Each layer's activation and how it was found ("traced", "map", "default")."""
    given = common.check_activation_map(activations, list(layers), VARIANCE_GAINS)
    default = common.check_default_activation(default_activation, VARIANCE_GAINS)
    graph: _Graph | None = None
    traced: dict[str, Activation | str] = {}
    why_not: str | None = None
    if need_graph or set(layers) - set(given):
        try:
            graph = _Graph(torch.fx.symbolic_trace(model), layers)
            traced = graph.activations()
        except Exception as exc:  # any tracing failure: fall back to the map, said so
            why_not = (
                f"torch.fx could not trace the model ({type(exc).__name__}: "
                + (str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "")
                + ")"
            )
    out: dict[str, tuple[Activation, str]] = {}
    missing: list[str] = []
    for name in layers:
        if name in given:
            out[name] = (given[name], "map")
            continue
        found = traced.get(name)
        if isinstance(found, Activation):
            out[name] = (found, "traced")
        elif default is not None:
            out[name] = (default, "default")
        else:
            reason = (
                found if isinstance(found, str) else (why_not or "it is not called in the graph")
            )
            missing.append(f"{name!r} ({reason})")
    if missing:
        raise ValueError(
            f"activations: no activation known for {len(missing)} layers: "
            + "; ".join(missing[:6])
            + ("; ..." if len(missing) > 6 else "")
            + " (accepted: activations={layer name: activation} for them, or default_activation=)"
        )
    return out, graph, why_not


@torch.no_grad()
def initialize(
    model: nn.Module,
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
    generator: torch.Generator | None = None,
) -> common.InitReport:
    """Initialize every ``nn.Linear``, ``nn.Conv*``, ``nn.ConvTranspose*`` and ``nn.Embedding``
    of ``model`` in place for the activation that follows it, and report what was done.

    Weights: ``variance_scaling_(w, scale=g**2, mode, distribution, lower, upper)``, g**2 =
    VARIANCE_GAINS[activation] (1 / E[f(z)^2], z ~ N(0, 1)): the std AFTER truncation is
    ``g / sqrt(fan)`` for any cutoffs (``lower``, ``upper`` in units of the underlying normal's
    std).  With ``critical=True`` the weight variance is the critical sigma_w^2 of
    constants.CRITICAL at sigma_b^2 = ``bias_variance`` instead (the edge of chaos).  An
    embedding's fan is 1 (its input is one-hot), whatever ``mode``; its ``padding_idx`` row
    is zero.

    Biases: zero, or N(0, bias_variance) when ``bias_variance`` is given.

    ``residual_scaling=True`` multiplies the std of the last layer of each residual branch
    (``x + branch(x)`` in the graph) by 1/sqrt(N), N the number of residual additions, so the
    residual stream's second moment grows by about 2x over the whole depth instead of 2x per
    block (a residual model without such an addition is an error).

    Activations come from the torch.fx graph (module docstring); ``activations={name: act}``
    sets them by layer name (a built-in name or a gain g as a number) and wins over the
    graph; ``default_activation`` applies to the layers neither gives.  A layer with no
    activation is an error naming it.  Parameters other than these layers' weights and
    biases are left as they are (listed in the report).  A zero-size layer is skipped.

    Works in place on any device (CUDA tensors are filled on the GPU; ``generator`` must be
    on the parameters' device); a model on the meta device must be materialized first
    (``model.to_empty(device=...)``).
    """
    model = _check_model(model, "initialize")
    common.check_choice("mode", mode, _init.MODES)
    common.check_choice("distribution", distribution, _init.DISTRIBUTIONS)
    _init.truncated_normal_mean(std=1.0, lower=lower, upper=upper)  # checks the cutoffs
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: {generator!r} is not a torch.Generator (accepted: one, None)")
    if not isinstance(residual_scaling, bool):
        raise TypeError(f"residual_scaling: {residual_scaling!r} is not a bool (accepted: bool)")
    b2 = common.check_bias_variance(bias_variance, critical)
    layers = _layers(model)
    found, graph, why_not = _resolve(
        model, layers, activations, default_activation, need_graph=residual_scaling
    )
    factors: dict[str, float] = {}
    adds = 0
    if residual_scaling:
        if graph is None:
            raise ValueError(f"residual_scaling: True needs the model's graph, but {why_not}")
        adds, last = graph.residual_branches()
        if adds == 0:
            raise ValueError("residual_scaling: True, but the model has no residual addition")
        factors = {name: 1.0 / math.sqrt(adds) for name in last}
    points = {name: common.point(act, b2, critical, name) for name, (act, _) in found.items()}
    rows: list[common.LayerInit] = []
    used: list[tuple[Activation, common.Point]] = []
    for name, m in layers.items():
        act, how = found[name]
        w = m.weight
        shape = tuple(int(s) for s in w.shape)
        fan_in, fan_out = _fans(m) if w.numel() else (0, 0)
        kind = _kind(m)
        if w.numel() == 0:
            rows.append(common.skipped_layer(name, kind, shape, act.label, how))
            continue
        pt = points[name]
        factor = factors.get(name, 1.0)
        scale = pt.weight_variance * factor * factor
        if kind == "embedding":
            fan = 1.0
            _init.variance_scaling_(
                w.view(-1, 1),
                scale=scale,
                mode="fan_in",
                distribution=distribution,
                lower=lower,
                upper=upper,
                generator=generator,
            )
            if m.padding_idx is not None:
                w[m.padding_idx].zero_()
        else:
            fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
            _init.variance_scaling_(
                w,
                scale=scale,
                mode=mode,
                distribution=distribution,
                lower=lower,
                upper=upper,
                generator=generator,
            )
        bias = getattr(m, "bias", None)
        bias_std: float | None = None
        if isinstance(bias, torch.Tensor):
            if pt.bias_variance > 0:
                bias.normal_(0.0, math.sqrt(pt.bias_variance), generator=generator)
            else:
                bias.zero_()
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
    untouched = _untouched(model, layers)
    return common.InitReport("torch", tuple(rows), common.stabilities(used), untouched, adds)


def _untouched(model: nn.Module, layers: Mapping[str, Any]) -> tuple[str, ...]:
    mine = {
        id(p)
        for m in layers.values()
        for p in (m.weight, getattr(m, "bias", None))
        if isinstance(p, torch.Tensor)
    }
    return tuple(n for n, p in model.named_parameters() if id(p) not in mine)


def _moments(w: torch.Tensor) -> common.Moments:
    """Raw moments in float64 on the tensor's own device; six scalars come back."""
    x = w.detach().reshape(-1).to(torch.float64)
    x2 = x * x
    x4 = x2 * x2
    sums = torch.stack([x.mean(), x2.mean(), x4.mean(), (x4 * x2).mean(), (x4 * x4).mean()])
    m1, m2, m4, m6, m8 = (float(v) for v in sums.cpu().tolist())
    return common.Moments(int(x.numel()), m1, m2, m4, m6, m8)


def _bias_std(bias: object) -> float | None:
    if not isinstance(bias, torch.Tensor) or bias.numel() == 0:
        return None
    return float(bias.detach().to(torch.float64).pow(2).mean().sqrt().cpu())


@torch.no_grad()
def diagnose(
    model: nn.Module,
    *,
    activations: Mapping[str, object] | None = None,
    default_activation: str | float | None = None,
) -> common.DiagnoseReport:
    """Diagnose the current initialization of ``model``'s layers (those :func:`initialize`
    handles): per layer the measured std (root mean square) against the fan, the known rules
    it matches (common.RULES, within 4 standard errors of the sample std), the shape of its
    law (normal, truncated at +-2 sigma, uniform: by the excess kurtosis) and its second-
    moment factor r = E[w^2] fan_in / g**2 for the activation after it; the report's
    ``depth_ratio`` is the product of the r (``.figure()`` draws it against depth).
    Activations are found as :func:`initialize` finds them.  Zero-size layers are skipped."""
    model = _check_model(model, "diagnose")
    layers = _layers(model)
    found, _, _ = _resolve(model, layers, activations, default_activation, need_graph=False)
    rows, skipped = [], []
    for name, m in layers.items():
        if m.weight.numel() == 0:
            skipped.append(name)
            continue
        fan_in, fan_out = _fans(m)
        rows.append(
            common.diagnose_layer(
                name=name,
                kind=_kind(m),
                shape=tuple(int(s) for s in m.weight.shape),
                fan_in=fan_in,
                fan_out=fan_out,
                moments=_moments(m.weight),
                act=found[name][0],
                bias_std=_bias_std(getattr(m, "bias", None)),
            )
        )
    return common.diagnose_report("torch", rows, skipped)


def diagnose_state_dict(
    state: Mapping[str, Any], activation: str | float = "relu"
) -> common.DiagnoseReport:
    """:func:`diagnose` for a saved ``state_dict``: every tensor named ``*weight`` with 2 or
    more dimensions is a layer (``[out, in / groups, *kernel]``: fans from its shape, as torch
    counts them), ``activation`` follows every layer (a state_dict holds no graph), the
    ``*bias`` beside it is its bias.  Zero-size weights are skipped."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state_dict: {type(state).__name__} is not a mapping (accepted: one)")
    act = common.resolve(activation, VARIANCE_GAINS, "activation")
    rows, skipped = [], []
    for name, w in state.items():
        if not (isinstance(w, torch.Tensor) and name.split(".")[-1] == "weight" and w.dim() >= 2):
            continue
        if not w.is_floating_point():
            continue
        layer = name[: -len(".weight")] if name.endswith(".weight") else name
        if w.numel() == 0:
            skipped.append(layer)
            continue
        fan_in, fan_out = _init.calculate_fans(w)
        bias = state.get(layer + ".bias" if layer != name else "bias")
        rows.append(
            common.diagnose_layer(
                name=layer,
                kind="conv" if w.dim() > 2 else "linear",
                shape=tuple(int(s) for s in w.shape),
                fan_in=fan_in,
                fan_out=fan_out,
                moments=_moments(w),
                act=act,
                bias_std=_bias_std(bias),
            )
        )
    if not rows and not skipped:
        raise ValueError("state_dict: no weight with 2 or more dimensions (accepted: a model's)")
    return common.diagnose_report("torch state_dict", rows, skipped)
