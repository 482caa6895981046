"""Derivations -> plain data: every number already formatted as the strings templates print.

Nothing downstream of this module does arithmetic; the templates only lay strings out.
"""

from __future__ import annotations

import decimal
import importlib.metadata
import importlib.resources
import json
import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import asdict
from typing import Any

import mpmath

from .. import GENERATOR, __version__
from ..core.numbers import bound_text, derivable_bound, float_views, format_sig
from ..maths import snippets
from ..maths.complex_truncnorm import JAX_COMPLEX_LITERAL
from ..maths.truncnorm import TF_LITERAL, Moments, truncnorm_moments
from .spec import KNOWN_OUTPUTS, Spec

QUANTITIES: tuple[str, ...] = ("mass", "mean", "variance", "std", "correction", "excess_kurtosis")
QUANTITY_DOC = {
    "mass": "Z = Phi(b) - Phi(a), the probability the normal lands in [a, b]",
    "mean": "E[x] of the truncated law",
    "variance": "Var[x] of the truncated law",
    "std": "sqrt(Var[x]): the std after truncation, in units of the underlying normal's std",
    "correction": "1/std: divide the wanted post-truncation std by std to get the normal's",
    "excess_kurtosis": "mu_4/Var^2 - 3 (sets the standard error of a sample variance)",
}
LIBRARIES = ("jinja2", "mpmath", "numpy", "sympy")
SHORT_DIGITS = 20


def _version(dist: str) -> str:
    return importlib.metadata.version(dist)


def provenance(spec: Spec) -> dict[str, str]:
    """What made the files: versions, precision, the spec (its hash and where it was read
    from) and the command that regenerates them.  No path of the machine and no time, so the
    files are byte-identical wherever and however they are generated (``make generate``,
    ``python -m derive generate`` and the ``initref`` console script are one command)."""
    return {
        "generator": f"{GENERATOR} {__version__}",
        "libraries": ", ".join(f"{lib} {_version(lib)}" for lib in LIBRARIES),
        "precision": f"{spec.digits} significant digits",
        "spec": spec.source.name,
        "spec_hash": spec.hash,
        "command": spec.source.command,
    }


def _kind(a: decimal.Decimal, b: decimal.Decimal) -> str:
    if a.is_infinite() or b.is_infinite():
        return "one_sided"
    return "symmetric" if a == b.copy_negate() else "asymmetric"


def interval_key(a: decimal.Decimal, b: decimal.Decimal) -> str:
    return f"[{bound_text(a)}, {bound_text(b)}]"


def _python_float(a: decimal.Decimal) -> str:
    """A bound as Python float source: ``-2.0``, ``float("inf")``."""
    return python_float_source(float(a))


def python_float_source(f: float) -> str:
    """A float as Python source that evaluates to it: its repr when finite, else
    ``float("inf")``, ``float("-inf")`` or ``float("nan")`` (``inf`` alone is a NameError)."""
    if math.isfinite(f):
        return repr(f)
    return f'float("{f!r}")'


def interval_row(m: Moments, digits: int) -> dict[str, Any]:
    moments = m.as_dict()
    values = {name: _view(moments[name], digits) for name in QUANTITIES}
    return {
        "key": interval_key(m.lower, m.upper),
        "lower": bound_text(m.lower),
        "upper": bound_text(m.upper),
        "lower_py": _python_float(m.lower),
        "upper_py": _python_float(m.upper),
        "kind": _kind(m.lower, m.upper),
        "values": values,
    }


Progress = Callable[[int, int], None]


def truncnorm_rows(spec: Spec, progress: Progress | None = None) -> list[dict[str, Any]]:
    """One formatted row per spec interval; ``progress(done, total)`` after each, if given."""
    rows = []
    total = len(spec.intervals)
    for done, (a, b) in enumerate(spec.intervals, start=1):
        rows.append(interval_row(truncnorm_moments(a, b, spec.digits), spec.digits))
        if progress is not None:
            progress(done, total)
    return rows


def float_key_rows(spec: Spec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the tables keyed by float64 cutoffs (constants.py's TRUNCNORM and the
    initializers' lookup table).

    A caller passes floats, so the entry under (fl(a), fl(b)) holds the moments of the interval
    whose ends are exactly those floats.  Where the spec's decimal ends are binary-exact (2,
    0.25, inf) that is the spec's own row; otherwise (0.1, 1e-400, 1e400) the float interval is
    derived afresh at the spec's digits, so two spec intervals that round to the same floats
    share one right entry instead of overwriting each other.  Float ends that are no interval
    (fl(a) >= fl(b): [-1e-400, 1e-400] rounds to [-0.0, 0.0]) get no entry: no caller can ask
    for them.  Nor do float ends beyond the cutoffs derive accepts (fl(1e100) is 1.6e-16 above
    1e100): the initializers' float64 routine serves those.  The decimal tables still hold
    every spec interval.
    """
    by_key: dict[tuple[float, float], dict[str, Any]] = {}
    for (a, b), row in zip(spec.intervals, rows, strict=True):
        fa, fb = float(a), float(b)
        if not fa < fb or (fa, fb) in by_key:
            continue
        exact_a, exact_b = decimal.Decimal(fa), decimal.Decimal(fb)
        if exact_a == a and exact_b == b:
            by_key[(fa, fb)] = row
        elif not (derivable_bound(exact_a) and derivable_bound(exact_b)):
            continue
        else:
            by_key[(fa, fb)] = interval_row(
                truncnorm_moments(exact_a, exact_b, spec.digits), spec.digits
            )
    return [by_key[key] for key in sorted(by_key)]


SNIPPET_MARK = "# --- snippet ---\n"
SNIPPETS = ("complex_truncnorm64", "truncnorm64")


def snippet_source(name: str) -> str:
    """The tested stdlib source after ``# --- snippet ---`` in derive/maths/snippets/<name>.py."""
    text = importlib.resources.files(snippets).joinpath(f"{name}.py").read_text("utf-8")
    _, mark, body = text.partition(SNIPPET_MARK)
    if not mark:  # pragma: no cover - a broken snippet file
        raise ValueError(f"derive/maths/snippets/{name}.py has no snippet mark")
    return body.strip("\n")


def _view(x: Any, digits: int) -> dict[str, Any]:
    view = asdict(float_views(x, digits))
    view["float64_py"] = python_float_source(view.pop("float64"))
    view["short"] = format_sig(x, min(SHORT_DIGITS, digits))
    return view


def gain_row(name: str, digits: int) -> dict[str, Any]:
    """One built-in activation (default parameter): Gaussian moments, derived gains and
    PyTorch's calculate_gain beside them (derive.maths.gains), and the slope of the length map
    (:func:`gain_slope`)."""
    return {**gain_values(name, digits), "slope": gain_slope(name, digits)}


def gain_values(name: str, digits: int) -> dict[str, Any]:
    """gain_row without the slope: the activation's Gaussian moments and gains."""
    from ..maths.activations import BUILTINS
    from ..maths.gains import QUANTITIES as GAIN_QUANTITIES
    from ..maths.gains import TORCH_GAIN_TEXT, gains, torch_gain

    (spec,) = (b for b in BUILTINS if b.name == name)
    g = gains(spec.name, None, digits)
    param = spec.param
    torch = torch_gain(spec.name, None, digits + 10)
    with mpmath.workdps(digits + 10):  # g**2 = 1/E[f^2]: one division, no cancellation
        scale = 1 / g.second_moment
    return {
        "name": spec.name,
        "label": g.label,
        "definition": spec.doc,
        "param_name": param.name if param else "",
        "param": param.default if param else "",
        "method": g.method,
        "values": {q: _view(getattr(g, q), digits) for q in GAIN_QUANTITIES},
        "scale": _view(scale, digits),
        "torch_gain_text": TORCH_GAIN_TEXT.get(spec.name, ""),
        "torch_gain": _view(torch, digits) if torch is not None else None,
    }


def gain_slope(name: str, digits: int) -> dict[str, Any]:
    """T'(1) of the built-in's length map at Var[w] = g**2 / fan_in without bias (q* = 1,
    slope e(1); derive.maths.meanfield.elasticity), as a float view."""
    from ..maths.activations import activation
    from ..maths.gains import GUARD_DIGITS
    from ..maths.meanfield import elasticity

    return _view(elasticity(activation(name, None), mpmath.mpf(1), digits + GUARD_DIGITS), digits)


def gain_rows(digits: int) -> list[dict[str, Any]]:
    """:func:`gain_row` for every built-in activation, in the order of BUILTINS."""
    from ..maths.activations import BUILTINS

    return [gain_row(b.name, digits) for b in BUILTINS]


def synonym_rows() -> list[dict[str, str]]:
    """The names that mean a built-in under another name (derive.maths.activations.SYNONYMS),
    sorted, for the generated files' "did you mean" hints."""
    from ..maths.activations import BUILTIN_NAMES, SYNONYMS

    rows = []
    for name in sorted(SYNONYMS):
        target, note = SYNONYMS[name]
        if target not in BUILTIN_NAMES or name in BUILTIN_NAMES:
            raise ValueError(f"SYNONYMS[{name!r}] = {target!r}: not a synonym of a built-in")
        rows.append({"name": name, "target": target, "note": note})
    return rows


def depth_rows(digits: int) -> dict[str, Any]:
    """r and r^L of each framework's init on a plain ReLU network (derive.maths.depth)."""
    from ..maths.depth import DEFAULT_LAYERS, TABLE_CUTOFFS, depth_table

    rows = depth_table(DEFAULT_LAYERS, "relu", None, TABLE_CUTOFFS, digits)
    return {
        "layers": str(DEFAULT_LAYERS),
        "rows": [
            {
                "key": row.key,
                "description": row.description,
                "weight_variance": row.weight_variance,
                "r": _view(row.r, digits),
                "r_layers": _view(row.r_layers, digits),
                "log10_r_layers": format_sig(row.log10_r_layers, 6),
            }
            for row in rows
        ],
    }


COMPLEX_QUANTITY_DOC = {
    "mass": "Z = P(|z| <= R) = 1 - exp(-R^2), the probability the modulus stays within R",
    "second_moment": "E|z|^2 of the truncated law (before truncation 1)",
    "std": "sqrt(E|z|^2): the std after truncation, in units of the complex std",
    "correction": "1/std: multiply by it so that E|w|^2 is the intended variance",
    "fourth_moment": "E|z|^4 (Var|z|^2 = E|z|^4 - (E|z|^2)^2 sets the SE of a sample E|w|^2)",
    "jax_divisor": "sqrt(1 - (1 + R^2) exp(-R^2)): what JAX divides by (its literal at R = 2)",
    "jax_variance_ratio": "1/mass: JAX's E|w|^2 over the intended scale/fan",
}


def complex_rows(spec: Spec) -> list[dict[str, Any]]:
    """One formatted row per spec radius: CN(0, 1) truncated to |z| <= R
    (derive.maths.complex_truncnorm)."""
    from ..maths.complex_truncnorm import COMPLEX_QUANTITIES, complex_truncnorm_moments

    rows = []
    for r in spec.complex_radii:
        m = complex_truncnorm_moments(r, spec.digits).as_dict()
        rows.append(
            {
                "radius": bound_text(r),
                "radius_py": _python_float(r),
                "values": {q: _view(m[q], spec.digits) for q in COMPLEX_QUANTITIES},
            }
        )
    return rows


CRITICAL_STABILITY_DOC = {
    "stable": "|T'(q*)| < 1: the second moment returns to q* (depth scale xi_q)",
    "marginal": "T'(q*) = 1, no exponential approach (at q* = 0 with T(q) < q above it: "
    "q_l -> 0 polynomially)",
    "unstable": "the second moment leaves q* (T'(q*) > 1, or T'(0) = 1 with T(q) > q)",
    "neutral": "every q is a fixed point (the ReLU family without bias)",
}


def _critical_value(x: Any, digits: int) -> dict[str, Any]:
    """A derived value of the critical table: "finite" with its views, "inf", or "none"."""
    import mpmath

    if x is None:
        return {"kind": "none"}
    if mpmath.isinf(x):
        return {"kind": "inf"}
    return {"kind": "finite", **_view(x, digits)}


def critical_rows(spec: Spec) -> dict[str, Any]:
    """The critical line (derive.maths.critical) for every built-in activation (default
    parameter) at every spec bias variance: one row per (activation, sigma_b^2), each with
    its status, the reason, and its critical points."""
    from ..maths.activations import BUILTINS
    from ..maths.critical import critical_point

    digits = spec.critical_digits
    rows = []
    for b in BUILTINS:
        for b2 in spec.critical_bias_variances:
            result = critical_point(b.name, b2, None, digits)
            points = [
                {
                    "weight_variance": _critical_value(p.weight_variance, digits),
                    "q_star": (
                        {"kind": "any"} if p.q_star is None else _critical_value(p.q_star, digits)
                    ),
                    "slope": _critical_value(p.slope, digits),
                    "stability": p.stability,
                    "xi_q": _critical_value(p.xi_q, digits),
                    "xi_c": _critical_value(p.xi_c, digits),
                }
                for p in result.points
            ]
            rows.append(
                {
                    "name": b.name,
                    "label": result.label,
                    "param": f"{b.param.name}={b.param.default}" if b.param else "",
                    "bias_variance": bound_text(b2),
                    "bias_variance_py": repr(float(b2)),
                    "status": result.status,
                    "reason": result.reason,
                    "points": points,
                }
            )
    return {
        "digits": str(digits),
        "bias_variances": [bound_text(v) for v in spec.critical_bias_variances],
        "bias_variances_py": [repr(float(v)) for v in spec.critical_bias_variances],
        "stability": [{"name": k, "doc": v} for k, v in CRITICAL_STABILITY_DOC.items()],
        "rows": rows,
    }


class Model(Mapping[str, Any]):
    """The model every template reads: each entry is derived on its first use and then kept,
    so rendering some outputs derives only what their templates read (jax_init.py needs no
    critical table, constants.* do).  Entries are pure in the spec: the order in which they
    are derived changes no value."""

    def __init__(self, builders: dict[str, Callable[[], Any]]) -> None:
        self._builders = builders
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            self._values[key] = self._builders[key]()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def derived(self) -> tuple[str, ...]:
        """The entries derived so far (in the order they were)."""
        return tuple(self._values)


# The costly tables that depend only on the spec, and the outputs whose templates read them:
# with a worker process (build_model's ``pool``) they are derived there while this process
# derives the rest and renders.  tests/test_generate.py checks the sets against rendering each
# output alone.
CONSTANTS_OUTPUTS = frozenset({"constants.json", "constants.md", "constants.py"})
BACKGROUND_TABLES: dict[str, frozenset[str]] = {"gains": frozenset(KNOWN_OUTPUTS)}
# what this process derives first meanwhile (the next costliest), before a template waits
FOREGROUND_TABLES: dict[str, frozenset[str]] = {
    "critical": CONSTANTS_OUTPUTS | {"report.md"},
    "report": frozenset({"report.md"}),
}


# The gains table's pieces as the worker takes them: every row's values, the closed forms
# first (they share SymPy's half-line integrals, kept per process) and then the quadratures,
# costliest first; then every row's slope (the cheapest pieces, about 0.05 s each), so that
# the pieces left at the end, which this process takes over once its own tables are done
# (_stolen), are small and the two processes finish together.
GAIN_JOB_ORDER: tuple[str, ...] = (
    "gelu",
    "elu",
    "relu",
    "linear",
    "leaky_relu",
    "selu",
    "mish",
    "gelu_tanh",
    "softplus",
    "silu",
    "sigmoid",
    "tanh",
)
GAIN_PIECES: dict[str, Callable[[str, int], dict[str, Any]]] = {
    "values": gain_values,
    "slope": gain_slope,
}
_Job = tuple[tuple[str, str], Future[Any]]


def _background(spec: Spec, pool: Executor | None) -> dict[str, list[_Job]]:
    """Submit the background tables that ``spec.outputs`` read: the gains table as one job
    per piece (GAIN_PIECES) per activation, in GAIN_JOB_ORDER."""
    if pool is None or not BACKGROUND_TABLES["gains"] & set(spec.outputs):
        return {}
    pieces = [(piece, name) for piece in GAIN_PIECES for name in GAIN_JOB_ORDER]
    return {
        "gains": [
            ((piece, name), pool.submit(GAIN_PIECES[piece], name, spec.gain_digits))
            for piece, name in pieces
        ]
    }


def _awaited(job: Future[Any] | None, function: Callable[..., Any], *arguments: Any) -> Any:
    """The background job's value, or ``function(*arguments)`` derived here when there is no
    job or its worker could not run (a pool that broke, e.g. a caller's script that spawned
    processes from its unguarded top level): the same value either way."""
    if job is not None:
        try:
            return job.result()
        except BrokenExecutor:
            pass
    return function(*arguments)


def _stolen(jobs: list[_Job], digits: int) -> list[dict[str, Any]]:
    """The gains table from its jobs, in the order of BUILTINS: while the last job not yet
    taken has not started in the worker, it is cancelled and derived here instead, so that
    this process, done with its own tables, shares the rest of the work; then the worker's
    pieces (the same values: a piece is a pure function of its name and digits)."""
    from ..maths.activations import BUILTINS

    pending = list(jobs)
    done: dict[tuple[str, str], dict[str, Any]] = {}
    while pending and pending[-1][1].cancel():
        (piece, name), _ = pending.pop()
        done[piece, name] = GAIN_PIECES[piece](name, digits)
    for (piece, name), job in pending:
        done[piece, name] = _awaited(job, GAIN_PIECES[piece], name, digits)
    return [{**done["values", b.name], "slope": done["slope", b.name]} for b in BUILTINS]


def build_model(
    spec: Spec, progress: Progress | None = None, pool: Executor | None = None
) -> Model:
    """The whole model every template reads: provenance, quantities, interval rows, gains,
    the depth table, the critical line and (when report.md is asked for) the report's data,
    each derived when a template first reads it (:class:`Model`).  With ``pool`` (an executor
    of worker processes) the BACKGROUND_TABLES the outputs read are derived there meanwhile;
    the values are the same (every table is a pure function of the spec)."""
    model: Model
    background = _background(spec, pool)

    def rows_by_key() -> dict[str, dict[str, Any]]:
        return {row["key"]: row for row in model["intervals"]}

    def reference() -> dict[str, Any]:
        tf_row = rows_by_key().get("[-2, 2]")
        return {
            "tf_literal": TF_LITERAL,
            "tf_literal_float64_repr": repr(float(TF_LITERAL)),
            "s2_float64_repr": tf_row["values"]["std"]["float64_repr"] if tf_row else "",
            "jax_complex_literal": JAX_COMPLEX_LITERAL,
            "jax_complex_literal_py": repr(float(JAX_COMPLEX_LITERAL)),
        }

    def symmetric() -> list[dict[str, Any]]:
        by_key = rows_by_key()
        return [by_key[interval_key(k.copy_negate(), k)] for k in spec.symmetric_cutoffs]

    def report() -> dict[str, Any]:  # SymPy's LaTeX and the figures' data
        from .report import report_model

        return report_model(spec, model)

    builders: dict[str, Callable[[], Any]] = {
        "generator": lambda: GENERATOR,
        "provenance": lambda: provenance(spec),
        "digits": lambda: str(spec.digits),
        "short_digits": lambda: str(min(SHORT_DIGITS, spec.digits)),  # of every "short" view
        "quantities": lambda: [{"name": q, "doc": QUANTITY_DOC[q]} for q in QUANTITIES],
        "intervals": lambda: truncnorm_rows(spec, progress),
        "float_intervals": lambda: float_key_rows(spec, model["intervals"]),
        "symmetric": symmetric,
        "snippets": lambda: {name: snippet_source(name) for name in SNIPPETS},
        "reference": reference,
        "depth": lambda: depth_rows(spec.digits),
        "complex": lambda: complex_rows(spec),
        "complex_quantities": lambda: [
            {"name": q, "doc": doc} for q, doc in COMPLEX_QUANTITY_DOC.items()
        ],
        "critical": lambda: critical_rows(spec),
        "gains": lambda: (
            _stolen(background["gains"], spec.gain_digits)
            if "gains" in background
            else gain_rows(spec.gain_digits)
        ),
        "synonyms": synonym_rows,
        "gain_digits": lambda: str(spec.gain_digits),  # digits of the gains' "decimal" strings
        "gain_short_digits": lambda: str(min(SHORT_DIGITS, spec.gain_digits)),  # their "short"
    }
    if "report.md" in spec.outputs:  # only when asked for
        builders["report"] = report
    model = Model(builders)
    if background:
        for key, readers in FOREGROUND_TABLES.items():
            if readers & set(spec.outputs):
                model[key]  # derived now, while the worker derives the background tables
    return model


def json_string(text: str) -> str:
    """Quote a finished string for a JSON template."""
    return json.dumps(text, ensure_ascii=True)
