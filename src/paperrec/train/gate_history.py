"""The gate's past decisions, newest first, read back from MLflow: each ``gate`` run's
comparison table (gate.json) with when it ran, what it decided and why. The admin page
shows these; ``paperrec retrain`` writes them (``retrain.gate_and_promote``)."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paperrec.config import Settings
from paperrec.train.registry import tracking_client

EXPERIMENT = "paperrec-retrain"  # where `paperrec retrain` logs its runs
GATE_RUN = "gate"


@dataclass(frozen=True)
class GateRow:
    model: str
    metric: str
    candidate: float
    champion: float | None
    delta: float | None
    baseline: str | None
    baseline_value: float | None
    passed: bool


@dataclass(frozen=True)
class GateRun:
    run_id: str
    started: dt.datetime
    promoted: bool
    reason: str
    tolerance: float
    candidate: dict[str, str]
    champion: dict[str, str]
    rows: tuple[GateRow, ...]


def _read(client, run) -> GateRun | None:
    try:
        with tempfile.TemporaryDirectory(prefix="paperrec-gate-") as folder:
            path = client.download_artifacts(run.info.run_id, "gate.json", folder)
            data = json.loads(Path(path).read_text(encoding="utf-8"))
    except Exception:  # a run killed before it logged its table: nothing to show
        return None
    rows = tuple(
        GateRow(
            r["model"], r["metric"], r["candidate"], r.get("champion"), r.get("delta"),
            r.get("baseline"), r.get("baseline_value"), bool(r.get("passed")),
        )
        for r in data.get("rows", [])
    )  # fmt: skip
    started = dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC)
    return GateRun(
        run.info.run_id, started, bool(data.get("promote")), str(data.get("reason", "")),
        float(data.get("tolerance", 0.0)), dict(data.get("candidate", {})),
        dict(data.get("champion", {})), rows,
    )  # fmt: skip


def gate_runs(settings: Settings, limit: int = 10) -> list[GateRun]:
    """The last ``limit`` gate decisions, newest first (empty when no retrain has run)."""
    client = tracking_client(settings)
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return []
    runs = client.search_runs(
        [found.experiment_id],
        f"tags.`mlflow.runName` = '{GATE_RUN}'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    return [gate for run in runs if (gate := _read(client, run)) is not None]
