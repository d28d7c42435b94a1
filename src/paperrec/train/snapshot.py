"""What a retrain was trained on and with: data counts and content hashes, code version.

The data hash covers everything the two models learn from or are measured on: each
stored paper's id and content hash, the users' votes that become ranker training queries,
the papers of the topic evaluation and the embedding model. Two retrains with equal hashes
(and an equal config) train the same models, so ``paperrec retrain`` skips the second.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from paperrec.runtime import Runtime
from paperrec.schema import Paper
from paperrec.train.ranker_run import feedback_queries

_SOURCE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DataSnapshot:
    papers: int
    papers_with_categories: int
    users: int
    votes: int
    eval_papers: int
    embedding_model: str
    papers_sha256: str
    votes_sha256: str
    eval_sha256: str

    @property
    def content_hash(self) -> str:
        parts = (self.embedding_model, self.papers_sha256, self.votes_sha256, self.eval_sha256)
        return _sha256(parts)

    def as_dict(self) -> dict:
        return {**asdict(self), "content_hash": self.content_hash}


def _sha256(lines) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _paper_lines(papers: Sequence[Paper]) -> list[str]:
    return sorted(f"{p.id}\t{p.content_hash}" for p in papers)


def _vote_lines(runtime: Runtime, papers: Sequence[Paper]) -> list[str]:
    """The users' votes that train the ranker, exactly as `feedback_queries` reads them
    (a user's seed papers alone train nothing: only votes on papers shown to them do)."""
    lines = []
    for query in feedback_queries(runtime, papers):
        lines.append(f"{query.user}\tprofile\t" + ",".join(papers[i].id for i in query.liked))
        for i, vote in zip(query.candidates, query.relevance, strict=True):
            lines.append(f"{query.user}\tvote\t{papers[i].id}\t{vote:g}")
    return sorted(lines)


def take_snapshot(
    runtime: Runtime, papers: Sequence[Paper], eval_papers: Sequence[Paper]
) -> DataSnapshot:
    """Counts and hashes of the store's ``papers``, its users' votes and ``eval_papers``."""
    votes = _vote_lines(runtime, papers)
    return DataSnapshot(
        papers=len(papers),
        papers_with_categories=sum(bool(p.categories) for p in papers),
        users=len(runtime.store.users.names()),
        votes=sum("\tvote\t" in line for line in votes),
        eval_papers=len(eval_papers),
        embedding_model=runtime.embedder.model_id,
        papers_sha256=_sha256(_paper_lines(papers)),
        votes_sha256=_sha256(votes),
        eval_sha256=_sha256(
            _paper_lines(eval_papers) + [f"{p.id}\t{','.join(p.categories)}" for p in eval_papers]
        ),
    )


def provenance() -> dict[str, str]:
    """Package version and, in a git checkout, the commit (with ``-dirty`` for local
    changes); ``unknown`` where there is no git or no checkout, never an error."""
    try:
        version = metadata.version("paperrec")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"package_version": version, "git_commit": _git_commit()}


def _git_commit() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=_SOURCE_DIR, capture_output=True, text=True, timeout=10, check=True
        )
        return result.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")
