"""``python -m initref``: the initref command line (the same as the ``initref`` script)."""

from ._derive.cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m initref"))
