"""``python -m derive``: the initref command line."""

from derive.cli import main

raise SystemExit(main())
