"""The ``paperrec`` command line: parses arguments and calls library functions, nothing more.

Expected failures (PaperrecError) become one red line on stderr and exit code 1.
"""

from __future__ import annotations

from paperrec.cli.app import app, main
from paperrec.cli import data  # noqa: F401  (registers commands)
from paperrec.cli import users  # noqa: F401  (registers commands)

__all__ = ["app", "main"]
