"""paperrec: tells each researcher which of today's arXiv papers are worth their time."""

__version__ = "0.1.0"
