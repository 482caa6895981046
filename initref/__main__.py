"""``python -m initref``: the initref command line (the same as the ``initref`` script)."""

from ._derive.cli import run

if __name__ == "__main__":
    run(prog="python -m initref")
