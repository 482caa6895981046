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
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass

import mpmath

from ..core.errors import InputError
from ..core.numbers import parse_digits
from .activations import builtin
from .gains import GUARD_DIGITS, gains
from .truncnorm import symmetric_std

DEFAULT_LAYERS = 24
MAX_LAYERS = 100_000
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
    act = builtin(activation, param)
    if not act.homogeneous:
        raise InputError(
            f"activation: {activation!r} is not positively homogeneous, so r is not the same "
            "in every layer (accepted: linear, relu, leaky_relu)"
        )
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
            r = c * m2
            r_l = r**n_layers
            rows.append(DepthRow(key, text, var_text, r, r_l, mpmath.log10(r_l)))
        return rows


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
