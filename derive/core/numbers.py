"""Parsing of user numbers and formatting of reference values.

Bounds are kept as :class:`decimal.Decimal` so that comparisons and the values fed to
mpmath are exact: ``"0.1"`` means one tenth, not the nearest binary double.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass

import mpmath

from .errors import InputError

MIN_DIGITS = 1
MAX_DIGITS = 10000
MIN_MAGNITUDE = decimal.Decimal("1e-400")  # smallest nonzero |bound| (float64 subnormals: 5e-324)
MAX_MAGNITUDE = decimal.Decimal("1e100")  # largest finite |bound| accepted


def derivable_bound(d: decimal.Decimal) -> bool:
    """Whether a cutoff lies in the range parse_bound accepts (0, 1e-400 <= |d| <= 1e100, inf)."""
    return not d.is_finite() or d == 0 or MIN_MAGNITUDE <= d.copy_abs() <= MAX_MAGNITUDE


def parse_bound(value: object, name: str) -> decimal.Decimal:
    """Return a cutoff as an exact Decimal; ``inf``/``-inf`` allowed, NaN and non-numbers not."""
    if isinstance(value, bool):
        raise InputError(
            f"{name}: {value!r} is not a number (accepted: a real number, inf or -inf)"
        )
    if isinstance(value, decimal.Decimal):
        d = value
    elif isinstance(value, mpmath.mpf):
        d = mpf_to_decimal(value)
    elif isinstance(value, int | float):
        d = decimal.Decimal(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace("infinity", "inf")
        if text in ("+inf", "inf"):
            text = "Infinity"
        elif text == "-inf":
            text = "-Infinity"
        try:
            d = decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise InputError(
                f"{name}: {value!r} is not a number (accepted: a real number, inf or -inf)"
            ) from None
    else:
        raise InputError(
            f"{name}: {value!r} has type {type(value).__name__} "
            "(accepted: a real number, inf or -inf)"
        )
    if d.is_nan():
        raise InputError(f"{name}: {value!r} is NaN (accepted: a real number, inf or -inf)")
    if not derivable_bound(d):
        # exact conversion of e.g. 1e999999999 would build a billion-digit integer
        raise InputError(
            f"{name}: {value!r} is out of range (accepted: 0, 1e-400 <= |x| <= 1e100, inf or -inf)"
        )
    return d


def mpf_to_decimal(x: mpmath.mpf) -> decimal.Decimal:
    """The exact decimal value of a binary mpf (m * 2**e = m * 5**-e * 10**e)."""
    if mpmath.isnan(x):
        return decimal.Decimal("NaN")
    if mpmath.isinf(x):
        return decimal.Decimal("Infinity" if x > 0 else "-Infinity")
    sign, man, exp, _ = x._mpf_
    if exp >= 0:
        return decimal.Decimal(int(man) << exp).copy_sign(decimal.Decimal(-1 if sign else 1))
    digits = tuple(int(c) for c in str(int(man) * 5 ** (-exp)))
    return decimal.Decimal((sign, digits, exp))


def parse_interval(lower: object, upper: object) -> tuple[decimal.Decimal, decimal.Decimal]:
    """Parse and check a cutoff interval: lower < upper, not both infinite on one side."""
    a = parse_bound(lower, "lower")
    b = parse_bound(upper, "upper")
    if not a < b:
        raise InputError(
            f"interval [{bound_text(a)}, {bound_text(b)}]: lower must be < upper "
            "(accepted: any lower < upper, -inf/inf allowed)"
        )
    return a, b


def parse_digits(value: object) -> int:
    """Number of significant digits, an int in [MIN_DIGITS, MAX_DIGITS]."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(
            f"digits: {value!r} is not an integer (accepted: {MIN_DIGITS}..{MAX_DIGITS})"
        )
    try:
        n = int(value)
    except ValueError:
        raise InputError(
            f"digits: {value!r} is not an integer (accepted: {MIN_DIGITS}..{MAX_DIGITS})"
        ) from None
    if not MIN_DIGITS <= n <= MAX_DIGITS:
        raise InputError(f"digits: {n} is out of range (accepted: {MIN_DIGITS}..{MAX_DIGITS})")
    return n


def bound_text(d: decimal.Decimal) -> str:
    """Canonical text of a bound: ``inf``/``-inf`` or the Decimal's own string."""
    if d.is_infinite():
        return "inf" if d > 0 else "-inf"
    if d == d.to_integral_value():
        return str(int(d))
    # normalize() rounds to the context precision (28 digits by default): give it all digits
    exact = decimal.Context(
        prec=len(d.as_tuple().digits), Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN
    )
    d = d.normalize(exact)
    return format(d, "f") if d.adjusted() >= -20 else str(d)


def to_mpf(d: decimal.Decimal) -> mpmath.mpf:
    """Exact-as-possible conversion at the current mpmath precision."""
    if d.is_infinite():
        return mpmath.inf if d > 0 else -mpmath.inf
    # through the exact ratio: one correctly rounded, sign-symmetric division
    p, q = d.as_integer_ratio()
    return mpmath.mpf(p) / q if q != 1 else mpmath.mpf(p)


def format_sig(x: mpmath.mpf, digits: int) -> str:
    """``x`` correctly rounded to ``digits`` significant digits, trailing zeros kept.

    Fixed notation for 1e-5 <= |x| < 10**digits, scientific otherwise.
    """
    if x == 0:
        return "0"
    with mpmath.workdps(digits + 10):
        text = str(mpmath.nstr(x, digits, strip_zeros=False, min_fixed=-5, max_fixed=digits))
    # nstr leaves a bare point when no digit follows it ("1.", "1.e+5"): drop it
    mantissa, e, exponent = text.partition("e")
    return mantissa.rstrip(".") + e + exponent


@dataclass(frozen=True)
class Float64View:
    """The machine views of one reference value."""

    decimal: str
    float64: float
    float64_repr: str
    float64_hex: str
    float32_repr: str
    float64_exact: str


def round_float32(x: mpmath.mpf) -> float:
    """Round an mpf once, to nearest float32 (no double rounding through float64)."""
    if x == 0 or not mpmath.isfinite(x):
        return float(x)
    with mpmath.workprec(24):
        y = +x
    return float(y)


def exact_decimal(f: float) -> str:
    """The exact decimal expansion of a binary float (every double has a finite one)."""
    if not math.isfinite(f):
        return repr(f)
    return format(decimal.Decimal(f), "f") if abs(f) >= 1e-5 or f == 0 else str(decimal.Decimal(f))


def float_views(x: mpmath.mpf, digits: int) -> Float64View:
    """Decimal string, correctly rounded float64 (repr, hex, exact value) and float32 repr."""
    import numpy as np

    f64 = float(x)  # mpf -> float rounds to nearest (beyond the range: +-inf, as IEEE rounds)
    with np.errstate(over="ignore"):  # a float32 overflow is inf, its correct rounding
        f32 = np.float32(round_float32(x))
    return Float64View(
        decimal=format_sig(x, digits),
        float64=f64,
        float64_repr=repr(f64),
        float64_hex=f64.hex(),
        float32_repr=np.format_float_positional(f32, unique=True, trim="-")
        if 1e-5 <= abs(float(f32)) < 1e16 or f32 == 0
        else np.format_float_scientific(f32, unique=True, trim="-"),
        float64_exact=exact_decimal(f64),
    )
