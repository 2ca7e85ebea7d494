"""``python -m lbmock``: the same command line as ``lbmock``."""

from lbmock.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
