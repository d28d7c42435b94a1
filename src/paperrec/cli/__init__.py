"""The ``paperrec`` command line: parses arguments and calls library functions, nothing more.

Expected failures (PaperrecError) become one red line on stderr and exit code 1.
"""

from __future__ import annotations

from paperrec.cli import (  # noqa: F401  (importing registers the commands)
    data,
    digest,
    evaluate,
    lifecycle,
    predict,
    serve,
    train,
    users,
)
from paperrec.cli.app import app, main

__all__ = ["app", "main"]
