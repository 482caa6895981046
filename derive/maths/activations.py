"""Activation functions: the built-in ones and a safe parser for user expressions.

Every activation has two faces:

* numeric: ``f(z)`` and ``f'(z)`` as mpmath callables plus a :class:`Shape` (where a piece
  changes, how fast f and f' grow: :mod:`derive.maths.analysis`).  For the built-ins these
  import mpmath only, so their numeric queries stay fast;
* symbolic: a SymPy expression in the symbol ``z`` (:meth:`Activation.sympy_expr`), imported
  lazily, for closed forms and for display.

Built-in definitions (z real):

    linear          z
    relu            max(z, 0)
    leaky_relu(a)   z (z > 0), a z (z <= 0)                      He et al. 2015, eq. 1-2
    elu(alpha)      z (z > 0), alpha (e^z - 1) (z <= 0)          Clevert et al. 2016
    selu            lambda * elu(alpha), alpha = 1.6732632423543772848170429916717,
                    lambda = 1.0507009873554804934193349852946   Klambauer et al. 2017, eq. 2, 14
    gelu            z Phi(z) = z (1 + erf(z / sqrt 2)) / 2       Hendrycks & Gimpel 2016
    gelu_tanh       z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) / 2   (their tanh approximation)
    silu            z sigmoid(z)                                  (swish with beta = 1)
    mish            z tanh(softplus(z))                           Misra 2019
    softplus        log(1 + e^z)
    tanh            tanh(z)
    sigmoid         1 / (1 + e^-z)

User expressions (:func:`parse_activation`) are read by a small recursive-descent parser
written here: numbers, the variable ``x`` (or ``z``), ``+ - * / ** ^``, parentheses, ``pi``,
``e`` and a whitelist of functions.  Nothing is passed to ``eval``/``exec``/``sympify``;
attribute access, indexing, strings, lambdas, dunder names and every name outside the
whitelist are rejected with a one-line :class:`~derive.core.errors.InputError`.  Names are
exact: a bare name that is not a built-in (``relu6``, ``GELU``, ``swish``) is an error naming
the closest built-in (:data:`HINTS` explains why there are no aliases), never the identity.
An expression must be real on the whole line (checked where it is parsed).
"""

from __future__ import annotations

import decimal
import difflib
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath

from ..core.errors import InputError
from .analysis import BUILTIN_SHAPE, Shape

Fn = Callable[[mpmath.mpf], mpmath.mpf]
Pair = Callable[[mpmath.mpf], tuple[mpmath.mpf, mpmath.mpf]]
FloatPair = Callable[[float], tuple[float, float]]

# Klambauer et al. 2017 (eq. 14), as published and as every framework hard-codes them.
SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_LAMBDA = "1.0507009873554804934193349852946"
GELU_TANH_C = "0.044715"

MAX_EXPRESSION_LENGTH = 200
MAX_NESTING = 24
MAX_EXPONENT = 64
MAX_LITERAL_DIGITS = 30


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: str
    low: str  # inclusive lower bound, decimal text
    doc: str


@dataclass(frozen=True)
class BuiltinSpec:
    name: str
    doc: str
    param: ParamSpec | None
    closed_form: bool  # SymPy integrates its Gaussian moments exactly
    odd: bool = False  # f(-z) = -f(z), so E[f] = 0 exactly (tests check it with SymPy)


BUILTINS: tuple[BuiltinSpec, ...] = (
    BuiltinSpec("linear", "z", None, True, odd=True),
    BuiltinSpec("relu", "max(z, 0)", None, True),
    BuiltinSpec(
        "leaky_relu",
        "z for z > 0, a z otherwise",
        ParamSpec("a", "0.01", "0", "negative slope a >= 0 (PyTorch's default 0.01)"),
        True,
    ),
    BuiltinSpec(
        "elu",
        "z for z > 0, alpha (exp(z) - 1) otherwise",
        ParamSpec("alpha", "1", "0", "alpha >= 0 (default 1)"),
        True,
    ),
    BuiltinSpec("selu", f"{SELU_LAMBDA} * elu(z, {SELU_ALPHA})", None, True),
    BuiltinSpec("gelu", "z Phi(z) = z (1 + erf(z/sqrt(2))) / 2", None, True),
    BuiltinSpec("gelu_tanh", f"z (1 + tanh(sqrt(2/pi) (z + {GELU_TANH_C} z^3))) / 2", None, False),
    BuiltinSpec("silu", "z / (1 + exp(-z))", None, False),
    BuiltinSpec("mish", "z tanh(log(1 + exp(z)))", None, False),
    BuiltinSpec("softplus", "log(1 + exp(z))", None, False),
    BuiltinSpec("tanh", "tanh(z)", None, False, odd=True),
    BuiltinSpec("sigmoid", "1 / (1 + exp(-z))", None, False),
)
BUILTIN_NAMES: tuple[str, ...] = tuple(b.name for b in BUILTINS)
_BY_NAME = {b.name: b for b in BUILTINS}


@dataclass(frozen=True)
class Activation:
    """One activation with a fixed parameter value.

    ``f`` and ``df`` evaluate at the current mpmath precision.  ``shape`` says where the
    quadrature must split (kinks, singular points; 0 for every activation, which also makes
    odd integrands cancel to the working precision) and bounds the growth of f and f' at
    +-infinity (:class:`derive.maths.analysis.Shape`).  ``odd`` is proven (SymPy), never
    guessed from numbers: it is what lets E[f] print as an exact 0.
    """

    name: str
    label: str  # e.g. "leaky_relu(a=0.01)", or the expression in the user's variable
    param: decimal.Decimal | None
    f: Fn
    df: Fn
    closed_form: bool
    homogeneous: bool  # f(c z) = c f(z) for c > 0: the ReLU family
    odd: bool
    shape: Shape
    expression: Any = None  # a SymPy expression in z for user activations (None: built in)
    polynomial: bool = False  # a polynomial in z with exact coefficients: moments in closed form
    variable: str = "z"  # the user's variable (x or z), for messages
    pair: Pair | None = None  # (f, f') in one call, the same values (None: f and df apart)
    pair64: FloatPair | None = None  # (f, f') in float64 (None: no float64 evaluation)

    def values(self, x: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
        """(f(x), f'(x)), bit for bit the values of ``f`` and ``df``."""
        if self.pair is not None:
            return self.pair(x)
        return self.f(x), self.df(x)

    def sympy_expr(self) -> Any:
        """f as a SymPy expression in ``z`` (imports SymPy)."""
        if self.expression is not None:
            return self.expression
        return builtin_sympy_expr(self.name, self.param)


@functools.lru_cache(maxsize=256)
def _const_at(text: str, prec: int) -> mpmath.mpf:
    """_mp(text) at ``prec`` bits (the value the conversion gives at that precision)."""
    with mpmath.workprec(prec):
        return _mp(text)


def _c(text: str | decimal.Decimal) -> mpmath.mpf:
    """A decimal constant at the current precision, converted once per precision."""
    return _const_at(str(text), mpmath.mp.prec)


@functools.lru_cache(maxsize=64)
def _roots_at(prec: int) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    """sqrt(2), sqrt(2 pi) and sqrt(2 / pi) at ``prec`` bits."""
    with mpmath.workprec(prec):
        return mpmath.sqrt(2), mpmath.sqrt(2 * mpmath.pi), mpmath.sqrt(2 / mpmath.pi)


def _roots() -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    return _roots_at(mpmath.mp.prec)


def _mp(text: str | decimal.Decimal) -> mpmath.mpf:
    from ..core.numbers import to_mpf

    return to_mpf(decimal.Decimal(text))


def _sigmoid(t: mpmath.mpf) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-t))


def _softplus(t: mpmath.mpf) -> mpmath.mpf:
    # log(1 + e^t) = t + log(1 + e^-t): no overflow of e^t in either direction
    return t + mpmath.log1p(mpmath.exp(-t)) if t > 0 else mpmath.log1p(mpmath.exp(t))


def _sech2(t: mpmath.mpf) -> mpmath.mpf:
    return 1 - mpmath.tanh(t) ** 2


def _normal_cdf(t: mpmath.mpf) -> mpmath.mpf:
    return mpmath.erfc(-t / _roots()[0]) / 2


def _normal_pdf(t: mpmath.mpf) -> mpmath.mpf:
    return mpmath.exp(-t * t / 2) / _roots()[1]


# float64 twins of the helpers above (overflow-free on the whole line), for the float64
# quadrature rules of derive.maths.gaussian_rule
def _sigmoid64(t: float) -> float:
    if t >= 0.0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def _softplus64(t: float) -> float:
    return t + math.log1p(math.exp(-t)) if t > 0.0 else math.log1p(math.exp(t))


_SQRT2_64 = math.sqrt(2.0)
_SQRT_2PI_64 = math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI_64 = math.sqrt(2.0 / math.pi)


def _parse_param(spec: ParamSpec, value: object) -> decimal.Decimal:
    from ..core.numbers import parse_bound

    d = parse_bound(spec.default if value is None else value, spec.name)
    if d.is_infinite() or d < decimal.Decimal(spec.low):
        raise InputError(
            f"{spec.name}: {value!r} is out of range (accepted: a finite real >= {spec.low})"
        )
    return d


@dataclass(frozen=True)
class _Numeric:
    f: Fn
    df: Fn
    pair: Pair  # (f(t), f'(t)), the very values of f and df, sharing their subexpressions
    pair64: FloatPair  # the same in float64


def _numeric(name: str, p: decimal.Decimal | None) -> _Numeric:
    """f, f', (f, f') and its float64 twin of a built-in as callables (mpmath ones read the
    precision at call time).  ``pair`` computes the same expressions as ``f`` and ``df`` in
    the same order, once each, so its values are theirs bit for bit."""
    if name == "linear":
        return _Numeric(
            lambda t: t, lambda t: mpmath.mpf(1), lambda t: (t, mpmath.mpf(1)), lambda t: (t, 1.0)
        )
    if name == "relu":
        return _Numeric(
            lambda t: t if t > 0 else mpmath.mpf(0),
            lambda t: mpmath.mpf(1) if t > 0 else mpmath.mpf(0),
            lambda t: (t, mpmath.mpf(1)) if t > 0 else (mpmath.mpf(0), mpmath.mpf(0)),
            lambda t: (t, 1.0) if t > 0.0 else (0.0, 0.0),
        )
    if name == "leaky_relu":
        assert p is not None
        a, a64 = str(p), float(p)
        return _Numeric(
            lambda t: t if t > 0 else _c(a) * t,
            lambda t: mpmath.mpf(1) if t > 0 else _c(a),
            lambda t: (t, mpmath.mpf(1)) if t > 0 else (_c(a) * t, _c(a)),
            lambda t: (t, 1.0) if t > 0.0 else (a64 * t, a64),
        )
    if name in ("elu", "selu"):
        alpha = str(p) if name == "elu" else SELU_ALPHA
        lam = "1" if name == "elu" else SELU_LAMBDA
        alpha64, lam64 = float(decimal.Decimal(alpha)), float(decimal.Decimal(lam))

        def elu(t: mpmath.mpf) -> mpmath.mpf:
            return _c(lam) * (t if t > 0 else _c(alpha) * mpmath.expm1(t))

        def delu(t: mpmath.mpf) -> mpmath.mpf:
            return _c(lam) * (mpmath.mpf(1) if t > 0 else _c(alpha) * mpmath.exp(t))

        def elu_pair(t: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            return elu(t), delu(t)

        def elu64(t: float) -> tuple[float, float]:
            if t > 0.0:
                return lam64 * t, lam64
            return lam64 * (alpha64 * math.expm1(t)), lam64 * (alpha64 * math.exp(t))

        return _Numeric(elu, delu, elu_pair, elu64)
    if name == "gelu":

        def gelu_pair(t: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            cdf = _normal_cdf(t)
            return t * cdf, cdf + t * _normal_pdf(t)

        def gelu64(t: float) -> tuple[float, float]:
            cdf = math.erfc(-t / _SQRT2_64) / 2.0
            return t * cdf, cdf + t * (math.exp(-t * t / 2.0) / _SQRT_2PI_64)

        return _Numeric(
            lambda t: t * _normal_cdf(t),
            lambda t: _normal_cdf(t) + t * _normal_pdf(t),
            gelu_pair,
            gelu64,
        )
    if name == "gelu_tanh":

        def inner(t: mpmath.mpf) -> mpmath.mpf:
            return _roots()[2] * (t + _c(GELU_TANH_C) * t**3)

        def gt(t: mpmath.mpf) -> mpmath.mpf:
            return t * (1 + mpmath.tanh(inner(t))) / 2

        def slope(t: mpmath.mpf) -> mpmath.mpf:
            return _roots()[2] * (1 + 3 * _c(GELU_TANH_C) * t**2)

        def dgt(t: mpmath.mpf) -> mpmath.mpf:
            u = inner(t)
            return (1 + mpmath.tanh(u)) / 2 + t * _sech2(u) * slope(t) / 2

        def gt_pair(t: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            th = mpmath.tanh(inner(t))
            return t * (1 + th) / 2, (1 + th) / 2 + t * (1 - th**2) * slope(t) / 2

        c64 = float(decimal.Decimal(GELU_TANH_C))

        def gt64(t: float) -> tuple[float, float]:
            th = math.tanh(_SQRT_2_OVER_PI_64 * (t + c64 * t**3))
            du = _SQRT_2_OVER_PI_64 * (1.0 + 3.0 * c64 * t**2)
            return t * (1.0 + th) / 2.0, (1.0 + th) / 2.0 + t * (1.0 - th * th) * du / 2.0

        return _Numeric(gt, dgt, gt_pair, gt64)
    if name == "silu":

        def silu_pair(t: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            s = _sigmoid(t)
            return t * s, s * (1 + t * (1 - s))

        def silu64(t: float) -> tuple[float, float]:
            s = _sigmoid64(t)
            return t * s, s * (1.0 + t * (1.0 - s))

        return _Numeric(
            lambda t: t * _sigmoid(t),
            lambda t: silu_pair(t)[1],
            silu_pair,
            silu64,
        )
    if name == "mish":

        def dmish(t: mpmath.mpf) -> mpmath.mpf:
            sp = _softplus(t)
            return mpmath.tanh(sp) + t * _sech2(sp) * _sigmoid(t)

        def mish_pair(t: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            th = mpmath.tanh(_softplus(t))
            return t * th, th + t * (1 - th**2) * _sigmoid(t)

        def mish64(t: float) -> tuple[float, float]:
            th = math.tanh(_softplus64(t))
            return t * th, th + t * (1.0 - th * th) * _sigmoid64(t)

        return _Numeric(lambda t: t * mpmath.tanh(_softplus(t)), dmish, mish_pair, mish64)
    if name == "softplus":
        return _Numeric(
            _softplus,
            _sigmoid,
            lambda t: (_softplus(t), _sigmoid(t)),
            lambda t: (_softplus64(t), _sigmoid64(t)),
        )
    if name == "tanh":

        def tanh_pair(t: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            th = mpmath.tanh(t)
            return th, 1 - th**2

        def tanh64(t: float) -> tuple[float, float]:
            th = math.tanh(t)
            return th, 1.0 - th * th

        return _Numeric(mpmath.tanh, _sech2, tanh_pair, tanh64)
    if name == "sigmoid":

        def sigmoid_pair(t: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
            s = _sigmoid(t)
            return s, s * (1 - s)

        def sigmoid64(t: float) -> tuple[float, float]:
            s = _sigmoid64(t)
            return s, s * (1.0 - s)

        return _Numeric(_sigmoid, lambda t: sigmoid_pair(t)[1], sigmoid_pair, sigmoid64)
    raise AssertionError(name)  # pragma: no cover


def builtin(name: str, param: object = None) -> Activation:
    """A built-in activation by name; ``param`` is its parameter (leaky_relu a, elu alpha)."""
    if not isinstance(name, str) or name not in _BY_NAME:
        raise InputError(unknown_name_message(name))
    spec = _BY_NAME[name]
    if spec.param is None:
        if param is not None:
            raise InputError(f"{name}: takes no parameter, got {param!r}")
        p = None
        label = name
    else:
        p = _parse_param(spec.param, param)
        label = f"{name}({spec.param.name}={p})"
    numeric = _numeric(name, p)
    return Activation(
        name=name,
        label=label,
        param=p,
        f=numeric.f,
        df=numeric.df,
        closed_form=spec.closed_form,
        homogeneous=name in ("linear", "relu", "leaky_relu"),
        odd=spec.odd,
        shape=BUILTIN_SHAPE,
        pair=numeric.pair,
        pair64=numeric.pair64,
    )


def builtin_sympy_expr(name: str, param: decimal.Decimal | None) -> Any:
    """The built-in's defining SymPy expression in ``z`` (exact rationals for decimals)."""
    import sympy as sp

    z = sp.Symbol("z", real=True)

    def rat(d: decimal.Decimal | str | int) -> Any:
        return sp.Rational(str(d))

    pos = z > 0
    exprs: dict[str, Callable[[], Any]] = {
        "linear": lambda: z,
        "relu": lambda: sp.Piecewise((z, pos), (0, True)),
        "leaky_relu": lambda: sp.Piecewise((z, pos), (rat(param or 0) * z, True)),
        "elu": lambda: sp.Piecewise((z, pos), (rat(param or 1) * (sp.exp(z) - 1), True)),
        "selu": lambda: (
            rat(SELU_LAMBDA) * sp.Piecewise((z, pos), (rat(SELU_ALPHA) * (sp.exp(z) - 1), True))
        ),
        "gelu": lambda: z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
        "gelu_tanh": lambda: (
            z * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (z + rat(GELU_TANH_C) * z**3))) / 2
        ),
        "silu": lambda: z / (1 + sp.exp(-z)),
        "mish": lambda: z * sp.tanh(sp.log(1 + sp.exp(z))),
        "softplus": lambda: sp.log(1 + sp.exp(z)),
        "tanh": lambda: sp.tanh(z),
        "sigmoid": lambda: 1 / (1 + sp.exp(-z)),
    }
    return exprs[name]()


# --------------------------------------------------------------------------------------
# Safe parser for user expressions
# --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z][A-Za-z0-9]*)"
    r"|(?P<op>\*\*|[-+*/^(),]))"
)
FUNCTIONS: tuple[str, ...] = (
    "abs",
    "cos",
    "cosh",
    "erf",
    "erfc",
    "exp",
    "log",
    "max",
    "min",
    "sigmoid",
    "sin",
    "sinh",
    "softplus",
    "sqrt",
    "tanh",
)
CONSTANTS: tuple[str, ...] = ("pi", "e")
VARIABLES: tuple[str, ...] = ("x", "z")

# Names users reach for that are not built in, and what to write instead.  None of them is
# accepted as an alias: "swish" is x sigmoid(beta x) with a trainable beta (silu only at
# beta = 1), "GELU" does not say whether the erf form or the tanh approximation is meant
# (frameworks differ in their defaults), and one exact name per definition keeps the CLI,
# the tables and the generated files' ``activation=`` in agreement.
HINTS: dict[str, str] = {
    "swish": "'silu' (swish with beta = 1; any beta: 'x*sigmoid(b*x)' with a number b)",
    "relu6": "the expression 'min(max(x, 0), 6)'",
    "hardtanh": "the expression 'max(-1, min(x, 1))'",
    "identity": "'linear'",
    "logistic": "'sigmoid'",
    "lrelu": "'leaky_relu'",
    "prelu": "'leaky_relu' with --param",
    "gelu_erf": "'gelu'",
    "gelu_approx": "'gelu_tanh'",
}

# Well-known names of built-ins under another name, for the generated initializers, whose
# ``activation=`` takes the exact built-in names only: name -> (the built-in, why).  None of
# them is accepted either; the error names the built-in and says why
# ("did you mean 'silu'? (swish with beta=1 is silu)").  Keys are lower-case with
# underscores; every value names a key of BUILTIN_NAMES (checked where the model is built).
SYNONYMS: dict[str, tuple[str, str]] = {
    "swish": ("silu", "swish with beta=1 is silu"),
    "gelu_erf": ("gelu", "the erf form of GELU is gelu"),
    "gelu_exact": ("gelu", "the erf form of GELU is gelu"),
    "gelu_approx": ("gelu_tanh", "the tanh approximation of GELU is gelu_tanh"),
    "gelu_approximate": ("gelu_tanh", "the tanh approximation of GELU is gelu_tanh"),
    "approximate_gelu": ("gelu_tanh", "the tanh approximation of GELU is gelu_tanh"),
    "gelu_new": ("gelu_tanh", "the tanh approximation of GELU is gelu_tanh"),
    "gelu_fast": ("gelu_tanh", "the tanh approximation of GELU is gelu_tanh"),
    "gelu_pytorch_tanh": ("gelu_tanh", "the tanh approximation of GELU is gelu_tanh"),
    "tanh_gelu": ("gelu_tanh", "the tanh approximation of GELU is gelu_tanh"),
    "lrelu": ("leaky_relu", "leaky_relu is the leaky ReLU of slope 0.01"),
    "leaky": ("leaky_relu", "leaky_relu is the leaky ReLU of slope 0.01"),
    "leakyrelu": ("leaky_relu", "leaky_relu is the leaky ReLU of slope 0.01"),
    "identity": ("linear", "the identity is linear"),
    "logistic": ("sigmoid", "the logistic function is sigmoid"),
}


def suggestion(name: str) -> str:
    """ "; did you mean ...?" for a name close to a built-in (case, spaces, typos), or ""."""
    key = name.strip().lower()
    if key in _BY_NAME:
        return f"; did you mean {key!r}? (names are exact and lower-case)"
    if key in HINTS:
        return f"; did you mean {HINTS[key]}?"
    close = difflib.get_close_matches(key, [*BUILTIN_NAMES, *HINTS], n=1, cutoff=0.7)
    if not close:
        return ""
    return f"; did you mean {HINTS.get(close[0], repr(close[0]))}?"


def unknown_name_message(name: object) -> str:
    """One line for a name that is not a built-in: the closest one, then all of them."""
    hint = suggestion(name) if isinstance(name, str) else ""
    return (
        f"activation: {name!r} is not a built-in activation{hint} (accepted: "
        f"{', '.join(BUILTIN_NAMES)}, or an expression in x such as 'x*tanh(x)')"
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None or m.end() == pos:
            bad = stripped[pos:].lstrip()[:1]
            raise InputError(
                f"activation: unexpected character {bad!r} in {text!r} (accepted: numbers, "
                "one variable, + - * / ** ^ ( ) , and the functions " + ", ".join(FUNCTIONS) + ")"
            )
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """expr := term (('+'|'-') term)*;  term := unary (('*'|'/') unary)*;
    unary := ('+'|'-') unary | power;  power := atom (('**'|'^') unary)?;
    atom := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'."""

    def __init__(self, text: str, tokens: list[tuple[str, str]]) -> None:
        import sympy as sp

        self.sp = sp
        self.text = text
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.variable: str | None = None
        self.z = sp.Symbol("z", real=True)

    def _fail(self, why: str) -> InputError:
        return InputError(f"activation: {why} in {self.text!r}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self._fail("unexpected end of expression")
        if value is not None and tok[1] != value:
            raise self._fail(f"expected {value!r}, found {tok[1]!r}")
        self.pos += 1
        return tok

    def parse(self) -> Any:
        expr = self.expr()
        if self.peek() is not None:
            raise self._fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return expr

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self._fail(f"nesting deeper than {MAX_NESTING}")

    def expr(self) -> Any:
        self._nest()
        left = self.term()
        while (tok := self.peek()) is not None and tok[1] in "+-":
            self.take()
            right = self.term()
            left = left + right if tok[1] == "+" else left - right
        self.depth -= 1
        return left

    def term(self) -> Any:
        left = self.unary()
        while (tok := self.peek()) is not None and tok[1] in ("*", "/"):
            self.take()
            right = self.unary()
            if tok[1] == "/":
                if right == 0:
                    raise self._fail("division by zero")
                left = left / right
            else:
                left = left * right
        return left

    def unary(self) -> Any:
        tok = self.peek()
        if tok is not None and tok[1] in "+-" and tok[0] == "op":
            self.take()
            self._nest()
            value = self.unary()
            self.depth -= 1
            return -value if tok[1] == "-" else value
        return self.power()

    def power(self) -> Any:
        base = self.atom()
        tok = self.peek()
        if tok is not None and tok[1] in ("**", "^"):
            self.take()
            self._nest()
            exponent = self.unary()
            self.depth -= 1
            if not exponent.is_number:
                raise self._fail("a power's exponent must be a number")
            if abs(float(exponent)) > MAX_EXPONENT:
                raise self._fail(f"exponent {exponent} exceeds {MAX_EXPONENT} in magnitude")
            return base**exponent
        return base

    def atom(self) -> Any:
        sp = self.sp
        kind, value = self.take()
        if kind == "num":
            mantissa = value.lower().split("e")[0]
            if len(mantissa.replace(".", "").lstrip("0")) > MAX_LITERAL_DIGITS:
                raise self._fail(f"number {value} has more than {MAX_LITERAL_DIGITS} digits")
            if "e" in value.lower() and abs(int(value.lower().split("e")[1])) > 30:
                raise self._fail(f"number {value} is out of range (accepted: 1e-30..1e30)")
            return sp.Rational(value)
        if kind == "op":
            if value == "(":
                inner = self.expr()
                self.take(")")
                return inner
            raise self._fail(f"unexpected {value!r}")
        # a name
        tok = self.peek()
        if tok is not None and tok[1] == "(":
            if value not in FUNCTIONS:
                close = difflib.get_close_matches(value.lower(), FUNCTIONS, n=1, cutoff=0.75)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                if value in _BY_NAME:
                    hint = "; built-in activations are names on their own, not functions"
                raise self._fail(
                    f"unknown function {value!r}{hint} (accepted: {', '.join(FUNCTIONS)})"
                )
            self.take("(")
            args = [self.expr()]
            while (t := self.peek()) is not None and t[1] == ",":
                self.take(",")
                args.append(self.expr())
            self.take(")")
            return self._call(value, args)
        if value == "pi":
            return sp.pi
        if value == "e":
            return sp.E
        if value in FUNCTIONS:
            raise self._fail(f"function {value!r} used without arguments")
        if value not in VARIABLES:
            if self.variable is not None:
                raise self._fail(
                    f"second variable {value!r} (accepted: one variable, x or z; "
                    f"here {self.variable!r})"
                )
            hint = suggestion(value)
            raise self._fail(
                f"unknown name {value!r}{hint} (accepted: the variable x or z, the constants "
                "pi and e, and the functions " + ", ".join(FUNCTIONS) + ")"
            )
        if self.variable is None:
            self.variable = value
        elif value != self.variable:
            raise self._fail(
                f"second variable {value!r} (accepted: one variable, x or z; "
                f"here {self.variable!r})"
            )
        return self.z

    def _call(self, name: str, args: list[Any]) -> Any:
        sp = self.sp
        two = name in ("max", "min")
        if (len(args) != 2) if two else (len(args) != 1):
            raise self._fail(f"{name}() takes {2 if two else 1} argument(s), got {len(args)}")
        a = args[0]
        table: dict[str, Callable[[], Any]] = {
            "abs": lambda: sp.Abs(a),
            "cos": lambda: sp.cos(a),
            "cosh": lambda: sp.cosh(a),
            "erf": lambda: sp.erf(a),
            "erfc": lambda: sp.erfc(a),
            "exp": lambda: sp.exp(a),
            "log": lambda: sp.log(a),
            "max": lambda: sp.Max(a, args[-1]),
            "min": lambda: sp.Min(a, args[-1]),
            "sigmoid": lambda: 1 / (1 + sp.exp(-a)),
            "sin": lambda: sp.sin(a),
            "sinh": lambda: sp.sinh(a),
            "softplus": lambda: sp.log(1 + sp.exp(a)),
            "sqrt": lambda: sp.sqrt(a),
            "tanh": lambda: sp.tanh(a),
        }
        if a.is_number and name in ("exp", "sinh", "cosh") and abs(float(a)) > 700:
            raise self._fail(f"{name}({a}) is out of range")
        return table[name]()


def parse_activation(text: object) -> Activation:
    """A user activation from an expression string in x (or z), e.g. ``"x*erf(x)"``.

    Safe by construction: a whitelist tokenizer and recursive-descent parser build the
    SymPy expression directly (no ``eval``, no ``sympify``); numbers become exact rationals.
    The expression must be real on the whole line (a log or a fractional power of a
    negative number is an error naming where); its label keeps the user's variable.
    """
    import sympy as sp

    from .analysis import (
        expression_shape,
        node_text,
        point_function,
        real_domain_problem,
    )

    if not isinstance(text, str):
        raise InputError(f"activation: {text!r} is not a string (accepted: an expression)")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InputError(
            f"activation: expression of {len(text)} characters is too long "
            f"(accepted: at most {MAX_EXPRESSION_LENGTH})"
        )
    if not text.strip():
        raise InputError("activation: empty expression (accepted: an expression in x)")
    parser = _Parser(text, _tokens(text))
    expr = parser.parse()
    z = parser.z
    variable = parser.variable or "x"
    if z not in expr.free_symbols:
        raise InputError(
            f"activation: {text!r} does not depend on a variable (accepted: an expression in x)"
        )
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise InputError(f"activation: {text!r} is undefined (division by zero or infinity)")
    problem = real_domain_problem(expr, z, variable)
    if problem is not None:
        node, lo, hi, why = problem
        raise InputError(
            f"activation: {node_text(node, z, variable)} in {text!r} is not real for "
            f"{_region(variable, lo, hi)} ({why}; accepted: expressions real on the whole line)"
        )
    return Activation(
        name="expression",
        label=node_text(expr, z, variable),
        param=None,
        f=point_function(expr, z),
        df=point_function(sp.diff(expr, z), z),
        closed_form=False,
        homogeneous=False,
        odd=is_odd(expr, z),
        shape=expression_shape(expr, z, variable),
        expression=expr,
        polynomial=_exact_polynomial(expr, z),
        variable=variable,
    )


def _region(variable: str, lo: float, hi: float) -> str:
    if lo == -math.inf:
        return f"{variable} < {hi:.8g}"
    if hi == math.inf:
        return f"{variable} > {lo:.8g}"
    return f"{lo:.8g} < {variable} < {hi:.8g}"


ODD_SIMPLIFY_OPS = 40  # SymPy's simplify only for expressions this small (bounded time)


def is_odd(expr: Any, z: Any) -> bool:
    """f(-z) + f(z) == 0, proven by SymPy (automatic simplification, cancel, then simplify
    for small expressions); False when it cannot be shown (E[f] is then computed)."""
    import sympy as sp

    total = expr.subs(z, -z) + expr
    if total == 0:
        return True
    if sp.count_ops(total) > ODD_SIMPLIFY_OPS:
        return False
    try:
        return bool(sp.cancel(total) == 0 or sp.simplify(total) == 0)
    except (sp.PolynomialError, TypeError, ValueError):  # pragma: no cover - SymPy limits
        return False


MAX_EXACT_DEGREE = 512


def _exact_polynomial(expr: Any, z: Any) -> bool:
    """A polynomial in z of moderate degree: its Gaussian moments are exact sums of (k-1)!!."""
    import sympy as sp

    if not expr.is_polynomial(z):
        return False
    return bool(sp.Poly(expr, z).degree() <= MAX_EXACT_DEGREE)


def activation(name_or_expression: str, param: object = None) -> Activation:
    """A built-in by name, else a user expression in x (``param`` only for built-ins).

    A bare name that is neither a built-in nor the variable (``relu6``, ``GELU``,
    ``"relu "``) is an error with the closest built-in, never the identity.
    """
    if isinstance(name_or_expression, str) and name_or_expression in _BY_NAME:
        return builtin(name_or_expression, param)
    if (
        isinstance(name_or_expression, str)
        and len(name_or_expression) <= MAX_EXPRESSION_LENGTH
        and _BARE_NAME.match(name_or_expression)
        and name_or_expression.strip() not in VARIABLES
    ):
        raise InputError(unknown_name_message(name_or_expression))
    if param is not None:
        raise InputError(
            f"activation: {name_or_expression!r} is not built in, so --param does not apply "
            f"(accepted names: {', '.join(BUILTIN_NAMES)})"
        )
    return parse_activation(name_or_expression)


_BARE_NAME = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*\Z")
