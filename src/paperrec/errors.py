"""Exceptions the library raises; the CLI and the service turn them into one readable line."""

from __future__ import annotations


class PaperrecError(Exception):
    """Base class for every expected failure: bad input, missing state, unreachable services."""


class InputError(PaperrecError):
    """A file or payload that cannot be read; says where (file, line, field) and what is allowed."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


class UnknownFormatError(InputError):
    """An input format that no parser handles."""


class NetworkError(PaperrecError):
    """A remote service (arXiv API, SMTP server) could not be reached."""


class StoreError(PaperrecError):
    """The database or the disk under it refused: full, read-only, corrupted, unreachable."""


class NotFoundError(PaperrecError):
    """A user, paper or model that the store does not hold."""


class ModelNotTrainedError(PaperrecError):
    """A model was asked for before `paperrec train` produced one."""


class AuthError(PaperrecError):
    """A missing, wrong or expired API key or feedback token."""


class ForbiddenError(AuthError):
    """A valid API key or feedback link that may not do what was asked (HTTP 403)."""


def unknown_choice(kind: str, value: object, allowed) -> str:
    """Message for a value outside a closed set, listing what is allowed."""
    return f"unknown {kind} {value!r}; available: {', '.join(sorted(map(str, allowed)))}"
