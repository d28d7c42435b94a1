"""What every parser yields: papers, and problems that say where a record went wrong."""

from __future__ import annotations

from dataclasses import dataclass

from paperrec.schema import Paper


@dataclass(frozen=True, slots=True)
class Problem:
    """A record that could not be read: the file, the 1-based line (when known) and why."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


Record = Paper | Problem


def check_paper(paper: Paper, path: str, line: int | None) -> Record:
    """The paper itself, or a Problem when it lacks the text every model needs."""
    if not paper.title:
        return Problem(path, line, "empty title")
    if not paper.abstract:
        return Problem(path, line, f"empty abstract for {paper.title[:60]!r}")
    return paper
