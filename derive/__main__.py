"""``python -m derive``: the initref command line."""

from .cli import PYTHON_M_PROG, run

if __name__ == "__main__":
    run(prog=PYTHON_M_PROG)
