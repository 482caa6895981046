"""Every quantity of `gain` right to the requested digits, tiny and cancelling ones included.

Each value is compared, as the printed string, with an independent reference: exact closed
forms (affine f = c x + d: E[f] = d, Var = c^2; the ReLU family's textbook moments; SELU's
E[f] from Phi; exp(a x^2): (1 - 2a)^(-1/2) ...) or mpmath's own quadrature over the whole
line (its infinite-interval transformation, not initref's cut), split at the kinks by hand,
at 40 more digits than asked.  The examples users reported are asserted digit by digit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import mpmath
import pytest

from derive.core.errors import InputError
from derive.core.numbers import format_sig
from derive.maths.gains import QUANTITIES, Gains, gains

ROOT = Path(__file__).resolve().parent.parent
Fn = Callable[[mpmath.mpf], mpmath.mpf]


def _reference(mean: mpmath.mpf, m2: mpmath.mpf, d2: mpmath.mpf) -> dict[str, mpmath.mpf]:
    return {
        "mean": mean,
        "second_moment": m2,
        "variance": m2 - mean * mean,
        "derivative_second_moment": d2,
        "forward_gain": 1 / mpmath.sqrt(m2),
        "backward_gain": 1 / mpmath.sqrt(d2),
        "variance_gain": 1 / mpmath.sqrt(m2 - mean * mean),
    }


def _assert_printed(g: Gains, ref: dict[str, mpmath.mpf], digits: int) -> None:
    for q in QUANTITIES:
        assert format_sig(getattr(g, q), digits) == format_sig(ref[q], digits), q


def _quad(g: Fn, kinks: Sequence[mpmath.mpf]) -> mpmath.mpf:
    """E[g(z)] by mpmath over (-inf, inf), split at ``kinks`` (at the current precision)."""
    pts = [-mpmath.inf, *kinks, mpmath.inf]
    return mpmath.quad(lambda x: g(x) * mpmath.exp(-x * x / 2), pts) / mpmath.sqrt(2 * mpmath.pi)


# --- affine f = c x + d: E[f] = d, E[f^2] = c^2 + d^2, Var = c^2, E[f'^2] = c^2 (exact) ---

AFFINE = [("1e-20", "1"), ("1", "1e15"), ("1e-15", "-3"), ("-2.5", "1e-25"), ("3", "0")]


@pytest.mark.parametrize("method", ["auto", "quadrature"])
@pytest.mark.parametrize(("c", "d"), AFFINE)
def test_affine_moments_exact_even_when_the_variance_cancels(c: str, d: str, method: str) -> None:
    """Before: gain "1e-20*x+1" --digits 25 printed variance 1.0000016e-40, variance_gain
    99999919169908123550; "x+1e15" variance 1.000000000000000111."""
    digits = 25
    g = gains(f"{c}*x+{d}", digits=digits, method=method)
    with mpmath.workdps(80):
        cc, dd = (mpmath.mpf(Fraction(v).numerator) / Fraction(v).denominator for v in (c, d))
        ref = _reference(dd, cc * cc + dd * dd, cc * cc)
        ref["variance"] = cc * cc  # exactly, not through the subtraction
        ref["variance_gain"] = 1 / abs(cc)
        _assert_printed(g, ref, digits)
    if d == "0":
        assert g.mean == 0  # proven: c x is odd


def test_issue_examples_of_the_cancelling_variance_via_the_cli(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from derive import cli

    assert cli.main(["gain", "1e-20*x+1", "--digits", "25", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["variance"] == "1.000000000000000000000000e-40"
    assert record["variance_gain"] == "100000000000000000000.0000"
    assert cli.main(["gain", "x+1e15", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["variance"] == "1.0000000000000000000"


def _tanh_moments() -> tuple[mpmath.mpf, mpmath.mpf]:
    """E[tanh^2] and E[sech^4] by mpmath over the whole line (at the current precision)."""
    return (
        _quad(lambda x: mpmath.tanh(x) ** 2, [0]),
        _quad(lambda x: (1 - mpmath.tanh(x) ** 2) ** 2, [0]),
    )


def test_tanh_plus_1e12_is_right_in_every_digit() -> None:
    """Before: wrong at digit 24 (the variance E[f^2] - E[f]^2 cancels 24 digits)."""
    g = gains("tanh(x)+1e12", digits=25)
    with mpmath.workdps(70):
        t2, s4 = _tanh_moments()
        big = mpmath.mpf(10) ** 12
        ref = _reference(big, big * big + t2, s4)  # E[tanh] = 0, E[tanh^2] = t2
        ref["variance"] = t2
        ref["variance_gain"] = 1 / mpmath.sqrt(t2)
        _assert_printed(g, ref, 25)


def test_tiny_variance_and_tiny_mean_by_quadrature() -> None:
    """1e-20 tanh(x) + 1: Var = 1e-40 E[tanh^2] under a mean of 1; tanh(x) + 1e-30 x^2:
    E[f] = 1e-30 exactly, next to E[tanh] = 0 that no symmetry proves for this f."""
    with mpmath.workdps(70):
        t2, s4 = _tanh_moments()
        eps = mpmath.mpf(10) ** -20
        g = gains("1e-20*tanh(x)+1", digits=25)
        ref = _reference(mpmath.mpf(1), 1 + eps * eps * t2, eps * eps * s4)
        ref["variance"] = eps * eps * t2
        ref["variance_gain"] = 1 / (eps * mpmath.sqrt(t2))
        _assert_printed(g, ref, 25)
        tiny = mpmath.mpf(10) ** -30
        h = gains("tanh(x)+1e-30*x**2", digits=25)
        # E[f^2] = t2 + 3e-60; E[f'^2] = E[sech^4] + 4e-60 (E[x sech^2] = 0, E[x^2] = 1)
        ref = _reference(tiny, t2 + 3 * tiny * tiny, s4 + 4 * tiny * tiny)
        _assert_printed(h, ref, 25)
    assert format_sig(h.mean, 25) == "1.000000000000000000000000e-30"


# --- SELU's mean ---


def _selu_mean() -> mpmath.mpf:
    """lambda (E[z; z > 0] + alpha E[e^z - 1; z < 0]) = lambda (phi(0) + alpha (e^(1/2)
    Phi(-1) - 1/2)), with the published alpha and lambda."""
    alpha = mpmath.mpf("1.6732632423543772848170429916717")
    lam = mpmath.mpf("1.0507009873554804934193349852946")
    phi0 = 1 / mpmath.sqrt(2 * mpmath.pi)
    return lam * (
        phi0 + alpha * (mpmath.exp(mpmath.mpf(1) / 2) * mpmath.ncdf(-1) - mpmath.mpf(1) / 2)
    )


@pytest.mark.parametrize("digits", [15, 25, 40])
def test_selu_mean_is_minus_1_2e_32_not_0(digits: int) -> None:
    """Before: `gain selu --digits 25` and constants.json printed "0"."""
    g = gains("selu", digits=digits)
    with mpmath.workdps(100):
        assert format_sig(g.mean, digits) == format_sig(_selu_mean(), digits)
    assert format_sig(g.mean, 20) == "-1.2014841457817363433e-32"


def test_generated_gains_table_holds_selu_mean_correctly_rounded() -> None:
    """constants.json (gain_digits = 25): the decimal, and the float64 nearest the exact
    value: the double -1.2014841457817364e-32 lies 0.054e-48 from it, its neighbour
    -1.2014841457817363e-32 (the value reported) 0.082e-48."""
    data = json.loads((ROOT / "generated" / "constants.json").read_text())
    (row,) = (r for r in data["gains"] if r["activation"] == "selu")
    with mpmath.workdps(100):
        exact = _selu_mean()
        assert row["mean"]["decimal"] == format_sig(exact, 25)
        assert float(row["mean"]["float64"]) == float(exact)  # mpf -> float rounds to nearest
    assert row["mean"]["float64"] == "-1.2014841457817364e-32"


# --- the ReLU family against its textbook moments ---


@pytest.mark.parametrize("slope", [None, "0.01", "0.2"])
def test_relu_family_against_textbook_moments(slope: str | None) -> None:
    """relu / leaky_relu(a): E[f] = (1 - a)/sqrt(2 pi), E[f^2] = E[f'^2] = (1 + a^2)/2."""
    digits = 40
    g = gains("relu" if slope is None else "leaky_relu", slope, digits=digits)
    with mpmath.workdps(80):
        a = mpmath.mpf(slope or 0)
        half = (1 + a * a) / 2
        _assert_printed(g, _reference((1 - a) / mpmath.sqrt(2 * mpmath.pi), half, half), digits)


def test_elu_against_its_moments() -> None:
    """elu(1): E[f] = phi(0) + e^(1/2) Phi(-1) - 1/2; E[f^2] = 1/2 + E[(e^z - 1)^2; z < 0];
    E[f'^2] = 1/2 + e^2 Phi(-2) (E[e^(kz); z < 0] = e^(k^2/2) Phi(-k))."""
    digits = 30
    g = gains("elu", digits=digits)
    with mpmath.workdps(80):
        e_k = [mpmath.exp(mpmath.mpf(k * k) / 2) * mpmath.ncdf(-k) for k in range(3)]
        mean = 1 / mpmath.sqrt(2 * mpmath.pi) + e_k[1] - e_k[0]
        m2 = mpmath.mpf(1) / 2 + e_k[2] - 2 * e_k[1] + e_k[0]
        _assert_printed(g, _reference(mean, m2, mpmath.mpf(1) / 2 + e_k[2]), digits)


# --- kinks at roots of non-linear arguments, heavy tails ---

KINKED: list[tuple[str, Fn, Fn, Callable[[], list[mpmath.mpf]]]] = [
    (
        "max(x**2,1)",
        lambda x: max(x * x, mpmath.mpf(1)),
        lambda x: 2 * x if abs(x) > 1 else mpmath.mpf(0),
        lambda: [mpmath.mpf(-1), mpmath.mpf(1)],
    ),
    (
        "abs(x**2-1)",
        lambda x: abs(x * x - 1),
        lambda x: 2 * x * mpmath.sign(x * x - 1),
        lambda: [mpmath.mpf(-1), mpmath.mpf(1)],
    ),
    (
        "abs(sin(x))",
        lambda x: abs(mpmath.sin(x)),
        lambda x: mpmath.cos(x) * mpmath.sign(mpmath.sin(x)),
        lambda: [k * mpmath.pi for k in range(-16, 17)],  # beyond 16 pi: weight < 1e-550
    ),
    (
        "min(x,tanh(x))",
        lambda x: min(x, mpmath.tanh(x)),
        lambda x: mpmath.mpf(1) if x < 0 else 1 - mpmath.tanh(x) ** 2,
        lambda: [mpmath.mpf(0)],
    ),
]


@pytest.mark.parametrize(("text", "f", "df", "kinks"), KINKED, ids=[k[0] for k in KINKED])
def test_kinked_expressions_against_quadrature_split_by_hand(
    text: str, f: Fn, df: Fn, kinks: Callable[[], list[mpmath.mpf]]
) -> None:
    """Before: "did not converge" (kinks were found only from linear conditions)."""
    digits = 25
    g = gains(text, digits=digits)
    with mpmath.workdps(digits + 40):
        pts = kinks()
        ref = _reference(
            _quad(f, pts), _quad(lambda x: f(x) ** 2, pts), _quad(lambda x: df(x) ** 2, pts)
        )
        _assert_printed(g, ref, digits)


def test_issue_value_of_max_x2_1() -> None:
    g = gains("max(x**2,1)", digits=20)
    assert format_sig(g.forward_gain, 20) == "0.52922745372791467051"


@pytest.mark.parametrize(
    ("text", "a"), [("exp(x**2/5)", Fraction(1, 5)), ("exp(-x**2)", Fraction(-1))]
)
def test_heavy_and_light_gaussian_tails_are_exact(text: str, a: Fraction) -> None:
    """f = exp(a x^2): E[f] = (1 - 2a)^(-1/2), E[f^2] = (1 - 4a)^(-1/2), E[f'^2] =
    4 a^2 (1 - 4a)^(-3/2).  a = 1/5: sqrt(5/3), sqrt(5), 4/sqrt(5) (before: refused at 25
    digits, the tail e^(-x^2/10) reaches far beyond the old cut)."""
    digits = 25
    g = gains(text, digits=digits)
    with mpmath.workdps(60):
        aa = mpmath.mpf(a.numerator) / a.denominator
        ref = _reference(
            1 / mpmath.sqrt(1 - 2 * aa),
            1 / mpmath.sqrt(1 - 4 * aa),
            4 * aa * aa / (1 - 4 * aa) ** 1.5,
        )
        _assert_printed(g, ref, digits)
    if a == Fraction(1, 5):
        assert format_sig(g.mean, 25) == "1.290994448735805628393088"  # sqrt(5/3)
        assert format_sig(g.second_moment, 25) == "2.236067977499789696409174"  # sqrt(5)
        assert format_sig(g.derivative_second_moment, 25) == "1.788854381999831757127339"


# --- a value is 0 only when it is exactly 0 ---


def test_zero_is_printed_only_when_proven() -> None:
    assert gains("tanh", digits=25).mean == 0  # odd: proven by SymPy
    assert gains("x**2-1", digits=25).mean == 0  # exact polynomial moments: E[z^2] = 1
    assert gains("sigmoid(x)-1/2", digits=20).mean == 0  # odd after simplification
    with pytest.raises(InputError, match=r"E\[f\] could not be resolved"):
        gains("abs(x)-sqrt(2/pi)", digits=20)  # exactly 0, but nothing proves it
