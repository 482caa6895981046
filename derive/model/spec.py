"""The declarative generation spec: which cutoffs, how many digits, which outputs.

The spec lives in ``pyproject.toml`` under ``[tool.initref]`` (or in any TOML file given with
``--spec``, either as a top-level table or under ``[tool.initref]``).  It is validated here,
apart from the code that emits it; every iteration over it is in sorted order.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from derive.core.errors import InputError
from derive.core.numbers import bound_text, parse_bound, parse_digits, parse_interval

KNOWN_OUTPUTS: tuple[str, ...] = (
    "constants.json",
    "constants.md",
    "constants.py",
    "numpy_init.py",
    "report.md",
    "tf_init.py",
    "torch_init.py",
)
_KEYS = (
    "digits",
    "gain_digits",
    "intervals",
    "outputs",
    "symmetric",
    "critical_bias_variances",
    "critical_digits",
)
DEFAULT_GAIN_DIGITS = 25
# the critical-line table (issue 13): the sigma_b^2 it is solved at, and its digits
DEFAULT_CRITICAL_BIAS_VARIANCES: tuple[str, ...] = ("0", "0.01", "0.05", "0.1", "0.2")
DEFAULT_CRITICAL_DIGITS = 20
MAX_CRITICAL_BIAS_VARIANCES = 100
_SYMMETRIC_KEYS = ("start", "step", "stop")
MAX_INTERVALS = 100_000
# exact decimal arithmetic for the symmetric range (the default context rounds to 28 digits)
EXACT = decimal.Context(prec=10_000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

Interval = tuple[decimal.Decimal, decimal.Decimal]


@dataclass(frozen=True)
class Spec:
    digits: int
    gain_digits: int  # digits of the activation-gain table (quadrature costs grow with them)
    outputs: tuple[str, ...]
    intervals: tuple[Interval, ...]  # sorted, unique; symmetric ones included
    symmetric_cutoffs: tuple[decimal.Decimal, ...]  # the k of the symmetric range, sorted
    critical_bias_variances: tuple[decimal.Decimal, ...] = tuple(
        decimal.Decimal(v) for v in DEFAULT_CRITICAL_BIAS_VARIANCES
    )  # sorted, unique
    critical_digits: int = DEFAULT_CRITICAL_DIGITS

    def canonical(self) -> dict[str, object]:
        return {
            "critical_bias_variances": [bound_text(v) for v in self.critical_bias_variances],
            "critical_digits": self.critical_digits,
            "digits": self.digits,
            "gain_digits": self.gain_digits,
            "intervals": [[bound_text(a), bound_text(b)] for a, b in self.intervals],
            "outputs": list(self.outputs),
            "symmetric_cutoffs": [bound_text(k) for k in self.symmetric_cutoffs],
        }

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of the validated spec (first 16 hex digits)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _require(table: object, where: str, keys: tuple[str, ...]) -> dict[str, object]:
    if not isinstance(table, dict):
        raise InputError(f"spec: {where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise InputError(
            f"spec: unknown key {unknown[0]!r} in {where} (accepted: {', '.join(keys)})"
        )
    return table


def _decimal_field(value: object, where: str) -> decimal.Decimal:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InputError(
            f"spec: {where} = {value!r} has type {type(value).__name__} "
            "(accepted: a number or a decimal string)"
        )
    return parse_bound(value, f"spec: {where}")


def _symmetric_range(table: object) -> tuple[decimal.Decimal, ...]:
    t = _require(table, "[tool.initref.symmetric]", _SYMMETRIC_KEYS)
    missing = [k for k in _SYMMETRIC_KEYS if k not in t]
    if missing:
        raise InputError(
            f"spec: symmetric.{missing[0]} is missing (accepted keys: start, step, stop)"
        )
    start = _decimal_field(t["start"], "symmetric.start")
    stop = _decimal_field(t["stop"], "symmetric.stop")
    step = _decimal_field(t["step"], "symmetric.step")
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if v.is_infinite() or not v > 0:
            raise InputError(f"spec: symmetric.{name} = {v} is out of range (accepted: finite > 0)")
    if stop < start:
        raise InputError(
            f"spec: symmetric.stop = {stop} is below start = {start} (accepted: >= start)"
        )
    with decimal.localcontext(EXACT):
        count = int((stop - start) / step) + 1
    if count > MAX_INTERVALS:
        raise InputError(
            f"spec: symmetric range has {count} cutoffs (accepted: <= {MAX_INTERVALS})"
        )
    with decimal.localcontext(EXACT):
        return tuple(start + i * step for i in range(count))


def _digits_field(t: dict[str, object], key: str, default: int) -> int:
    raw = t.get(key, default)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise InputError(
            f"spec: {key} = {raw!r} has type {type(raw).__name__} (accepted: an integer 1..10000)"
        )
    try:
        return parse_digits(raw)
    except InputError as exc:
        raise InputError(f"spec: {key}: {exc}") from None


def _critical_bias_variances(raw: object) -> tuple[decimal.Decimal, ...]:
    """The critical table's sigma_b^2: a list of numbers or decimal strings in [0, 10000]
    (the range derive.maths.critical accepts), at most 100, duplicates merged; [] leaves the
    table out."""
    from derive.maths.meanfield import parse_variance

    if not isinstance(raw, list):
        raise InputError(
            f"spec: critical_bias_variances = {raw!r} (accepted: a list of bias variances, "
            'e.g. ["0", "0.05"], or [] for no critical table)'
        )
    values = set()
    for i, item in enumerate(raw):
        _decimal_field(item, f"critical_bias_variances[{i}]")  # the type check
        try:
            values.add(parse_variance(item, f"critical_bias_variances[{i}]"))
        except InputError as exc:
            raise InputError(f"spec: {exc}") from None
    if len(values) > MAX_CRITICAL_BIAS_VARIANCES:
        raise InputError(
            f"spec: critical_bias_variances has {len(values)} values "
            f"(accepted: <= {MAX_CRITICAL_BIAS_VARIANCES})"
        )
    return tuple(sorted(values))


def parse_spec(table: object) -> Spec:
    """Validate a raw ``[tool.initref]`` table; every error names the key and the range."""
    t = _require(table, "[tool.initref]", _KEYS)
    digits = _digits_field(t, "digits", 50)
    gain_digits = _digits_field(t, "gain_digits", DEFAULT_GAIN_DIGITS)
    critical_digits = _digits_field(t, "critical_digits", DEFAULT_CRITICAL_DIGITS)
    critical = _critical_bias_variances(
        t.get("critical_bias_variances", list(DEFAULT_CRITICAL_BIAS_VARIANCES))
    )
    outputs_raw = t.get("outputs", list(KNOWN_OUTPUTS))
    if not isinstance(outputs_raw, list) or not all(isinstance(o, str) for o in outputs_raw):
        raise InputError(f"spec: outputs = {outputs_raw!r} (accepted: a list of file names)")
    for o in outputs_raw:
        if o not in KNOWN_OUTPUTS:
            raise InputError(f"spec: unknown output {o!r} (accepted: {', '.join(KNOWN_OUTPUTS)})")
    symmetric = _symmetric_range(t["symmetric"]) if "symmetric" in t else ()
    intervals: set[Interval] = {(k.copy_negate(), k) for k in symmetric}
    raw_intervals = t.get("intervals", [])
    if not isinstance(raw_intervals, list):
        raise InputError(
            f"spec: intervals = {raw_intervals!r} (accepted: a list of [lower, upper])"
        )
    for i, pair in enumerate(raw_intervals):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(f"spec: intervals[{i}] = {pair!r} (accepted: a pair [lower, upper])")
        lo = _decimal_field(pair[0], f"intervals[{i}][0]")
        hi = _decimal_field(pair[1], f"intervals[{i}][1]")
        try:
            intervals.add(parse_interval(lo, hi))
        except InputError as exc:
            raise InputError(f"spec: intervals[{i}]: {exc}") from None
    if len(intervals) > MAX_INTERVALS:
        raise InputError(f"spec: {len(intervals)} intervals (accepted: <= {MAX_INTERVALS})")
    return Spec(
        digits=digits,
        gain_digits=gain_digits,
        outputs=tuple(sorted(set(outputs_raw))),
        intervals=tuple(sorted(intervals)),
        symmetric_cutoffs=tuple(sorted(symmetric)),
        critical_bias_variances=critical,
        critical_digits=critical_digits,
    )


def load_spec(path: Path) -> Spec:
    """Read a spec from ``pyproject.toml`` ([tool.initref]) or a standalone TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"spec: cannot read {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"spec: {str(path)!r} is not valid TOML: {exc}") from None
    tool = data.get("tool")
    if isinstance(tool, dict) and "initref" in tool:
        return parse_spec(tool["initref"])
    if path.name == "pyproject.toml":
        raise InputError(f"spec: {str(path)!r} has no [tool.initref] table")
    return parse_spec(data)
