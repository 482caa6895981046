"""constants.VARIANCE_PRESERVING_SLOPE against an independent quadrature.

At Var[w] = g**2 / fan_in with g**2 = 1 / E[f(z)^2] and no bias, the length map
T(q) = g**2 E[f(sqrt(q) z)^2] has the fixed point q = 1, and differentiating the N(0, q) density
under the integral gives T'(1) = E[f(z)^2 (z^2 - 1)] / (2 E[f(z)^2]) -- no derivative of f,
no code shared with derive.maths.meanfield.elasticity.  Each activation is written out here
from its published formula; the integrals are mpmath.quad split at the kink 0, at 40 digits.
Every tabulated decimal (25 significant digits, in the comment above its entry) must be within
half a unit of its last digit of the reference, and the float64 its correctly rounded value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import mpmath
import pytest

from tests.conftest import GENERATED

SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_LAMBDA = "1.0507009873554804934193349852946"


def _softplus(x: mpmath.mpf) -> mpmath.mpf:
    return mpmath.log1p(mpmath.exp(x)) if x < 0 else x + mpmath.log1p(mpmath.exp(-x))


def _elu(alpha: mpmath.mpf) -> Callable[[mpmath.mpf], mpmath.mpf]:
    return lambda x: x if x > 0 else alpha * mpmath.expm1(x)


ACTIVATIONS: dict[str, Callable[[], Callable[[mpmath.mpf], mpmath.mpf]]] = {
    "linear": lambda: lambda x: x,
    "relu": lambda: lambda x: max(x, mpmath.mpf(0)),
    "leaky_relu": lambda: lambda x: x if x > 0 else mpmath.mpf("0.01") * x,
    "elu": lambda: _elu(mpmath.mpf(1)),
    "selu": lambda: (lambda e: lambda x: mpmath.mpf(SELU_LAMBDA) * e(x))(
        _elu(mpmath.mpf(SELU_ALPHA))
    ),
    "gelu": lambda: lambda x: x * mpmath.ncdf(x),
    "gelu_tanh": lambda: (
        lambda x: (
            x
            * (1 + mpmath.tanh(mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf("0.044715") * x**3)))
            / 2
        )
    ),
    "silu": lambda: lambda x: x / (1 + mpmath.exp(-x)),
    "mish": lambda: lambda x: x * mpmath.tanh(_softplus(x)),
    "softplus": lambda: _softplus,
    "tanh": lambda: mpmath.tanh,
    "sigmoid": lambda: lambda x: 1 / (1 + mpmath.exp(-x)),
}


def _tabulated() -> dict[str, tuple[str, float]]:
    """name -> (the 25-digit decimal of the comment, the float64 entry) from constants.py."""
    text = (GENERATED / "constants.py").read_text("utf-8")
    block = text[text.index("VARIANCE_PRESERVING_SLOPE: dict[str, float] = {") :]
    block = block[: block.index("\n}\n")]
    found = re.findall(
        r"#\s*([a-z_]+)(?:\([^)]*\))?: T'\(1\) = (\S+)\n(?:\s*#.*\n)*\s*\"([a-z_]+)\": (\S+),",
        block,
    )
    table = {key: (decimal, float(value)) for name, decimal, key, value in found if name == key}
    assert len(table) == len(found)
    return table


TABLE = _tabulated()


def test_every_builtin_has_a_tabulated_slope() -> None:
    assert sorted(TABLE) == sorted(ACTIVATIONS)


def _reference(name: str) -> mpmath.mpf:
    with mpmath.workdps(40):  # the constants (SELU's alpha) are read at this precision too
        f = ACTIVATIONS[name]()

        m2 = mpmath.quad(lambda x: f(x) ** 2 * mpmath.npdf(x), [-mpmath.inf, 0, mpmath.inf])
        m2z = mpmath.quad(
            lambda x: f(x) ** 2 * (x * x - 1) * mpmath.npdf(x), [-mpmath.inf, 0, mpmath.inf]
        )
        return m2z / (2 * m2)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_tabulated_slope_equals_an_independent_quadrature_to_every_printed_digit(
    name: str,
) -> None:
    decimal, value = TABLE[name]
    ref = _reference(name)
    with mpmath.workdps(40):
        printed = mpmath.mpf(decimal)
        digits = len(decimal.lstrip("-0.").replace(".", ""))
        half_unit = mpmath.mpf(10) ** (mpmath.floor(mpmath.log10(abs(ref))) - digits + 1) / 2
        assert abs(printed - ref) <= half_unit * (1 + mpmath.mpf(10) ** -10), (name, ref)
        assert value == float(ref), (name, value, ref)
