"""``python -m derive``: the initref command line."""

from .cli import PYTHON_M_PROG, main

if __name__ == "__main__":
    raise SystemExit(main(prog=PYTHON_M_PROG))
