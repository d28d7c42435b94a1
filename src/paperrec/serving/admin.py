"""What the admin pages show: readers, the models in use and registered, the gate's recent
decisions (comparison tables and the metrics over time), the digest outbox, and what the
paper store holds. Read-only except `resend`."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from paperrec.errors import NotFoundError
from paperrec.serving.holder import PredictorHolder
from paperrec.store.outbox import STATUSES, OutboxEntry
from paperrec.train import registry
from paperrec.train.gate_history import GateRun, gate_runs
from paperrec.users.profiles import list_users

GATE_TAG = "paperrec.gate"


@dataclass(frozen=True)
class ModelRow:
    model: str
    version: str
    aliases: tuple[str, ...]
    created: str
    gate: str


@dataclass(frozen=True)
class AdminView:
    readers: list[dict]
    in_use: dict[str, str]
    reload_error: str | None
    models: list[ModelRow]
    gates: list[GateRun]  # newest first
    outbox: dict[str, int]
    attention: list[OutboxEntry]  # unconfirmed and failed-and-waiting entries
    papers: dict


def overview(holder: PredictorHolder) -> AdminView:
    runtime = holder.runtime
    store, settings = runtime.store, runtime.settings
    models = []
    for name in registry.MODELS.values():
        for info in registry.list_versions(settings, name)[:10]:
            created = dt.datetime.fromtimestamp(info.created_ms / 1000, dt.UTC)
            models.append(
                ModelRow(
                    name, info.version, info.aliases, created.strftime("%Y-%m-%d %H:%M"),
                    info.tags.get(GATE_TAG, ""),
                )
            )  # fmt: skip
    entries = store.outbox.entries()
    counts = Counter(e.status for e in entries)
    attention = [e for e in entries if e.status == "unconfirmed" or e.last_error][-50:]
    stats = store.papers.stats()
    return AdminView(
        list_users(store), holder.versions, holder.last_error, models, gate_runs(settings),
        {status: counts.get(status, 0) for status in STATUSES}, attention,
        {"papers": stats["papers"], "by_source": stats["by_source"],
         "latest": list(stats["by_date"].items())[-7:]},
    )  # fmt: skip


def metric_history(
    gates: list[GateRun],
) -> tuple[list[str], list[tuple[GateRun, dict[str, float]]]]:
    """The gated metrics as columns (``model metric``) and one row per gate run, oldest
    first: the run and each candidate's value, how the models moved across retrains."""
    columns = sorted({f"{r.model} {r.metric}" for g in gates for r in g.rows})
    rows = [(g, {f"{r.model} {r.metric}": r.candidate for r in g.rows}) for g in reversed(gates)]
    return columns, rows


def resend(holder: PredictorHolder, user: str, date: dt.date) -> OutboxEntry:
    """Put a recorded digest back in the queue; the next ``paperrec digest`` sends it."""
    entry = holder.runtime.store.outbox.requeue(user, date)
    if entry is None:
        raise NotFoundError(f"no digest with content for {user} on {date}")
    return entry
