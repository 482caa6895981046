"""The declarative generation spec: which cutoffs, how many digits, which outputs.

The spec lives in ``pyproject.toml`` under ``[tool.initref]`` (or in any TOML file given with
``--spec``, either as a top-level table or under ``[tool.initref]``).  It is validated here,
apart from the code that emits it; every iteration over it is in sorted order.

Numbers are exact or refused: bounds and the symmetric range are decimal strings (``"0.1"``
is one tenth) or TOML integers; a TOML float (``0.1``, the binary double
0.1000000000000000055511...) is refused with the string to write instead, and so are bools.
``digits`` and ``gain_digits`` are TOML integers only.
"""

from __future__ import annotations

import decimal
import difflib
import hashlib
import json
import os
import shlex
import tomllib
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

from ..core.errors import InputError
from ..core.numbers import (
    MAX_DIGITS,
    bound_text,
    parse_bound,
    parse_digits,
    parse_interval,
)
from ..core.resources import default_spec_file

KNOWN_OUTPUTS: tuple[str, ...] = (
    "constants.json",
    "constants.md",
    "constants.py",
    "jax_init.py",
    "numpy_init.py",
    "report.md",
    "tf_init.py",
    "torch_init.py",
)
_KEYS = (
    "complex_radii",
    "critical_bias_variances",
    "critical_digits",
    "digits",
    "gain_digits",
    "intervals",
    "outputs",
    "symmetric",
)
DEFAULT_GAIN_DIGITS = 25
# the critical-line table: the sigma_b^2 it is solved at, and its digits
DEFAULT_CRITICAL_BIAS_VARIANCES: tuple[str, ...] = ("0", "0.01", "0.05", "0.1", "0.2")
DEFAULT_CRITICAL_DIGITS = 20
MAX_CRITICAL_BIAS_VARIANCES = 100
_SYMMETRIC_KEYS = ("start", "step", "stop")
MAX_INTERVALS = 100_000
# exact decimal arithmetic for the symmetric range (the default context rounds to 28 digits)
EXACT = decimal.Context(prec=10_000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

Interval = tuple[decimal.Decimal, decimal.Decimal]
PROGRAM = "initref"  # the console script; `python -m derive` is the same program


@dataclass(frozen=True)
class Source:
    """Where a spec came from, as the provenance of every generated file names it.

    Never an absolute path (generated files are byte-identical on every machine): the default
    spec is "pyproject.toml [tool.initref]", a ``--spec FILE`` is shown by its path relative to
    the working directory, or by its file name when it lies elsewhere (see :func:`shown_path`).
    """

    name: str  # e.g. "pyproject.toml [tool.initref]", "specs/small.toml"
    command: str  # the command line that regenerates the files from this spec


DEFAULT_SOURCE = Source("pyproject.toml [tool.initref]", f"{PROGRAM} generate")
PYTHON_SOURCE = Source(
    "a table given to derive.model.spec.parse_spec", "derive.model.spec.parse_spec(table)"
)


def file_source(shown: str, *, nested: bool) -> Source:
    """The source of ``--spec FILE``; ``shown`` is the file as provenance names it."""
    name = f"{shown} [tool.initref]" if nested else shown
    return Source(name, f"{PROGRAM} generate --spec {shlex.quote(shown)}")


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to ``cwd`` (default: the working directory) when it lies under it,
    else its file name: a spec file as provenance names it, without the machine's paths."""
    here = os.path.abspath(os.getcwd() if cwd is None else cwd)
    full = os.path.abspath(os.path.join(here, path))  # an absolute path stays itself
    try:
        inside = os.path.commonpath([here, full]) == here
    except ValueError:  # different drives
        inside = False
    return Path(os.path.relpath(full, here)).as_posix() if inside else path.name


@dataclass(frozen=True)
class Spec:
    digits: int
    gain_digits: int  # digits of the activation-gain table (quadrature costs grow with them)
    outputs: tuple[str, ...]
    intervals: tuple[Interval, ...]  # sorted, unique; symmetric ones included
    symmetric_cutoffs: tuple[decimal.Decimal, ...]  # the k of the symmetric range, sorted
    # radii R of the complex normal truncated to |z| <= R (std units), sorted, unique
    complex_radii: tuple[decimal.Decimal, ...] = ()
    critical_bias_variances: tuple[decimal.Decimal, ...] = tuple(
        decimal.Decimal(v) for v in DEFAULT_CRITICAL_BIAS_VARIANCES
    )  # sorted, unique
    critical_digits: int = DEFAULT_CRITICAL_DIGITS
    # where it was read from: provenance only, not part of the spec's value or hash
    source: Source = field(default=PYTHON_SOURCE, compare=False)

    def canonical(self) -> dict[str, object]:
        return {
            "complex_radii": [bound_text(r) for r in self.complex_radii],
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


class TomlFloat(str):
    """A TOML float, kept as the text the file spelt it with (``tomllib``'s ``parse_float``):
    the spec refuses floats and shows that text as the decimal string to write."""


def _float_text(value: object) -> str | None:
    """The spelling of a float (TOML or Python), or None for anything else."""
    if isinstance(value, TomlFloat):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return None


def _type_name(value: object) -> str:
    return "float" if isinstance(value, TomlFloat) else type(value).__name__


def _decimal_field(value: object, where: str) -> decimal.Decimal:
    """A bound or a symmetric-range value: a decimal string or an integer, exactly."""
    accepted = "accepted: a decimal string or an integer"
    text = _float_text(value)
    if text is not None:
        parse_bound(text, f"spec: {where}")  # NaN, out of range: that error first
        kind = "TOML float" if isinstance(value, TomlFloat) else "float"
        exactness = "" if text.lstrip("+-").lower() in ("inf", "infinity") else " (inexact)"
        raise InputError(
            f'spec: {where}: {text} is a {kind}{exactness}; write "{text}" ({accepted})'
        )
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InputError(f"spec: {where} = {value!r} has type {_type_name(value)} ({accepted})")
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
        last = start + (count - 1) * step
    if last != stop:  # the range would end below stop without a word
        raise InputError(
            f"spec: symmetric.stop = {bound_text(stop)} is not start + n*step (start = "
            f"{bound_text(start)}, step = {bound_text(step)}: the last cutoff would be "
            f"{bound_text(last)}; accepted: stop - start a multiple of step)"
        )
    if count > MAX_INTERVALS:
        raise InputError(
            f"spec: symmetric range has {count} cutoffs (accepted: <= {MAX_INTERVALS})"
        )
    with decimal.localcontext(EXACT):
        return tuple(start + i * step for i in range(count))


MAX_COMPLEX_RADII = 10_000


def _complex_radii(raw: object) -> tuple[decimal.Decimal, ...]:
    """``complex_radii``: a list of radii R > 0 (decimal strings or numbers, ``inf`` allowed)."""
    if not isinstance(raw, list):
        raise InputError(
            f'spec: complex_radii = {raw!r} (accepted: a list of radii > 0, e.g. ["2", "inf"])'
        )
    if len(raw) > MAX_COMPLEX_RADII:
        raise InputError(
            f"spec: complex_radii has {len(raw)} radii (accepted: <= {MAX_COMPLEX_RADII})"
        )
    radii: set[decimal.Decimal] = set()
    for i, value in enumerate(raw):
        r = _decimal_field(value, f"complex_radii[{i}]")
        if not r > 0:
            raise InputError(
                f"spec: complex_radii[{i}] = {value!r} is out of range "
                "(accepted: 1e-400 <= R <= 1e100, or inf)"
            )
        radii.add(r)
    return tuple(sorted(radii))


def _digits_field(t: dict[str, object], key: str, default: int) -> int:
    raw = t.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int):
        text = _float_text(raw)
        hint = ""
        if text is not None:  # 50.0: say what to write
            with decimal.localcontext(EXACT):
                try:
                    d = decimal.Decimal(text.replace("_", ""))
                except decimal.InvalidOperation:  # pragma: no cover - tomllib's float syntax
                    d = decimal.Decimal("NaN")
                if d.is_finite() and d == d.to_integral_value() and 1 <= d <= MAX_DIGITS:
                    hint = f"; write {key} = {int(d)}"
        raise InputError(
            f"spec: {key} = {repr(raw) if text is None else text} has type "
            f"{_type_name(raw)} (accepted: an integer 1..{MAX_DIGITS}{hint})"
        )
    try:
        return parse_digits(raw)
    except InputError as exc:
        raise InputError(f"spec: {key}: {exc}") from None


def _critical_bias_variances(raw: object) -> tuple[decimal.Decimal, ...]:
    """The critical table's sigma_b^2: a list of numbers or decimal strings in [0, 10000]
    (the range derive.maths.critical accepts), at most 100, duplicates merged; [] leaves the
    table out."""
    from ..maths.meanfield import parse_variance

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


def _outputs(t: dict[str, object]) -> tuple[str, ...]:
    raw = t.get("outputs", list(KNOWN_OUTPUTS))
    accepted = f"accepted: a non-empty list of {', '.join(KNOWN_OUTPUTS)}"
    if not isinstance(raw, list) or not raw:
        raise InputError(f"spec: outputs = {raw!r} ({accepted})")
    for i, o in enumerate(raw):
        if not isinstance(o, str):
            raise InputError(f"spec: outputs[{i}] = {o!r} has type {_type_name(o)} ({accepted})")
        if o not in KNOWN_OUTPUTS:
            close = difflib.get_close_matches(o.strip().lower(), KNOWN_OUTPUTS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(
                f"spec: unknown output {o!r} ({hint}accepted: {', '.join(KNOWN_OUTPUTS)})"
            )
    return tuple(sorted(set(raw)))  # a name listed twice is still one file


def parse_spec(table: object, source: Source = PYTHON_SOURCE) -> Spec:
    """Validate a raw ``[tool.initref]`` table; every error names the key and the range.

    ``source`` says where the table was read from (provenance only)."""
    t = _require(table, "[tool.initref]", _KEYS)
    digits = _digits_field(t, "digits", 50)
    gain_digits = _digits_field(t, "gain_digits", DEFAULT_GAIN_DIGITS)
    outputs = _outputs(t)
    critical_digits = _digits_field(t, "critical_digits", DEFAULT_CRITICAL_DIGITS)
    critical = _critical_bias_variances(
        t.get("critical_bias_variances", list(DEFAULT_CRITICAL_BIAS_VARIANCES))
    )
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
    complex_radii = _complex_radii(t.get("complex_radii", []))
    return Spec(
        digits=digits,
        gain_digits=gain_digits,
        outputs=outputs,
        intervals=tuple(sorted(intervals)),
        symmetric_cutoffs=tuple(sorted(symmetric)),
        complex_radii=complex_radii,
        critical_bias_variances=critical,
        critical_digits=critical_digits,
        source=source,
    )


def _read_toml(path: Path | Traversable) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"spec: cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"spec: {str(path)!r} is not UTF-8 text: {exc.reason}") from None
    try:
        return tomllib.loads(text, parse_float=TomlFloat)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"spec: {str(path)!r} is not valid TOML: {exc}") from None


def load_spec(path: Path, shown: str | None = None) -> Spec:
    """Read a spec from a ``pyproject.toml`` ([tool.initref]) or a standalone TOML file.

    ``shown`` names the file in provenance (default: :func:`shown_path`).  A standalone file
    holds the spec either at its top level or under [tool.initref], not both."""
    data = _read_toml(path)
    shown = shown_path(path) if shown is None else shown
    tool = data.get("tool")
    if isinstance(tool, dict) and "initref" in tool:
        if path.name != "pyproject.toml":
            stray = sorted(set(data) - {"tool"})
            if stray:
                raise InputError(
                    f"spec: {str(path)!r} has both [tool.initref] and the top-level key "
                    f"{stray[0]!r} (accepted: the spec in one place)"
                )
        return parse_spec(tool["initref"], file_source(shown, nested=True))
    if path.name == "pyproject.toml":
        raise InputError(f"spec: {str(path)!r} has no [tool.initref] table")
    return parse_spec(data, file_source(shown, nested=False))


def load_default_spec() -> Spec:
    """The spec of ``initref generate`` without --spec: [tool.initref] of the project's
    pyproject.toml, carried in the package (:mod:`derive.core.resources`)."""
    data = _read_toml(default_spec_file())
    tool = data.get("tool")
    if not isinstance(tool, dict) or "initref" not in tool:  # pragma: no cover - a broken build
        raise InputError("spec: the packaged default spec has no [tool.initref] table")
    return parse_spec(tool["initref"], DEFAULT_SOURCE)
