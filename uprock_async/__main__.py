"""``python -m uprock_async``: the command line of :mod:`uprock_async.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
