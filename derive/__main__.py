"""``python -m derive``: the initref command line."""

from derive.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
