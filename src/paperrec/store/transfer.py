"""Copy a whole store from one database to another: an SQLite store moved to PostgreSQL
(or back). Both are brought to the current schema first; the target must hold no rows.

Rows are copied table by table, parents before children, in chunks, in one transaction on
the target: a copy that fails leaves the target as it was. Row ids are kept (feedback
links and API keys refer to them) and the target's id counters are moved past them. The
embedding cache is not part of the database and is not copied.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from paperrec.errors import InputError
from paperrec.store.db import meta, metadata, open_engine
from paperrec.store.engines import continue_ids_after_copy

CHUNK = 2000


def copy_store(source_url: str, target_url: str) -> dict[str, int]:
    """Copy every row of the store at ``source_url`` into the empty one at ``target_url``.

    Returns rows copied per table. Raises InputError when both URLs name the same
    database or the target already holds rows.
    """
    source, target = open_engine(source_url), open_engine(target_url)
    if make_url(source_url) == make_url(target_url):
        raise InputError("the source and the target are the same database")
    tables = [t for t in metadata.sorted_tables if t is not meta]
    copied: dict[str, int] = {}
    try:
        with source.connect() as reading, target.begin() as writing:
            held = {t.name: writing.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in tables}  # fmt: skip
            if any(held.values()):
                listed = ", ".join(f"{n} {name}" for name, n in held.items() if n)
                raise InputError(
                    f"the target database is not empty ({listed}); copy into a new one"
                )
            for table in tables:
                rows = reading.execution_options(yield_per=CHUNK).execute(select(table))
                copied[table.name] = 0
                for chunk in rows.partitions(CHUNK):
                    writing.execute(table.insert(), [dict(row._mapping) for row in chunk])
                    copied[table.name] += len(chunk)
            continue_ids_after_copy(writing, tables)
    finally:
        source.dispose()
        target.dispose()
    return copied
