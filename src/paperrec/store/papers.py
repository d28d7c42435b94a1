"""The paper table: transactional, idempotent upserts and lookups.

A batch is written in one transaction: a crash mid-ingest leaves whole batches only, and a
rerun skips what is already stored. Rows are merged on the arXiv id (versions collapse,
the newest version wins) or, for papers without one, on the normalised-title key; a paper
first seen without an id and later with one keeps one row, re-keyed to the arXiv id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from paperrec.schema import TITLE_KEY_PREFIX, Paper, split_arxiv_id
from paperrec.store.db import paper_aliases, paper_sources, papers
from paperrec.store.engines import insert_missing
from paperrec.store.fulltext import search_ids

_IN_CHUNK = 500  # bound on bound parameters per IN (...) query
_RACE_ATTEMPTS = 5  # a batch that met another writer's new row is redone this often at most


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _chunks(items: Sequence, size: int = _IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    older_skipped: int = 0
    ids: list[str] = field(default_factory=list)

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.older_skipped += other.older_skipped
        self.ids.extend(other.ids)
        return self


def _row_to_paper(row) -> Paper:
    return Paper(
        id=row.id,
        title=row.title,
        abstract=row.abstract,
        categories=tuple(json.loads(row.categories)),
        date=dt.date.fromisoformat(row.date) if row.date else None,
        version=row.version,
        authors=tuple(json.loads(row.authors)),
        content_hash=row.content_hash,
    )


def _paper_values(paper: Paper) -> dict:
    return {
        "title": paper.title,
        "abstract": paper.abstract,
        "categories": json.dumps(list(paper.categories)),
        "authors": json.dumps(list(paper.authors)),
        "date": paper.date.isoformat() if paper.date else None,
        "version": paper.version,
        "title_key": paper.title_key,
        "content_hash": paper.content_hash,
    }


def _merge(stored: Paper, incoming: Paper) -> Paper | None:
    """The row to write when ``incoming`` meets ``stored``; None when nothing changes.

    An older arXiv version never overwrites a newer one. Fields the incoming record lacks
    (categories from an HF page, a date) are kept from the stored row.
    """
    if stored.version and incoming.version and incoming.version < stored.version:
        return None
    # A record without an arXiv id (an HF page), or without a version when the stored row
    # has one (a JSONL dump after the API), only fills gaps in the stored row: nothing says
    # it is newer, and re-reading the same files must change nothing.
    title_keyed = incoming.id.startswith(TITLE_KEY_PREFIX)
    gaps_only = title_keyed or (stored.version is not None and incoming.version is None)
    first, second = (stored, incoming) if gaps_only else (incoming, stored)
    merged = Paper(
        id=stored.id if title_keyed else incoming.id,
        title=first.title or second.title,
        abstract=first.abstract or second.abstract,
        categories=first.categories or second.categories,
        date=first.date or second.date,
        version=first.version or second.version,
        authors=first.authors or second.authors,
    )
    return (
        None
        if _paper_values(merged) == _paper_values(stored) and merged.id == stored.id
        else merged
    )


def _title_twin(known: dict[str, Paper], paper: Paper) -> Paper | None:
    """The stored paper with ``paper``'s title, when the title is what identifies them.

    Two different arXiv ids with the same title are two papers (errata, namesakes); a
    title match only merges when one side has no arXiv id.
    """
    twin = known.get(paper.title_key)
    if twin is None:
        return None
    if paper.id.startswith(TITLE_KEY_PREFIX) or twin.id.startswith(TITLE_KEY_PREFIX):
        return twin
    return None


class PaperStore:
    """Reads and writes papers. Only this class (and its siblings in ``store``) touch the DB."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- writing -------------------------------------------------------------------------
    def upsert(self, batch: Sequence[Paper], source: str) -> UpsertCounts:
        """Insert or update ``batch`` atomically; returns what happened to each paper.

        Another process may store one of the same papers between this one's read and its
        write (PostgreSQL lets writers in at once): the batch is then rolled back and done
        again on what is stored now.
        """
        for attempt in range(1, _RACE_ATTEMPTS + 1):
            try:
                return self._upsert(batch, source)
            except IntegrityError:
                if attempt == _RACE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _upsert(self, batch: Sequence[Paper], source: str) -> UpsertCounts:
        counts = UpsertCounts()
        with self.engine.begin() as conn:
            known = self._existing(conn, batch)
            for paper in batch:
                stored = known.get(paper.id) or _title_twin(known, paper)
                if stored is None:
                    conn.execute(
                        papers.insert().values(
                            id=paper.id,
                            ingested_at=_now(),
                            updated_at=_now(),
                            **_paper_values(paper),
                        )
                    )
                    counts.added += 1
                    final = paper
                else:
                    merged = _merge(stored, paper)
                    if merged is None:
                        older = stored.version and paper.version and paper.version < stored.version
                        counts.older_skipped += bool(older)
                        counts.unchanged += not older
                        final = stored
                    else:
                        self._rewrite(conn, stored, merged)
                        counts.updated += 1
                        final = merged
                known[final.id] = known[final.title_key] = final
                counts.ids.append(final.id)
                self._add_source(conn, final.id, source)
        return counts

    def _existing(self, conn, batch: Sequence[Paper]) -> dict[str, Paper]:
        """Stored papers matching the batch, indexed by id, alias and title key."""
        ids = list({p.id for p in batch})
        keys = list({p.title_key for p in batch})
        found: dict[str, Paper] = {}
        for chunk in _chunks(ids):
            alias_rows = conn.execute(
                select(paper_aliases.c.alias, papers)
                .join(papers, papers.c.id == paper_aliases.c.paper_id)
                .where(paper_aliases.c.alias.in_(chunk))
            )
            for row in alias_rows:
                found[row.alias] = _row_to_paper(row)
            for row in conn.execute(select(papers).where(papers.c.id.in_(chunk))):
                found[row.id] = _row_to_paper(row)
        for chunk in _chunks(keys):
            for row in conn.execute(select(papers).where(papers.c.title_key.in_(chunk))):
                paper = _row_to_paper(row)
                # An arXiv-keyed row wins over a title-keyed twin for the same title.
                current = found.get(paper.title_key)
                if current is None or current.id.startswith(TITLE_KEY_PREFIX):
                    found[paper.title_key] = paper
        return found

    def _rewrite(self, conn, stored: Paper, merged: Paper) -> None:
        values = {**_paper_values(merged), "updated_at": _now()}
        if merged.id != stored.id:
            # A title-keyed row re-keyed to its arXiv id: new row, move references, old key
            # becomes an alias so feedback that names it still resolves.
            conn.execute(papers.insert().values(id=merged.id, ingested_at=_now(), **values))
            conn.execute(
                paper_sources.update()
                .where(paper_sources.c.paper_id == stored.id)
                .values(paper_id=merged.id)
            )
            conn.execute(
                paper_aliases.update()
                .where(paper_aliases.c.paper_id == stored.id)
                .values(paper_id=merged.id)
            )
            conn.execute(papers.delete().where(papers.c.id == stored.id))
            conn.execute(paper_aliases.insert().values(alias=stored.id, paper_id=merged.id))
        else:
            conn.execute(papers.update().where(papers.c.id == stored.id).values(**values))

    def _add_source(self, conn, paper_id: str, source: str) -> None:
        insert_missing(conn, paper_sources, [{"paper_id": paper_id, "source": source}])

    # -- reading -------------------------------------------------------------------------
    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(papers)).scalar_one()

    def resolve_ids(self, ids: Iterable[str]) -> dict[str, str]:
        """Map each requested id (arXiv id with or without version, or an alias) to its row id."""
        wanted = {}
        for raw in ids:
            parsed = split_arxiv_id(raw)
            wanted[raw] = parsed[0] if parsed else raw.strip()
        keys = list(set(wanted.values()))
        resolved: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(keys):
                for (pid,) in conn.execute(select(papers.c.id).where(papers.c.id.in_(chunk))):
                    resolved[pid] = pid
            # Aliases only for what is not a row id (usually nothing: one query in all).
            for chunk in _chunks([key for key in keys if key not in resolved]):
                rows = conn.execute(
                    select(paper_aliases.c.alias, paper_aliases.c.paper_id).where(
                        paper_aliases.c.alias.in_(chunk)
                    )
                )
                for alias, pid in rows:
                    resolved[alias] = pid
        return {raw: resolved[key] for raw, key in wanted.items() if key in resolved}

    def current(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The stored paper each id names, keyed by the id as given (row ids, versioned
        ids, old keys of re-keyed papers); unknown ids are left out.

        Ids that are row ids (the usual case: profiles hold current ids) are read in one
        query each chunk; only the others go through `resolve_ids` (versions, aliases)."""
        ids = list(dict.fromkeys(ids))
        rows = self._rows(ids)
        others = [i for i in ids if i not in rows]
        resolved = self.resolve_ids(others) if others else {}
        if resolved:
            rows.update(self._rows(list(set(resolved.values()) - set(rows))))
        resolved.update((pid, pid) for pid in ids if pid in rows)
        return {i: rows[resolved[i]] for i in ids if i in resolved}

    def get_many(self, ids: Sequence[str]) -> list[Paper]:
        """Papers for ``ids`` in the order given; unknown ids are left out (see `current`)."""
        found = self.current(ids)
        return [found[i] for i in ids if i in found]

    def _rows(self, ids: Sequence[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                for row in conn.execute(select(papers).where(papers.c.id.in_(chunk))):
                    found[row.id] = _row_to_paper(row)
        return found

    def iter_papers(
        self,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        source: str | None = None,
        limit: int | None = None,
    ) -> list[Paper]:
        """Papers, oldest first by date then id, optionally filtered by date range and source."""
        query = select(papers).order_by(papers.c.date, papers.c.id)
        if since is not None:
            query = query.where(papers.c.date >= since.isoformat())
        if until is not None:
            query = query.where(papers.c.date <= until.isoformat())
        if source is not None:
            query = query.where(
                papers.c.id.in_(
                    select(paper_sources.c.paper_id).where(paper_sources.c.source == source)
                )
            )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_row_to_paper(row) for row in conn.execute(query)]

    def window_stamp(self, since: dt.date, until: dt.date) -> tuple[int, str | None]:
        """(how many papers are dated ``since`` to ``until``, when the last of them was
        written), in one query: while it stays the same, so do the window's rows (writes
        are stamped to the second: a stamp is only conclusive once its second has passed)."""
        query = select(func.count(), func.max(papers.c.updated_at)).where(
            papers.c.date >= since.isoformat(), papers.c.date <= until.isoformat()
        )
        with self.engine.connect() as conn:
            count, written = conn.execute(query).one()
        return count, written

    def search_text(self, query: str, limit: int = 50) -> list[str]:
        """Ids of papers whose title or abstract holds every word of ``query``, best first."""
        with self.engine.connect() as conn:
            return search_ids(conn, query, limit)

    def latest_date(self) -> dt.date | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(papers.c.date))).scalar()
        return dt.date.fromisoformat(value) if value else None

    def stats(self) -> dict:
        """Counts of papers by source, by category (any position) and by date."""
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(papers)).scalar_one()
            by_source = dict(
                conn.execute(
                    select(paper_sources.c.source, func.count()).group_by(paper_sources.c.source)
                ).all()
            )
            by_date: dict[str, int] = {}
            for date, n in conn.execute(
                select(papers.c.date, func.count()).group_by(papers.c.date)
            ):
                by_date[date or "unknown"] = n
            by_category: dict[str, int] = {}
            primary: dict[str, int] = {}
            for (raw,) in conn.execute(select(papers.c.categories)):
                cats = json.loads(raw)
                for cat in cats:
                    by_category[cat] = by_category.get(cat, 0) + 1
                key = cats[0] if cats else "none"
                primary[key] = primary.get(key, 0) + 1
        by_month: dict[str, int] = {}
        for date, n in by_date.items():
            month = date[:7] if date != "unknown" else "unknown"
            by_month[month] = by_month.get(month, 0) + n
        ordered = lambda d: dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))  # noqa: E731
        return {
            "papers": total,
            "by_source": ordered(by_source),
            "by_primary_category": ordered(primary),
            "by_category": ordered(by_category),
            "by_month": dict(sorted(by_month.items())),
            "by_date": dict(sorted(by_date.items())),
        }
