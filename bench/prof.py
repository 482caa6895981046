#!/usr/bin/env python
"""Where the time goes: cProfile of one benchmark case (see bench/run.py).

    python bench/prof.py generator --count 2000 --digits 50
    python bench/prof.py generator --count 1 --digits 3000 --lower -1 --upper 3
    python bench/prof.py numpy --lower 3 --upper 4 --dtype float32 --log2n 24
    python bench/prof.py torch --lower -2 --upper 2 --dtype float32 --log2n 24
    python bench/prof.py tf --lower -1 --upper 1 --dtype float32 --log2n 20

Framework ops appear as builtins (``{method 'normal_' of ...}``, numpy ufuncs), so the
listing shows which array operations dominate, and how much is Python overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

import run  # bench/run.py (this directory is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["generator", "numpy", "torch", "tf"])
    p.add_argument("--lower", type=float, default=-2.0)
    p.add_argument("--upper", type=float, default=2.0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--log2n", type=int, default=20)
    p.add_argument("--count", type=int, default=2000, help="generator: intervals")
    p.add_argument("--digits", type=int, default=50, help="generator: digits")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    n = 1 << args.log2n

    if args.what == "generator":
        from derive.maths.truncnorm import truncnorm_moments

        if args.count == 1:
            pairs = [(repr(args.lower), repr(args.upper))]
        else:
            pairs = run.distinct_intervals(args.count, seed=args.count)
        truncnorm_moments("-2", "2", args.digits)

        def fn() -> object:
            return [truncnorm_moments(a, b, args.digits) for a, b in pairs]

    elif args.what == "numpy":
        import numpy as np

        mod, why = run.load_generated("numpy_init")
        if mod is None:
            raise SystemExit(why)
        fn = run.numpy_sampler(mod, n, args.lower, args.upper, args.dtype, np.random.default_rng(0))
    elif args.what == "torch":
        import torch

        torch.set_num_threads(args.threads)
        mod, why = run.load_generated("torch_init")
        if mod is None:
            raise SystemExit(why)
        fn = run.torch_sampler(mod, torch, n, args.lower, args.upper, getattr(torch, args.dtype))
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        mod, why = run.load_generated("tf_init")
        if mod is None:
            raise SystemExit(why)
        fn = run.tf_sampler(mod, tf, n, args.lower, args.upper, args.dtype)

    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    plain = time.perf_counter() - t0
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats(args.sort).print_stats(args.top)
    print(f"{args.what}: one call {plain * 1e3:.1f} ms without the profiler")
    print(buf.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
