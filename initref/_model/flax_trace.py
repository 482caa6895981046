"""The forward pass of a Flax model traced with JAX (``jax.make_jaxpr``), for
:mod:`initref._model.flax`: which activation follows each weighted layer, and which layers end
residual branches.

While tracing, every call of a weighted layer (and of a normalization or dropout module) is
wrapped in ``initref_tag``, an identity primitive whose parameters name the layer and say
whether the value is the call's input or output (linen: ``linen.intercept_methods``; nnx: the
layer classes' ``__call__`` wrapped for the duration of the trace).  The jaxpr is flattened
(``jit``, ``custom_jvp_call``, ``custom_vjp_call``, ``closed_call`` and ``remat`` bodies
inlined; control flow such as ``scan`` is not) into one graph of primitives.

From a layer's output the signal is followed forward through shape-only primitives (reshape,
transpose, slices, concatenation, padding, pooling windows, gathers), additions of another
signal (a bias, a residual) and the tagged normalization/dropout modules to the first
elementwise region: the primitives computed from the signal and scalar constants alone
(``max``, ``tanh``, ``logistic``, ``erfc``, ``select_n``, ...).  The region's one result is
evaluated at fixed points in [-30, 30] in the signal's dtype and compared with each tabulated
activation to 32 ulps (relu, leaky_relu with the slope read at -1, elu, selu, gelu (erf),
gelu_tanh, silu, mish, softplus, tanh, sigmoid); exactly one must match, an identity (a cast,
``x * 1``) is passed through, and ``c * x`` right after a pooling window sum is average
pooling.  The next weighted layer or the model's output means "linear"; anything else (a
product of two signals, a reduction, an unmatched elementwise function, a call inside ``scan``)
is reported by name, never guessed.

A residual addition is an ``add`` whose one operand is computed from the other through at
least one weighted layer; the branch's last layers are those met walking back from the branch
operand before reaching the skip (as initref._model.torch finds them in the fx graph).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.extend import core as jcore
from jax.interpreters import batching, mlir

from .._generated import jax_init as _init
from . import common
from .common import Activation

VARIANCE_GAINS: dict[str, float] = _init.VARIANCE_GAINS
_LINEAR = common.LINEAR
_Unknown = common.Unknown

# ---------------------------------------------------------------------------------------------
# the tag
# ---------------------------------------------------------------------------------------------

TAG = jcore.Primitive("initref_tag")
# jax's Primitive methods are untyped: typed aliases
_bind: Callable[..., Any] = TAG.bind
_def_impl: Callable[..., Any] = TAG.def_impl
_def_abstract_eval: Callable[..., Any] = TAG.def_abstract_eval
_def_impl(lambda x, **_: x)
_def_abstract_eval(lambda x, **_: x)
batching.primitive_batchers[TAG] = lambda args, dims, **p: (_bind(args[0], **p), dims[0])
mlir.register_lowering(TAG, lambda ctx, x, **_: [x])

LAYER_IN, LAYER_OUT, PASS_IN, PASS_OUT = "layer_in", "layer_out", "pass_in", "pass_out"


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


class Tagger:
    """Wraps one module call: tags its first argument and its result.  ``problems`` collects
    the layers whose result is not one array."""

    def __init__(self) -> None:
        self.calls = itertools.count()
        self.problems: dict[str, str] = {}

    def call(self, name: str, layer: bool, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        k = next(self.calls)
        role_in, role_out = (LAYER_IN, LAYER_OUT) if layer else (PASS_IN, PASS_OUT)
        if args and _is_array(args[0]):
            args = (_bind(args[0], role=role_in, name=name, call=k), *args[1:])
        out = fn(*args, **kwargs)
        if not _is_array(out):
            if layer:
                self.problems[name] = f"its call returns a {type(out).__name__}, not one array"
            return out
        return _bind(out, role=role_out, name=name, call=k)


# one patching at a time: two traces in two threads would otherwise save each other's
# wrappers as the originals and leave one installed
_PATCHING = threading.Lock()


@contextlib.contextmanager
def patched_calls(
    classes: Sequence[type[Any]], wrap: Callable[[Any, Callable[..., Any], Any, Any], Any]
) -> Iterator[None]:
    """Each class's ``__call__`` replaced by ``wrap(self, original, args, kwargs)`` for the
    duration (subclasses first, so that a subclass calls its base's original), one trace at a
    time.  Calls from elsewhere meanwhile reach ``wrap`` too; the wrappers tag only the traced
    copy's modules (see initref._model.flax), so they pass those calls through unchanged."""
    saved: list[tuple[type[Any], Any]] = []
    _PATCHING.acquire()
    try:
        for cls in sorted(set(classes), key=lambda c: -len(c.__mro__)):
            original = cls.__call__

            def make(original: Any) -> Any:
                def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
                    return wrap(self, lambda *a, **k: original(self, *a, **k), args, kwargs)

                return __call__

            saved.append((cls, cls.__dict__.get("__call__")))
            cls.__call__ = make(original)
        yield
    finally:
        for cls, own in reversed(saved):
            if own is None:
                delattr(cls, "__call__")
            else:
                cls.__call__ = own
        _PATCHING.release()


def split_inputs(inputs: object) -> tuple[list[Any], Callable[[Sequence[Any]], tuple[Any, ...]]]:
    """(the array leaves of ``inputs``, a function rebuilding the positional arguments from
    them): ``inputs`` is one argument or a tuple of them; leaves with a shape and dtype (arrays,
    jax.ShapeDtypeStruct) are traced, others (flags, None) are passed as they are."""
    args = tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,)
    leaves, tree = jax.tree.flatten(args, is_leaf=lambda x: x is None)
    dynamic = [i for i, x in enumerate(leaves) if _is_array(x)]
    if not dynamic:
        raise TypeError(
            f"inputs: {type(inputs).__name__} holds no array (accepted: a sample input, an "
            "array or jax.ShapeDtypeStruct, or a tuple of the call's positional arguments)"
        )

    def rebuild(values: Sequence[Any]) -> tuple[Any, ...]:
        full = list(leaves)
        for i, v in zip(dynamic, values, strict=True):
            full[i] = v
        return tuple(jax.tree.unflatten(tree, full))

    return [leaves[i] for i in dynamic], rebuild


def make_jaxpr(fn: Callable[..., Any], *args: Any) -> Any:
    """``jax.make_jaxpr(fn)(*args)``; a failure is a one-line error about ``inputs``."""
    try:
        return jax.make_jaxpr(fn)(*args)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ValueError(
            f"inputs: tracing the model's call on them failed ({type(exc).__name__}: {first}) "
            "(accepted: the positional arguments the model is called with)"
        ) from exc


# ---------------------------------------------------------------------------------------------
# the flat graph
# ---------------------------------------------------------------------------------------------

_INLINE = frozenset(
    {
        "pjit",
        "jit",
        "closed_call",
        "core_call",
        "custom_jvp_call",
        "custom_vjp_call",
        "custom_vjp_call_jaxpr",
        "remat",
        "checkpoint",
    }
)
_ELEMENTWISE = frozenset(
    {
        "abs",
        "add",
        "add_any",
        "and",
        "cbrt",
        "ceil",
        "clamp",
        "convert_element_type",
        "copy",
        "copy_p",
        "cos",
        "div",
        "eq",
        "erf",
        "erf_inv",
        "erfc",
        "exp",
        "exp2",
        "expm1",
        "floor",
        "ge",
        "gt",
        "integer_pow",
        "is_finite",
        "le",
        "log",
        "log1p",
        "logistic",
        "lt",
        "max",
        "min",
        "mul",
        "ne",
        "neg",
        "not",
        "or",
        "pow",
        "reduce_precision",
        "round",
        "rsqrt",
        "select_n",
        "sign",
        "sin",
        "sqrt",
        "square",
        "stop_gradient",
        "sub",
        "tan",
        "tanh",
    }
)
# primitives the signal passes on the way to its activation, unchanged in kind
_PASS = frozenset(
    {
        "broadcast_in_dim",
        "concatenate",
        "convert_element_type",
        "copy",
        "copy_p",
        "dynamic_slice",
        "expand_dims",
        "gather",
        "pad",
        "reduce_precision",
        "reduce_window_max",
        "reduce_window_sum",
        "reshape",
        "rev",
        "slice",
        "split",
        "squeeze",
        "transpose",
    }
)
_ADD = frozenset({"add", "add_any"})
_SOFTMAX = frozenset({"reduce_max", "reduce_sum", "broadcast_in_dim", "reshape", "squeeze"})
_UNIFORM = frozenset({"broadcast_in_dim", "convert_element_type", "reshape", "copy", "copy_p"})


class _Node:
    def __init__(self, prim: Any, params: Mapping[str, Any], ins: list[int], outs: list[int]):
        self.prim, self.params, self.ins, self.outs = prim, params, ins, outs
        self.name: str = prim.name


def _sub_jaxpr(eqn: Any) -> tuple[Any, list[Any]] | None:
    """(jaxpr, consts) of an inlinable call's body, None if it has none of the known form."""
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(key)
        if isinstance(sub, jcore.ClosedJaxpr):
            jaxpr, consts = sub.jaxpr, list(sub.consts)
        elif isinstance(sub, jcore.Jaxpr):
            jaxpr, consts = sub, []
        else:
            continue
        if len(jaxpr.invars) == len(eqn.invars) and len(jaxpr.outvars) == len(eqn.outvars):
            return jaxpr, consts
    return None


def _tags_inside(jaxpr: Any) -> Iterator[str]:
    for eqn in jaxpr.eqns:
        if eqn.primitive is TAG and eqn.params["role"] == LAYER_OUT:
            yield eqn.params["name"]
        for sub in jcore.jaxprs_in_params(eqn.params):
            yield from _tags_inside(sub)


class Trace:
    """The flattened jaxpr of one forward pass."""

    def __init__(self, closed: Any) -> None:
        self.nodes: list[_Node] = []
        self.value: dict[int, Any] = {}  # constants' values (literals, closed-over arrays)
        self.aval: dict[int, Any] = {}
        self.producer: dict[int, int] = {}
        self.users: dict[int, list[int]] = {}
        self.const: set[int] = set()
        self.hidden: dict[str, str] = {}  # layer: the control-flow primitive its call is in
        self._ids = itertools.count()
        env: dict[Any, int] = {}
        for v, c in zip(closed.jaxpr.constvars, closed.consts, strict=True):
            env[v] = self._constant(c, v.aval)
        for v in closed.jaxpr.invars:
            env[v] = self._var(v.aval)
        self._flatten(closed.jaxpr, env)
        self.outputs = {self._read(env, v) for v in closed.jaxpr.outvars}
        self.pass_out: dict[int, int] = {}  # call number: the output of that call
        self.layer_out: dict[int, str] = {}  # var: the layer whose output it is
        for n in self.nodes:
            if n.prim is TAG and n.params["role"] in (PASS_OUT, LAYER_OUT):
                self.pass_out[n.params["call"]] = n.outs[0]
                if n.params["role"] == LAYER_OUT:
                    self.layer_out[n.outs[0]] = n.params["name"]
        self._memo: dict[int, frozenset[Any]] = {}

    # building ---------------------------------------------------------------------------

    def _var(self, aval: Any) -> int:
        i = next(self._ids)
        self.aval[i] = aval
        self.users[i] = []
        return i

    def _constant(self, value: Any, aval: Any) -> int:
        i = self._var(aval)
        self.value[i] = value
        self.const.add(i)
        return i

    def _read(self, env: dict[Any, int], v: Any) -> int:
        if isinstance(v, jcore.Literal):
            return self._constant(v.val, v.aval)
        return env[v]

    def _flatten(self, jaxpr: Any, env: dict[Any, int]) -> None:
        for eqn in jaxpr.eqns:
            ins = [self._read(env, v) for v in eqn.invars]
            sub = _sub_jaxpr(eqn) if eqn.primitive.name in _INLINE else None
            if sub is not None:
                body, consts = sub
                inner: dict[Any, int] = {}
                for v, c in zip(body.constvars, consts, strict=True):
                    inner[v] = self._constant(c, v.aval)
                for v, i in zip(body.invars, ins, strict=True):
                    inner[v] = i
                self._flatten(body, inner)
                for v, w in zip(eqn.outvars, body.outvars, strict=True):
                    env[v] = self._read(inner, w)
                continue
            for s in jcore.jaxprs_in_params(eqn.params):
                for name in _tags_inside(s):
                    self.hidden.setdefault(name, eqn.primitive.name)
            outs = [self._var(v.aval) for v in eqn.outvars]
            for v, i in zip(eqn.outvars, outs, strict=True):
                env[v] = i
            k = len(self.nodes)
            self.nodes.append(_Node(eqn.primitive, eqn.params, ins, outs))
            for i in ins:
                self.users[i].append(k)
            for o in outs:
                self.producer[o] = k
            if all(i in self.const for i in ins):
                self.const.update(outs)

    # constants --------------------------------------------------------------------------

    def _eval(self, i: int) -> Any:
        if i not in self.value:
            n = self.nodes[self.producer[i]]
            out = n.prim.bind(*(self._eval(j) for j in n.ins), **n.params)
            for o, v in zip(n.outs, out if n.prim.multiple_results else [out], strict=True):
                self.value[o] = v
        return self.value[i]

    def _uniform(self, i: int) -> bool:
        """A constant with one value everywhere (a scalar, or a scalar broadcast)."""
        if i not in self.const:
            return False
        if i in self.value:
            return bool(np.size(self.value[i]) == 1)
        n = self.nodes[self.producer[i]]
        return n.name in _UNIFORM and len(n.ins) == 1 and self._uniform(n.ins[0])

    # activations ------------------------------------------------------------------------

    def _region(
        self, v: int, allowed: frozenset[str] = _ELEMENTWISE
    ) -> tuple[list[int], int | None]:
        """The primitives (elementwise ones, or ``allowed``) computed from ``v`` and uniform
        constants alone, and their one result used elsewhere (None: several, or none)."""
        if not np.issubdtype(np.dtype(self.aval[v].dtype), np.floating):
            return [], None
        inside, nodes = {v}, []
        heap = list(self.users[v])
        heapq.heapify(heap)
        seen: set[int] = set()
        while heap:
            k = heapq.heappop(heap)
            if k in seen:
                continue
            seen.add(k)
            n = self.nodes[k]
            if n.name not in allowed or n.prim is TAG:
                continue
            if all(i in inside or self._uniform(i) for i in n.ins):
                nodes.append(k)
                inside.update(n.outs)
                for o in n.outs:
                    for u in self.users[o]:
                        heapq.heappush(heap, u)
        mine = set(nodes)
        exits = {
            o
            for k in nodes
            for o in self.nodes[k].outs
            if o in self.outputs or any(u not in mine for u in self.users[o])
        }
        if len(exits) != 1:
            return nodes, None
        (out,) = exits
        return nodes, out

    def _evaluate(self, v: int, nodes: list[int], out: int, x: np.ndarray) -> np.ndarray:
        """The region at the points ``x`` (in rounds of v's shape)."""
        aval = self.aval[v]
        size = math.prod(aval.shape)
        if size == 0:
            return np.full(x.shape, np.nan)
        got = []
        for start in range(0, x.size, size):
            chunk = np.resize(x[start : start + size], size)
            y = self._run(v, nodes, out, np.reshape(chunk.astype(aval.dtype), aval.shape))
            got.append(y.reshape(-1)[: min(size, x.size - start)])
        return np.concatenate(got)

    def _run(self, v: int, nodes: list[int], out: int, x: np.ndarray) -> np.ndarray:
        env: dict[int, Any] = {v: x}
        for k in nodes:
            n = self.nodes[k]
            args = [env[i] if i in env else self._eval(i) for i in n.ins]
            res = n.prim.bind(*args, **n.params)
            for o, r in zip(n.outs, res if n.prim.multiple_results else [res], strict=True):
                env[o] = r
        return np.asarray(env[out], dtype=np.float64)

    def _softmax(self, v: int) -> tuple[list[int], int] | None:
        """The primitives of a softmax or log_softmax of ``v`` (over the axes it reduces), if
        that is what follows ``v``."""
        if not any(self.nodes[k].name == "reduce_max" for k in self.users[v]):
            return None
        nodes, out = self._region(v, _ELEMENTWISE | _SOFTMAX)
        if out is None or self.aval[out].shape != self.aval[v].shape:
            return None
        axes = tuple(
            sorted(
                {
                    int(a)
                    for k in nodes
                    if self.nodes[k].name in ("reduce_max", "reduce_sum")
                    for a in self.nodes[k].params["axes"]
                }
            )
        )
        aval = self.aval[v]
        dtype = np.dtype(aval.dtype)
        if not axes or math.prod(aval.shape) == 0:
            return None
        x = (3.0 * np.random.default_rng(0).standard_normal(aval.shape)).astype(dtype)
        try:
            y = self._run(v, nodes, out, x)
        except Exception:  # a primitive that cannot run on its own here
            return None
        z = x.astype(np.float64)
        shifted = z - z.max(axis=axes, keepdims=True)
        log_soft = shifted - np.log(np.exp(shifted).sum(axis=axes, keepdims=True))
        tol = 32 * float(np.finfo(dtype).eps) * np.maximum(1.0, np.abs(log_soft))
        for ref in (np.exp(log_soft), log_soft):
            if np.all(np.abs(y - ref) <= tol):
                return nodes, out
        return None

    def _identify(self, v: int, nodes: list[int], out: int) -> Any:
        """What the region computes: an Activation, "identity", ("scale", c) or _Unknown."""
        prims = sorted({self.nodes[k].name for k in nodes})
        what = _Unknown(
            "an elementwise function that is not a tabulated activation ("
            + ", ".join(prims[:8])
            + ")"
        )
        if self.aval[out].shape != self.aval[v].shape:
            return what
        dtype = np.dtype(self.aval[v].dtype)
        x = np.asarray(_POINTS, dtype=dtype).astype(np.float64)
        try:
            y = self._evaluate(v, nodes, out, x)
        except Exception:  # a primitive that cannot run on its own here
            return what
        if not np.all(np.isfinite(y)):
            return what
        tol = 32 * float(np.finfo(dtype).eps) * np.maximum(1.0, np.abs(x))

        def near(ref: np.ndarray) -> bool:
            return bool(np.all(np.abs(y - ref) <= tol))

        if near(x):
            return "identity"
        found: list[Activation] = []
        for name, fn in _REFERENCES.items():
            if near(fn(x)):
                found.append(common.builtin(name, VARIANCE_GAINS))
        slope = -float(y[_AT_MINUS_ONE])
        if slope not in (0.0, 1.0) and near(np.where(x >= 0, x, slope * x)):
            found.append(common.leaky_relu(float(str(dtype.type(slope))), VARIANCE_GAINS))
        c = float(y[_AT_ONE])
        if not found and c > 0 and near(c * x):
            return ("scale", c)
        if len(found) == 1:
            return found[0]
        if found:
            return _Unknown(
                "an elementwise function matching several activations at this precision ("
                + ", ".join(a.label for a in found)
                + ")"
            )
        return what

    def _describe(self, n: _Node) -> str:
        if n.prim is TAG:
            return f"the module {n.params['name']!r}"
        return f"the primitive {n.name}"

    def following(self, v: int) -> frozenset[Any]:
        """Every outcome reached from the value ``v``."""
        if v in self._memo:
            return self._memo[v]
        self._memo[v] = frozenset()  # a DAG: no cycle, but be safe
        found: set[Any] = set()
        if v in self.outputs:
            found.add(_LINEAR)
        nodes, out = self._region(v)
        soft = None if nodes and out is not None else self._softmax(v)
        if soft is not None:
            nodes, out = soft
            found.add(_LINEAR)  # a softmax ends the network: the layer's gain is 1
        elif nodes and out is not None:
            got = self._identify(v, nodes, out)
            pooled = v in self.producer and self.nodes[self.producer[v]].name == (
                "reduce_window_sum"
            )
            if got == "identity" or (isinstance(got, tuple) and pooled):
                found |= self.following(out)
            elif isinstance(got, tuple):
                found.add(_Unknown(f"a multiplication by the constant {got[1]:.6g}"))
            else:
                found.add(got)
        elif nodes:
            found.add(_Unknown("elementwise primitives whose results are used in several places"))
        mine = set(nodes)
        for k in self.users[v]:
            if k in mine:
                continue
            n = self.nodes[k]
            if n.prim is TAG:
                role = n.params["role"]
                if role == LAYER_IN:
                    found.add(_LINEAR)
                elif role == PASS_IN:
                    end = self.pass_out.get(n.params["call"])
                    if end is None:
                        found.add(_Unknown(self._describe(n)))
                    else:
                        found |= self.following(end)
                else:
                    found |= self.following(n.outs[0])
            elif n.name in _PASS or n.name in _ADD:
                for o in n.outs:
                    found |= self.following(o)
            else:
                found.add(_Unknown(self._describe(n)))
        self._memo[v] = frozenset(found)
        return self._memo[v]

    def activations(self, names: Sequence[str]) -> dict[str, Activation | str]:
        """For each layer: its activation, or why none is known."""
        seen: dict[str, set[Any]] = {}
        for var, name in self.layer_out.items():
            seen.setdefault(name, set()).update(self.following(var))
        out: dict[str, Activation | str] = {}
        for name in names:
            if name not in seen:
                where = self.hidden.get(name)
                out[name] = (
                    f"it is called inside {where}, which is not traced"
                    if where
                    else "it is not called in the traced forward pass"
                )
                continue
            outcomes = seen[name]
            out[name] = common.verdict(outcomes, VARIANCE_GAINS)
        return out

    # residual branches ------------------------------------------------------------------

    def residual_branches(self, names: Sequence[str]) -> tuple[int, set[str]]:
        """(the number of residual additions, the layers that end their branches)."""
        wanted = set(names)
        ancestors: dict[int, int] = {}  # var: bit set of the vars it is computed from
        for n in self.nodes:
            mask = 0
            for i in n.ins:
                mask |= (1 << i) | ancestors.get(i, 0)
            for o in n.outs:
                ancestors[o] = mask
        adds, last = 0, set[str]()
        for n in self.nodes:
            args = [i for i in n.ins if i not in self.const]
            if n.name not in _ADD or len(args) != 2:
                continue
            a, b = args
            if ancestors.get(a, 0) >> b & 1:
                branch, skip = a, b
            elif ancestors.get(b, 0) >> a & 1:
                branch, skip = b, a
            else:
                continue
            behind = ancestors.get(skip, 0) | (1 << skip)
            found: set[str] = set()
            stack, visited = [branch], set()
            while stack:
                i = stack.pop()
                if i in visited or behind >> i & 1:
                    continue
                visited.add(i)
                name = self.layer_out.get(i)
                if name is not None and name in wanted:
                    found.add(name)
                    continue
                if i in self.producer:
                    stack.extend(j for j in self.nodes[self.producer[i]].ins if j not in self.const)
            if found:
                adds += 1
                last |= found
        return adds, last


# ---------------------------------------------------------------------------------------------
# the tabulated activations, in float64
# ---------------------------------------------------------------------------------------------

_POINTS: tuple[float, ...] = tuple(
    sorted(
        {round(-6.0 + 0.1 * i, 10) for i in range(121)}
        | {-30.0, -20.0, -12.0, -9.0, -7.5, 7.5, 9.0, 12.0, 20.0, 30.0}
        | {-1e-3, 1e-3, -0.03, 0.03}
    )
)
_AT_MINUS_ONE = _POINTS.index(-1.0)
_AT_ONE = _POINTS.index(1.0)
_ERF = np.vectorize(math.erf)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.logaddexp(x, 0.0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))


_REFERENCES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "gelu": lambda x: 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0))),
    "gelu_tanh": lambda x: (
        0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    ),
    "silu": lambda x: x * _sigmoid(x),
    "softplus": _softplus,
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
}
