"""The ``durable-graph`` command line.

``main(argv)`` returns the exit code, so both the console script and ``sys.exit(main())`` work.
"""

from .entry import build_parser, main

__all__ = ["build_parser", "main"]
