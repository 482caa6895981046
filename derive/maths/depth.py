"""What each framework's initialization does to the second moment of a deep plain network.

For a plain network x_l = f(W_l x_{l-1}) with no biases, weights of mean 0 and variance
``c / fan_in``, and a positively homogeneous f (ReLU family, f(t y) = t f(y) for t > 0), He
et al. (2015, eq. 8-9) give E[y_l^2] = c E[f(z)^2] E[y_{l-1}^2] exactly, layer by layer.  The
variance-preserving choice is c* = 1 / E[f(z)^2] (2 for ReLU), so each layer multiplies the
second moment by

    r = c / c* = c E[f(z)^2]        and L layers by r^L.

For ReLU the ratio of the last layer's mean square activation to the input's is r^L in
expectation for any width (E[relu(h)^2] = E[h^2] / 2 for every symmetric h), which is what
tests/test_article_puzzle.py measures.  The cases (c for ReLU in brackets):

* TF/Keras/JAX ``he_normal``: normal truncated at +-2 std with the std divided by s(2), so
  the std after truncation is sqrt(2 / fan_in) [c = 2, r = 1];
* ``truncated_normal(stddev=sqrt(2 / fan_in))``: the std is the one *before* truncation
  at +-k, so Var[w] = s(k)^2 2 / fan_in [r = s(k)^2; k = 2: 0.7737..., r^24 = 0.00212];
* PyTorch ``kaiming_normal_`` (untruncated) [c = 2, r = 1];
* PyTorch's default ``nn.Linear``/``nn.Conv`` init, ``kaiming_uniform_(a=sqrt(5))``:
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)), variance 1 / (3 fan_in) [c = 1/3, r = 1/6];
* Glorot/Xavier (fan_in = fan_out) and LeCun: variance 1 / fan_in [c = 1, r = 1/2].

Any other activation (a built-in or an expression, as ``gain`` takes them): the
variance-preserving choice is still c* = 1 / E[f(z)^2] (the square of the forward gain,
:mod:`derive.maths.gains`), and r = c E[f(z)^2] is still the first layer's factor from
unit-variance pre-activations, but r changes with the second moment: in a wide network
(mean field, Poole et al. 2016 eq. 3 without biases) the pre-activations' second moment
follows q_l = c V(q_(l-1)), V(q) = E[f(sqrt(q) z)^2], q_0 = 1, and the variance-preserving
init keeps q_l = 1 (c* V(1) = 1).  So the L-layer factor (column r^L) is q_L, iterated
layer by layer (for the ReLU family V(q) = q V(1) and q_L = r^L exactly).  The iteration
stops early once q has settled (a step below 10^-(digits + 2) (1 - e) of q, e = q V'(q) /
V(q) its slope: the steps left sum to less); each step's rounding is amplified by the
product of the later slopes, which is tracked and covered by extra digits; a q that leaves
[1e-100, 1e100] or does not settle within ``MAX_ITERATED_LAYERS`` layers is refused.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass

import mpmath

from ..core.errors import InputError
from ..core.numbers import parse_digits
from .activations import Activation, activation
from .gains import GUARD_DIGITS, gains
from .gaussian_rule import expectations
from .truncnorm import symmetric_std

DEFAULT_LAYERS = 24
MAX_LAYERS = 100_000
MAX_ITERATED_LAYERS = 2000  # length-map steps for activations outside the ReLU family
Q_RANGE = ("1e-100", "1e100")  # the second moments the iteration follows
TABLE_CUTOFFS: tuple[str, ...] = ("1", "2", "3")


@dataclass(frozen=True)
class DepthRow:
    key: str
    description: str
    weight_variance: str  # Var[w] as text, n = fan_in
    r: mpmath.mpf  # per-layer second-moment factor relative to the variance-preserving init
    r_layers: mpmath.mpf  # r^L
    log10_r_layers: mpmath.mpf


def parse_layers(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"layers: {value!r} is not an integer (accepted: 1..{MAX_LAYERS})")
    try:
        n = int(value)
    except ValueError:
        raise InputError(
            f"layers: {value!r} is not an integer (accepted: 1..{MAX_LAYERS})"
        ) from None
    if not 1 <= n <= MAX_LAYERS:
        raise InputError(f"layers: {n} is out of range (accepted: 1..{MAX_LAYERS})")
    return n


def depth_table(
    layers: object = DEFAULT_LAYERS,
    activation: str = "relu",
    param: object = None,
    cutoffs: tuple[decimal.Decimal | float | int | str, ...] = ("2",),
    digits: object = 30,
) -> list[DepthRow]:
    """r and r^L for the framework cases above plus uncorrected truncation at each cutoff."""
    n_layers = parse_layers(layers)
    n = parse_digits(digits)
    act = activation_of(activation, param)
    dps = n + GUARD_DIGITS
    m2 = gains(act, digits=n + 5).second_moment  # E[f(z)^2]; 1/2 for ReLU
    stds = [(k, symmetric_std(k, n + 5)) for k in cutoffs]
    with mpmath.workdps(dps):
        cases: list[tuple[str, str, str, mpmath.mpf]] = [
            (
                "tf_he_normal",
                "TF/Keras/JAX he_normal: truncated at +-2, std corrected by s(2)",
                "2/n",
                mpmath.mpf(2),
            ),
            (
                "torch_kaiming_normal",
                "PyTorch kaiming_normal_ (untruncated normal)",
                "2/n",
                mpmath.mpf(2),
            ),
        ]
        for k, s in stds:
            kt = k if isinstance(k, str) else str(k)
            cases.append(
                (
                    f"truncated_normal_uncorrected_k{kt}",
                    f"truncated_normal(stddev=sqrt(2/n)) cut at +-{kt}: std before truncation",
                    f"2 s({kt})^2/n",
                    2 * s * s,
                )
            )
        cases += [
            (
                "torch_default_linear",
                "PyTorch nn.Linear/nn.Conv default: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(n))",
                "1/(3n)",
                mpmath.mpf(1) / 3,
            ),
            (
                "xavier",
                "Glorot/Xavier normal or uniform, fan_in = fan_out = n",
                "1/n",
                mpmath.mpf(1),
            ),
            ("lecun_normal", "LeCun normal", "1/n", mpmath.mpf(1)),
        ]
    rows = []
    for key, text, var_text, c in cases:
        with mpmath.workdps(dps):
            r = c * m2
            # the ReLU family: every layer multiplies by r; otherwise the length map's q_L
            r_l = r**n_layers if act.homogeneous else layer_factor(act, c, n_layers, n, key)
            rows.append(DepthRow(key, text, var_text, r, r_l, mpmath.log10(r_l)))
    return rows


def activation_of(name_or_expression: str | Activation, param: object = None) -> Activation:
    if isinstance(name_or_expression, Activation):
        return name_or_expression
    return activation(name_or_expression, param)


def layer_factor(act: Activation, c: mpmath.mpf, layers: int, digits: int, case: str) -> mpmath.mpf:
    """q_L of q_l = c V(q_(l-1)), q_0 = 1 (module docstring), to ``digits`` digits: iterated
    with digits + 10, and again with the digits the tracked error amplification asks."""
    work = digits + 10
    for _ in range(2):
        q, amplification = _iterate(act, c, layers, work, case)
        with mpmath.workdps(30):
            lost = int(mpmath.ceil(mpmath.log10(amplification))) if amplification > 1 else 0
        if work - lost >= digits + 3:
            return q
        work = digits + 3 + lost + 2
    raise InputError(  # pragma: no cover - the second pass has the digits the first asked
        f"depth: {case}: the {layers}-layer second moment of {act.label} needs more than "
        f"{work} working digits"
    )


def _iterate(
    act: Activation, c: mpmath.mpf, layers: int, work: int, case: str
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """q_L and a bound of the amplification of one step's relative rounding error into q_L:
    sum over layers of the product of the later slopes e = q V'(q) / V(q) (V'(q) = E[x f f'] / q,
    the heat equation), each step contributing 10^-(work) relative."""
    dps = work + GUARD_DIGITS
    with mpmath.workdps(dps):
        c = +c
        low, high = (mpmath.mpf(v) for v in Q_RANGE)
        q = mpmath.mpf(1)
        amplification = mpmath.mpf(0)
        for layer in range(1, layers + 1):
            if layer > MAX_ITERATED_LAYERS:
                raise InputError(
                    f"depth: {case}: the second moment of {act.label} is still changing after "
                    f"{MAX_ITERATED_LAYERS} layers (accepted: up to {MAX_ITERATED_LAYERS} "
                    "layers, or more once the second moment settles, for activations outside "
                    "the ReLU family)"
                )
            m = expectations(act, q, work, dps, ("f2", "xffp"))
            if not m["f2"] > 0:
                raise InputError(f"depth: {case}: E[f^2] = 0 at q = {mpmath.nstr(q, 6)}")
            slope = abs(m["xffp"] / m["f2"])  # q V'(q) / V(q)
            new = c * m["f2"]
            amplification = amplification * slope + 1
            step = abs(new - q)
            q = new
            if not low <= q <= high:
                raise InputError(
                    f"depth: {case}: the second moment of {act.label} leaves [{Q_RANGE[0]}, "
                    f"{Q_RANGE[1]}] at layer {layer} (q = {mpmath.nstr(q, 6)}; accepted: "
                    "networks whose second moment stays in that range)"
                )
            if slope < 1 and step <= mpmath.mpf(10) ** -(work + 2) * (1 - slope) * q:
                break  # settled: the steps left sum to less than 10^-(work + 2) q
        return q, amplification


def variance_preserving_c(
    activation: str = "relu", param: object = None, digits: int = 30
) -> mpmath.mpf:
    """c* = 1 / E[f(z)^2]: fan_in Var[w] of the variance-preserving init (He's 2 for ReLU)."""
    g = gains(activation, param, digits)
    with mpmath.workdps(digits + GUARD_DIGITS):
        return 1 / g.second_moment


def truncated_uncorrected_r(k: decimal.Decimal | float | int | str, digits: int = 30) -> mpmath.mpf:
    """r = s(k)^2 for truncated_normal(stddev=sqrt(2/n)) cut at +-k, on ReLU."""
    s = symmetric_std(k, digits + 5)
    with mpmath.workdps(digits + GUARD_DIGITS):
        return s * s
