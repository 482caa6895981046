"""Command line: ``initref {generate,truncnorm,he,gain,depth,critical,meanfield} ...``
(the console script) or ``python -m derive ...``; each names itself as it was run.

Bad input prints one line ``initref: error: ...`` on stderr and exits with status 2.
Numeric commands import mpmath only; SymPy is imported by the commands that need it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import decimal
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from . import __version__
from .core.errors import InputError

EXIT_STALE = 1
EXIT_USAGE = 2
PROG = "initref"  # the console script
PYTHON_M_PROG = "python -m derive"  # derive/__main__.py


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2); ``commands`` maps each subcommand's
    name to its parser (set by :func:`build_parser` on the top-level parser)."""

    commands: Mapping[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        command = self.prog.split()[-1]  # "generate", ...; nothing for the program itself
        where = "" if command in (PROG, PYTHON_M_PROG.split()[-1]) else f"{command}: "
        self.exit(EXIT_USAGE, f"initref: error: {where}{message}\n")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"initref: error: {message}\n")
    raise SystemExit(EXIT_USAGE)


def checkout_output_dir() -> Path | None:
    """``generated/`` of the source checkout this ``derive`` runs from, or None.

    In a checkout (run from the source tree, or an editable install) the packaged default
    spec is a link to the checkout's own pyproject.toml; an installed package (a wheel,
    ``pip install .``) carries a copy and has no checkout to write into."""
    from .core.resources import default_spec_file

    spec_file = default_spec_file()
    if not isinstance(spec_file, Path):  # pragma: no cover - a zipped package
        return None
    target = spec_file.resolve()
    return target.parent / "generated" if target.name == "pyproject.toml" else None


def cmd_generate(args: argparse.Namespace) -> int:
    from .emit.render import render
    from .model.spec import load_default_spec, load_spec
    from .model.tables import build_model

    out = Path(args.out) if args.out is not None else checkout_output_dir()
    if out is None:
        raise InputError(
            "generate: --out DIR is required (initref is installed, not run from its source "
            "checkout, whose generated/ is the default)"
        )
    spec = load_default_spec() if args.spec is None else load_spec(Path(args.spec))
    bar = progress_bar(sys.stderr)
    with _worker_pool(figures="report.md" in spec.outputs) as pool:
        model = build_model(spec, progress=bar, pool=pool)
        files = render(model, spec.outputs, pool=pool)
    try:
        return _check_or_write(files, out, check=args.check, again=_generate_command(args))
    except OSError as exc:  # an --out that is a file, unwritable, on a full disk, ...
        raise InputError(
            f"--out: cannot write {str(out)!r}: {exc.strerror or exc} "
            "(accepted: a writable directory)"
        ) from None


@contextlib.contextmanager
def _worker_pool(figures: bool = False) -> Iterator[concurrent.futures.Executor | None]:
    """One worker process for the tables that can be derived beside the rest and one of the
    report's figures (a second core halves ``generate``'s wall time), or None on a single
    core; with ``figures`` it imports matplotlib first, while this process derives its own
    tables.  Spawned, not forked: the caller may be a process with threads (a test worker
    with torch or TensorFlow loaded)."""
    if (os.cpu_count() or 1) < 2:
        yield None
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_worker_start, initargs=(figures,)
    ) as pool:
        yield pool


def _worker_start(figures: bool) -> None:
    """The worker's initializer: its exit skips the interpreter's teardown (the pool's
    shutdown waits for it; its results are sent by then), and with ``figures`` it imports
    matplotlib now, while the caller derives its own tables."""
    import atexit

    atexit.register(_hard_exit)
    if figures:
        from .emit.figures import warm_up

        warm_up()


def _hard_exit() -> None:  # pragma: no cover - runs in the worker as it exits
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


PROGRESS_MIN_TOTAL = 1000  # a bar only for long table runs


def progress_bar(stream: TextIO, width: int = 30) -> Callable[[int, int], None] | None:
    """A one-line progress bar on ``stream`` for long table runs, or None when ``stream`` is
    not a terminal (pipes, files and CI logs stay clean)."""
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        if total < PROGRESS_MIN_TOTAL:
            return
        if done != total and done % max(1, total // 200):
            return
        filled = width * done // total
        bar = "#" * filled + "." * (width - filled)
        end = "\n" if done == total else ""
        stream.write(f"\r[{bar}] {done}/{total} intervals{end}")
        stream.flush()

    return show


def _generate_command(args: argparse.Namespace) -> str:
    """The ``generate`` command line that writes what ``--check`` compared (same spec, same
    --out, as the user gave them)."""
    words = [*shlex.split(args.prog), "generate"]
    if args.spec is not None:
        words += ["--spec", args.spec]
    if args.out is not None:
        words += ["--out", args.out]
    return shlex.join(words)


def _check_or_write(files: dict[str, str], out: Path, *, check: bool, again: str) -> int:
    from .emit.writer import stale_files, write_files

    if check:
        stale = stale_files(files, out)
        if stale:
            sys.stderr.write(f"initref: stale in {out}/: {', '.join(stale)} (run `{again}`)\n")
            return EXIT_STALE
        print(f"{out}/ is current ({len(files)} files)")
        return 0
    changed = write_files(files, out)
    print(
        f"wrote {len(changed)} of {len(files)} files in {out}/"
        + (": " + ", ".join(changed) if changed else "")
    )
    return 0


def cmd_truncnorm(args: argparse.Namespace) -> int:
    from .core.numbers import bound_text, format_sig
    from .maths.truncnorm import truncnorm_moments

    m = truncnorm_moments(args.lower, args.upper, args.digits)
    values = {k: format_sig(v, m.digits) for k, v in m.as_dict().items()}
    record = {
        "lower": bound_text(m.lower),
        "upper": bound_text(m.upper),
        "digits": m.digits,
        **values,
    }
    _print_record(record, _output_format(args))
    return 0


def cmd_complex(args: argparse.Namespace) -> int:
    from .core.numbers import bound_text, format_sig
    from .maths.complex_truncnorm import complex_truncnorm_moments

    m = complex_truncnorm_moments(args.radius, args.digits)
    record = {
        "radius": bound_text(m.radius),
        "digits": m.digits,
        **{k: format_sig(v, m.digits) for k, v in m.as_dict().items()},
    }
    _print_record(record, _output_format(args))
    return 0


def cmd_he(args: argparse.Namespace) -> int:
    from .maths.he_rule import variance_rule

    try:
        rule = variance_rule(args.slope, args.mode)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from None
    if args.latex:
        for name, text in rule.latex().items():
            print(f"{name}: {text}")
    else:
        print(f"Var[w]   = {rule.variance}")
        print(f"std      = {rule.std}")
        print(f"uniform  = U(-L, L) with L = {rule.uniform_limit}")
    return 0


def _output_format(args: argparse.Namespace) -> str:
    return "json" if args.json else "csv" if args.csv else "table"


NOT_DEFINED = "none"  # a value that does not exist (JSON null), as tables and CSV print it


def _print_record(record: dict[str, object], fmt: str) -> None:
    """One record: a JSON object, a two-line CSV (header, values) or aligned key/value lines
    (a missing value: JSON null, "none" in CSV and tables)."""
    if fmt == "json":
        print(json.dumps(record))
    elif fmt == "csv":
        _print_csv([record])
    else:
        width = max(len(k) for k in record)
        for key, value in record.items():
            print(f"{key:<{width}}  {NOT_DEFINED if value is None else value}")


def _print_csv(records: Sequence[Mapping[str, object]]) -> None:
    import csv

    writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {k: NOT_DEFINED if v is None else v for k, v in record.items()} for record in records
    )


def _add_format_flags(p: argparse.ArgumentParser) -> None:
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--csv", action="store_true", help="print CSV (a header line, then rows)")


def cmd_gain(args: argparse.Namespace) -> int:
    from .core.numbers import format_sig, parse_digits
    from .maths.gains import QUANTITIES, gains, torch_gain

    digits = parse_digits(args.digits)
    g = gains(args.activation, args.param, digits, method=args.method)
    record: dict[str, object] = {"activation": g.label, "digits": digits, "method": g.method}
    record.update({q: format_sig(v, digits) for q, v in g.as_dict().items() if q in QUANTITIES})
    torch = torch_gain(args.activation, _param(args.param), digits + 5)
    record["torch_calculate_gain"] = None if torch is None else format_sig(torch, digits)
    fmt = _output_format(args)
    if g.closed_forms and fmt == "table":
        record.update({f"{k} (closed form)": v for k, v in g.closed_forms.items()})
    _print_record(record, fmt)
    return 0


def _param(text: str | None) -> decimal.Decimal | None:
    from .core.numbers import parse_bound

    return None if text is None else parse_bound(text, "param")


def rows_are_per_layer(name: str, param: str | None) -> bool:
    """Whether every layer has the same factor r (the ReLU family: f(t y) = t f(y), t > 0)."""
    from .maths.depth import activation_of

    return activation_of(name, param).homogeneous


def cmd_depth(args: argparse.Namespace) -> int:
    from .core.numbers import format_sig, parse_digits
    from .maths.depth import depth_table

    digits = parse_digits(args.digits)
    cutoffs = tuple(args.cutoff or ["2"])
    rows = depth_table(args.layers, args.activation, args.param, cutoffs, digits)
    records = [
        {
            "case": row.key,
            "weight_variance": row.weight_variance,
            "r": format_sig(row.r, digits),
            "r^L": format_sig(row.r_layers, digits),
            "log10_r^L": format_sig(row.log10_r_layers, min(digits, 6)),
        }
        for row in rows
    ]
    fmt = _output_format(args)
    if fmt == "json":
        print(
            json.dumps({"layers": int(args.layers), "activation": args.activation, "rows": records})
        )
        return 0
    if fmt == "csv":
        _print_csv(records)
        return 0
    if rows_are_per_layer(args.activation, args.param):
        print(
            f"plain {args.layers}-layer {args.activation} network, no biases; r = per-layer "
            "second-moment factor relative to the variance-preserving init"
        )
    else:
        print(
            f"plain {args.layers}-layer {args.activation} network, no biases; r = first-layer "
            "second-moment factor relative to the variance-preserving init; r^L = the factor "
            "after L layers from the mean-field length map (r changes with the second moment)"
        )
    for rec in records:
        print(
            f"{rec['case']:<36} Var[w]={rec['weight_variance']:<12} r={rec['r']:<24} "
            f"r^L={rec['r^L']}"
        )
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    """``diagnose FILE``: initref's model-level diagnosis (initref._model, imported here only)."""
    from initref._model.cli import DiagnoseInputError, run

    try:
        print(run(args.file, args.activation, args.json, args.figure))
    except DiagnoseInputError as exc:
        _fail(f"diagnose: {exc}")
    return 0


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The parser; ``prog`` is the name in usage lines and examples (``initref`` or
    ``python -m derive``)."""
    parser = _Parser(
        prog=prog,
        description="initref: derive variance-scaling initialization and its reference values.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m derive generate --check\n"
        "  python -m derive truncnorm -2 2 --digits 40 --json\n"
        "  python -m derive truncnorm 1000 1001 --csv\n"
        "  python -m derive complex 2 --digits 30 --json\n"
        "  python -m derive he --slope 0.01 --mode fan_out --latex\n"
        "  python -m derive gain gelu --digits 30\n"
        "  python -m derive depth --layers 24 --cutoff 2\n",
    )
    parser.add_argument("--version", action="version", version=f"initref {__version__}")
    parser.set_defaults(prog=prog)
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=_Parser,
        help="the command (each has its own --help, with an example)",
    )
    parser.commands = sub.choices

    g = sub.add_parser(
        "generate",
        help="regenerate generated/ from the spec",
        description="Render every output of the spec; --check compares instead of writing. "
        "The default spec is the project's pyproject.toml [tool.initref] (carried in the "
        "package); the default --out is the source checkout's generated/, and an installed "
        "package (no checkout) needs --out.",
        epilog="example: python -m derive generate --check",
    )
    g.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output directory (default: the checkout's generated/)",
    )
    g.add_argument(
        "--spec",
        default=None,
        metavar="FILE",
        help="spec TOML file: top-level keys or [tool.initref] (default: pyproject.toml's)",
    )
    g.add_argument("--check", action="store_true", help="exit 1 naming stale files, write nothing")
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser(
        "truncnorm",
        help="moments of N(0,1) truncated to [A, B]",
        description="Mass, mean, variance, std, correction (1/std) and excess kurtosis of the "
        "standard normal truncated to [A, B] (cutoffs in units of its std; -inf/inf allowed).",
        epilog="example: python -m derive truncnorm -2 2 --digits 40 --json",
    )
    t.add_argument("lower", metavar="A", help="lower cutoff: a decimal, -inf or inf")
    t.add_argument("upper", metavar="B", help="upper cutoff B > A: a decimal, -inf or inf")
    t.add_argument("--digits", default="50", help="significant digits, 1..10000 (default 50)")
    _add_format_flags(t)
    t.set_defaults(func=cmd_truncnorm)

    c = sub.add_parser(
        "complex",
        help="moments of the complex normal CN(0,1) with |z| truncated at R",
        description="Mass, E|z|^2, std, correction (1/std), E|z|^4 of the circularly symmetric "
        "complex normal (E|z|^2 = 1) with its modulus truncated at R (in units of its std; "
        "inf allowed), and what JAX divides by (its literal .95311164380491208 at R = 2) with "
        "the factor by which JAX's complex E|w|^2 exceeds scale/fan (1/mass).",
        epilog="example: python -m derive complex 2 --digits 30 --json",
    )
    c.add_argument("radius", metavar="R", help="the radius R > 0 of |z|: a decimal or inf")
    c.add_argument("--digits", default="50", help="significant digits, 1..10000 (default 50)")
    _add_format_flags(c)
    c.set_defaults(func=cmd_complex)

    h = sub.add_parser(
        "he",
        help="the derived variance rule",
        description="Var[w] derived from the layer recursion for a leaky-ReLU slope and fan mode.",
        epilog="example: python -m derive he --slope 0.01 --mode fan_out --latex",
    )
    h.add_argument("--slope", default="0", help="leaky ReLU / PReLU slope a >= 0 (default 0)")
    h.add_argument(
        "--mode",
        default="fan_in",
        choices=["fan_in", "fan_out", "fan_avg"],
        help="the fan the variance is divided by: fan_in (forward pass), fan_out (backward), "
        "fan_avg (Glorot's (fan_in + fan_out) / 2) (default fan_in)",
    )
    h.add_argument("--latex", action="store_true", help="print LaTeX")
    h.set_defaults(func=cmd_he)

    gn = sub.add_parser(
        "gain",
        help="Gaussian moments and variance-preserving gains of an activation",
        description="E[f(z)], E[f(z)^2], Var[f(z)], E[f'(z)^2] for z ~ N(0, 1); forward gain "
        "E[f^2]^(-1/2), backward gain E[f'^2]^(-1/2), and 1/sqrt(Var) (wrong when E[f] != 0). "
        "NAME is a built-in (linear, relu, leaky_relu, elu, selu, gelu, gelu_tanh, silu, mish, "
        "softplus, tanh, sigmoid) or an expression in one variable, e.g. 'x*erf(x)'.",
        epilog="example: python -m derive gain leaky_relu --param 0.01 --digits 30 --json",
    )
    gn.add_argument("activation", metavar="NAME", help=_NAME_HELP)
    gn.add_argument("--param", default=None, help="leaky_relu slope a / elu alpha")
    gn.add_argument("--digits", default="20", help="significant digits, 1..10000 (default 20)")
    gn.add_argument(
        "--method",
        default="auto",
        choices=["auto", "closed", "quadrature"],
        help="closed: SymPy's closed forms (an error where there are none); quadrature: "
        "mpmath's; auto: closed forms where they exist (default auto)",
    )
    _add_format_flags(gn)
    gn.set_defaults(func=cmd_gain)

    dp = sub.add_parser(
        "depth",
        help="second-moment factor r per layer and r^L for each framework's init",
        description="For a plain L-layer network without biases: r = (actual Var[w]) / "
        "(variance-preserving Var[w] = 1 / (fan_in E[f(z)^2]), the forward gain squared) and "
        "the factor r^L after L layers, for TF's corrected he_normal, "
        "truncated_normal(stddev=sqrt(2/n)) at each --cutoff, PyTorch's default nn.Linear "
        "init, Xavier and LeCun.  For the ReLU family (linear, relu, leaky_relu) every layer "
        "multiplies the second moment by r; for any other activation r is the first layer's "
        "factor and r^L is the L-layer factor q_L of the wide network's length map "
        "q_l = c E[f(sqrt(q_(l-1)) z)^2] (mean field, q_0 = 1). " + _ACTIVATIONS_HELP,
        epilog="example: python -m derive depth --layers 24 --cutoff 2 --cutoff 3",
    )
    dp.add_argument("--layers", default="24", help="number of layers L (default 24)")
    dp.add_argument("--cutoff", action="append", help="truncation k in std units (repeatable)")
    dp.add_argument(
        "--activation",
        default="relu",
        metavar="NAME",
        help="a built-in name or an expression in x, as for gain (default relu; an expression "
        "starting with '-' is written --activation=-x)",
    )
    dp.add_argument("--param", default=None, help="leaky_relu slope a / elu alpha")
    dp.add_argument("--digits", default="20", help="significant digits, 1..10000 (default 20)")
    _add_format_flags(dp)
    dp.set_defaults(func=cmd_depth)
    dg = sub.add_parser(
        "diagnose",
        help="which known rule each layer of a saved model follows, and r^L",
        description="Per layer of a saved PyTorch state_dict (.pt/.pth, torch.load with "
        "weights_only=True) or Keras model (.keras): the weights' std against the fan, the "
        "known rule it matches (He, He with the std before truncation, torch's default, "
        "Glorot, LeCun, std 0.02, ...; within 4 standard errors), and the second-moment "
        "factor r per layer and r^L at depth.  A state_dict has no graph: --activation "
        "(default relu) follows every layer; a .keras model's layers give their own.",
        epilog="example: python -m derive diagnose model.pt --activation relu --json",
    )
    dg.add_argument(
        "file",
        metavar="FILE",
        help="a saved torch state_dict (.pt, .pth) or a Keras model (.keras)",
    )
    dg.add_argument(
        "--activation",
        default=None,
        help="activation after every layer of a state_dict (default relu); for .keras, "
        "only for layers whose config gives none",
    )
    dg.add_argument("--json", action="store_true", help="print JSON")
    dg.add_argument("--figure", default=None, metavar="PNG", help="save the r^l figure")
    dg.set_defaults(func=cmd_diagnose)
    _add_meanfield_commands(sub)
    if prog != PYTHON_M_PROG:  # the examples above are spelt for `python -m derive`
        for p in (parser, *sub.choices.values()):
            p.epilog = (p.epilog or "").replace(PYTHON_M_PROG, prog) or None
    return parser


# --------------------------------------------------------------------------------------------
# Mean-field commands: `critical` and `meanfield`
# --------------------------------------------------------------------------------------------


def _mf_number(x: object, digits: int) -> str | None:
    """A derived value as text: N significant digits, "inf", or None (not defined)."""
    import mpmath

    from .core.numbers import format_sig

    if x is None:
        return None
    assert isinstance(x, mpmath.mpf)
    if mpmath.isinf(x):
        return "inf" if x > 0 else "-inf"
    return format_sig(x, digits)


def _print_records(head: dict[str, object], rows: list[dict[str, object]], fmt: str) -> None:
    """JSON: one object, ``head`` plus "points": rows; CSV: a row per point, head columns first;
    table: the head's lines, then each point's block (None printed as "none")."""
    if fmt == "json":
        print(json.dumps({**head, "points": rows}))
    elif fmt == "csv":
        _print_csv([{**head, **row} for row in rows] or [head])
    else:
        for record in (head, *rows):
            shown = {k: NOT_DEFINED if v is None else v for k, v in record.items()}
            width = max(len(k) for k in shown)
            for key, value in shown.items():
                print(f"{key:<{width}}  {value}")
            if rows:
                print()


def cmd_critical(args: argparse.Namespace) -> int:
    from .core.numbers import bound_text, parse_digits
    from .maths.critical import critical_point
    from .maths.meanfield import parse_variance

    digits = parse_digits(args.digits)
    b2 = parse_variance(args.bias_variance, "--bias-variance")
    result = critical_point(args.activation, b2, args.param, digits)
    if result.status == "none":
        raise InputError(
            f"critical: {result.label} has no critical point at bias variance "
            f"{bound_text(b2)}: {result.reason}"
        )
    head: dict[str, object] = {
        "activation": result.label,
        "bias_variance": bound_text(b2),
        "digits": digits,
        "status": result.status,
    }
    rows: list[dict[str, object]] = [
        {
            "weight_variance": _mf_number(p.weight_variance, digits),
            "q_star": "any" if p.q_star is None else _mf_number(p.q_star, digits),
            "slope": _mf_number(p.slope, digits),
            "stability": p.stability,
            "xi_q": _mf_number(p.xi_q, digits),
            "xi_c": _mf_number(p.xi_c, digits),
        }
        for p in result.points
    ]
    _print_records(head, rows, _output_format(args))
    return 0


def cmd_meanfield(args: argparse.Namespace) -> int:
    from .core.numbers import bound_text, parse_digits
    from .maths.meanfield import meanfield_point, parse_variance

    digits = parse_digits(args.digits)
    w2 = parse_variance(args.weight_variance, "--weight-variance", positive=True)
    b2 = parse_variance(args.bias_variance, "--bias-variance")
    m = meanfield_point(args.activation, w2, b2, args.param, digits, args.q0)
    record: dict[str, object] = {
        "activation": m.label,
        "weight_variance": bound_text(w2),
        "bias_variance": bound_text(b2),
        "digits": digits,
        "fixed_point": m.fixed_point,
        "q_star": _mf_number(m.q_star, digits),
        "chi_1": _mf_number(m.chi1, digits),
        "slope": _mf_number(m.slope, digits),
        "stability": m.stability,
        "xi_q": _mf_number(m.xi_q, digits),
        "phase": m.phase,
        "c_star": _mf_number(m.c_star, digits),
        "chi_c": _mf_number(m.chi_c, digits),
        "xi_c": _mf_number(m.xi_c, digits),
    }
    _print_record(record, _output_format(args))
    return 0


_NAME_HELP = "the activation: a built-in name or an expression in x (see above)"
_ACTIVATIONS_HELP = (
    "NAME is a built-in (linear, relu, leaky_relu, elu, selu, gelu, gelu_tanh, silu, mish, "
    "softplus, tanh, sigmoid) or an expression in one variable, e.g. 'x*erf(x)'."
)


def _add_meanfield_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    cr = sub.add_parser(
        "critical",
        help="the critical weight variance (edge of chaos) for a bias variance",
        description="Solve q* = sigma_w^2 E[f(sqrt(q*) z)^2] + sigma_b^2 and "
        "chi_1 = sigma_w^2 E[f'(sqrt(q*) z)^2] = 1 for (sigma_w^2, q*) (Schoenholz et al. 2017). "
        "Prints every solution with the length map's slope T'(q*), its stability (stable: "
        "|T'| < 1; unstable: the second moment leaves q*; marginal: T' = 1, approached "
        "polynomially; neutral: every q is a fixed point) and the depth scales "
        "xi_q = -1/ln|T'(q*)| and xi_c (inf: chi_1 = 1, correlations approach 1 polynomially; "
        "none: not defined because q* repels). No critical point is an error (exit 2). "
        + _ACTIVATIONS_HELP,
        epilog="example: python -m derive critical tanh --bias-variance 0.05 --digits 30 --json",
    )
    cr.add_argument("activation", metavar="NAME", help=_NAME_HELP)
    cr.add_argument("--param", default=None, help="leaky_relu slope a / elu alpha")
    cr.add_argument("--bias-variance", required=True, help="sigma_b^2, a finite real in [0, 10000]")
    cr.add_argument("--digits", default="20", help="significant digits, 1..10000 (default 20)")
    _add_format_flags(cr)
    cr.set_defaults(func=cmd_critical)

    mf = sub.add_parser(
        "meanfield",
        help="mean-field fixed point, chi_1, phase and depth scales at (sigma_w^2, sigma_b^2)",
        description="The fixed point q* the length map reaches from q0, chi_1, T'(q*) and its "
        "stability, xi_q = -1/ln|T'(q*)|, the phase (ordered chi_1 < 1, chaotic > 1), the "
        "correlation map's stable fixed point c* with chi_c = C'(c*) and xi_c = -1/ln chi_c "
        "(Schoenholz et al. 2017). " + _ACTIVATIONS_HELP,
        epilog="example: python -m derive meanfield tanh --weight-variance 2.5 "
        "--bias-variance 0.05 --json",
    )
    mf.add_argument("activation", metavar="NAME", help=_NAME_HELP)
    mf.add_argument("--param", default=None, help="leaky_relu slope a / elu alpha")
    mf.add_argument(
        "--weight-variance", required=True, help="sigma_w^2, a finite real in (0, 10000]"
    )
    mf.add_argument("--bias-variance", required=True, help="sigma_b^2, a finite real in [0, 10000]")
    mf.add_argument("--q0", default="1", help="the starting second moment q_0 > 0 (default 1)")
    mf.add_argument("--digits", default="15", help="significant digits, 1..10000 (default 15)")
    _add_format_flags(mf)
    mf.set_defaults(func=cmd_meanfield)


def _allow_negative_positionals(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Let ``truncnorm -inf -40``, ``truncnorm 3 -1e-8``, ``gain -x`` (and ``complex -1``, to be
    told why it is out of range) through argparse.

    argparse only recognises plain negative decimals (``-2``) as values; ``-inf``, ``-1e-8``
    and ``-x`` look like options to it.  For ``truncnorm`` (negative numbers) and ``gain``
    (every single-dash argument but ``-h``: gain has no short options, so ``-x``,
    ``-tanh(x)`` or ``-0.5*x`` can only be the expression), options go first and every other
    argument, in order, after ``--``.  Whether an option takes a value is read from the
    command's own parser, its abbreviations resolved as argparse resolves them (a unique
    prefix of a long option; an ambiguous or unknown one is left for argparse to reject).
    """
    commands = getattr(parser, "commands", {})
    if not argv or argv[0] not in _NEGATIVE_POSITIONALS or argv[0] not in commands or "--" in argv:
        return argv
    command = commands[argv[0]]
    takes_value = _options_taking_values(command)
    options: list[str] = []
    positionals: list[str] = []
    rest = iter(argv[1:])
    for arg in rest:
        if arg.startswith("-") and not _looks_negative(argv[0], arg):
            options.append(arg)
            if "=" not in arg and _resolve_option(arg, takes_value, command.allow_abbrev):
                value = next(rest, None)
                if value is not None:
                    options.append(value)
        else:
            positionals.append(arg)
    return [argv[0], *options, "--", *positionals]


_NEGATIVE_POSITIONALS = ("truncnorm", "gain", "complex")


def _options_taking_values(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Every option string of ``parser`` and whether it takes a value (nargs != 0)."""
    return {
        option: action.nargs != 0
        for action in parser._actions  # argparse's list of the parser's actions
        for option in action.option_strings
    }


def _resolve_option(arg: str, takes_value: Mapping[str, bool], allow_abbrev: bool) -> bool:
    """Whether the option ``arg`` (no "=") takes the next argument as its value: an exact
    option string, or, as argparse allows, a prefix of exactly one long option."""
    if arg in takes_value:
        return takes_value[arg]
    if not allow_abbrev or not arg.startswith("--"):
        return False
    matches = [option for option in takes_value if option.startswith(arg)]
    return len(matches) == 1 and takes_value[matches[0]]


def _looks_negative(command: str, arg: str) -> bool:
    """A positional that starts with "-": a negative number, or (for gain) an expression."""
    if command == "gain":
        return not arg.startswith("--") and arg not in ("-", "-h")
    return _looks_negative_number(arg)


def _looks_negative_number(arg: str) -> bool:
    if not arg.startswith("-") or arg.startswith("--"):
        return False
    body = arg[1:].lower()
    return body in ("inf", "infinity", "nan") or body[:1].isdigit() or body[:1] == "."


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """The console script ``initref`` (``prog`` names the program in usage and messages)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    args = parser.parse_args(_allow_negative_positionals(args_list, parser))
    try:
        return int(args.func(args))
    except InputError as exc:
        _fail(str(exc))
    except BrokenPipeError:  # the reader went away (`... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(prog: str = PROG) -> NoReturn:
    """The command line as a process: main(), then stdout and stderr flushed and a hard exit
    with its status, skipping the interpreter's teardown (freeing SymPy's, mpmath's and
    matplotlib's objects took ~0.35 s of ``generate``'s ~5 s; mypy exits the same way).
    Every file the command writes is closed by then.  Exits raised by main (argparse's, an
    error's status 2) are the normal ones."""
    status = main(prog=prog)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # pragma: no cover - the reader went away
        pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
