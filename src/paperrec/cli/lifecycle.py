"""Model lifecycle commands: ``paperrec retrain`` and ``paperrec models list | promote |
rollback``. Each parses its arguments and calls `paperrec.train.retrain` or
`paperrec.train.promotion`; the gate's comparison table is drawn here."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

from paperrec.cli.app import (
    command,
    console,
    new_table,
    out,
    print_json,
    progress_bar,
    runtime,
    subgroup,
    working,
)
from paperrec.errors import InputError

models_app = subgroup("models", "List registered model versions, promote one, roll back.")

_SHORT = {"majority_vote": "rules", "zero_shot": "zero-shot", "zotero-arxiv-daily": "zotero"}
_ALIASES = {"previous-champion": "previous"}
_METRIC_NAMES = {
    "macro_f1": "area macro-F1",
    "ndcg@10": "nDCG@10",
    "recall@50": "recall@50",
    "mrr": "MRR",
    "pairwise": "pairwise acc.",
}


def _metric_name(metric: str) -> str:
    """'authors.ndcg@10' -> 'authors nDCG@10'."""
    protocol, _, name = metric.rpartition(".")
    return " ".join(filter(None, [protocol.replace("_", " "), _METRIC_NAMES.get(name, name)]))


class _Stages:
    """A retrain `Reporter` that draws each stage: a spinner (a bar while embedding), then
    the time it took."""

    def __init__(self):
        self._live = None
        self._name: str | None = None
        self._started = 0.0

    def stage(self, name: str) -> None:
        self.close()
        self._name, self._started = name, time.perf_counter()
        self._live = console.status(f"{name} ...")
        self._live.start()

    def embedding(self, total: int):
        self._stop_live()
        bar = progress_bar()
        task = bar.add_task("embedding", total=total)
        bar.start()
        self._live = bar
        return lambda n: bar.advance(task, n)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def close(self, finished: bool = True) -> None:
        self._stop_live()
        if self._name is not None and finished:
            seconds = time.perf_counter() - self._started
            console.print(f"[green]done[/] {self._name} ({seconds:.0f} s)", highlight=False)
        self._name = None


@command("retrain")
def retrain(
    since: Annotated[
        str | None, typer.Option(help="ingest only papers dated on or after YYYY-MM-DD")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="retrain YAML (see docs/lifecycle.md)")
    ] = None,
    force: Annotated[bool, typer.Option(help="retrain even when nothing is new")] = False,
) -> None:
    """Ingest what is new, embed, train both models, gate them against the champions and
    promote them if they are not worse (see docs/lifecycle.md). Exit 0 also when nothing
    is new or the candidates are not promoted."""
    from paperrec.train.retrain import retrain as run
    from paperrec.train.retrain_config import load_retrain_config

    try:
        day = dt.date.fromisoformat(since) if since else None
    except ValueError:
        raise InputError(f"--since {since!r} is not YYYY-MM-DD") from None
    retrain_config = load_retrain_config(config)
    stages = _Stages()
    try:
        outcome = run(runtime(), retrain_config, since=day, force=force, reporter=stages)
    except BaseException:
        stages.close(finished=False)
        raise
    stages.close()
    ingest = outcome.ingest.as_dict()
    out.print(
        f"sources: {ingest['read']} papers read, {ingest['added']} added, {ingest['updated']} "
        f"updated, {ingest['problems']} problem(s); {outcome.embedded} embedded now; store: "
        f"{outcome.snapshot.papers} papers, data hash {outcome.snapshot.content_hash[:12]}",
        highlight=False,
    )
    if outcome.status == "nothing-new":
        out.print(outcome.message, highlight=False)
        return
    if outcome.packaged is not None and outcome.packaged.status in ("registered", "refused"):
        out.print(outcome.packaged.message, highlight=False)
    versions = outcome.versions
    out.print(
        f"candidates: paperrec-topics v{versions['topics']}, paperrec-ranker v{versions['ranker']}"
        f" (retrain run {outcome.run_id})",
        highlight=False,
    )
    print_gate(outcome.gate)


def print_gate(gate) -> None:
    """The comparison table and the decision, as `retrain` prints them."""
    champion, candidate = gate.champion, gate.candidate
    versions = ", ".join(
        [
            f"{key} v{champion[key]} -> v{candidate[key]}"
            if key in champion
            else f"{key} v{candidate[key]} (first)"
            for key in candidate
        ]
        + [f"{key} v{version} set aside" for key, version in gate.set_aside.items()]
    )
    table = new_table(
        title=f"promotion gate: {versions}; tolerance {gate.tolerance:g}",
        title_justify="left",
        simple=True,
    )
    for name in ("model", "metric", "champion", "candidate", "change", "best baseline", "verdict"):
        table.add_column(
            name, justify="left" if name in ("model", "metric", "verdict") else "right"
        )
    for row in gate.rows:
        table.add_row(
            row.model,
            _metric_name(row.metric),
            "-" if row.champion is None else f"{row.champion:.3f}",
            f"{row.candidate:.3f}",
            "-" if row.delta is None else f"{row.delta:+.3f}",
            ""
            if row.baseline is None
            else f"{row.baseline_value:.3f} {_SHORT.get(row.baseline, row.baseline)}",
            "[green]ok[/]"
            if row.passed
            else ("[bold red]worse[/]" if row.above_floor else "[bold red]below zotero[/]"),
        )
    out.print(table)
    if gate.promote:
        names = ", ".join(f"{k} v{v}" for k, v in candidate.items())
        kept = "".join(f", {k} v{champion[k]} stays champion" for k in gate.set_aside)
        out.print(
            f"[bold green]promoted[/]: {names} now champion{kept}; {gate.reason}", highlight=False
        )
    else:
        kept = ", ".join(f"{k} v{v}" for k, v in champion.items())
        out.print(
            f"[bold red]not promoted[/]: {gate.reason}; champions stay {kept}", highlight=False
        )


@command("list", group=models_app)
def models_list(
    limit: Annotated[int, typer.Option(help="newest versions per model", min=1)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON rows")] = False,
) -> None:
    """Registered versions of both models: aliases, origin, gate decision, key metric."""
    from paperrec.train.promotion import version_rows

    with working("reading the model registry ..."):
        rows = version_rows(runtime().settings, limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no registered models yet; run `paperrec retrain`")
        return
    out.print(
        "registered models, newest first; metric: topics area macro-F1, ranker pool-user "
        "nDCG@10, each from its own training run (the gate compares on shared data)"
    )
    table = new_table(simple=True)
    for name in ("model", "version", "aliases", "created", "origin", "pair", "gate", "metric"):
        justify = "right" if name in ("version", "metric") else "left"
        table.add_column(name, justify=justify, no_wrap=name == "created")
    for row in rows:
        table.add_row(
            row["model"], row["version"], " ".join(_ALIASES.get(a, a) for a in row["aliases"]),
            row["created"], _origin(row["origin"]), row["pair"] and f"v{row['pair']}",
            row["gate"], "" if row["value"] is None else f"{row['value']:.3f}",
        )  # fmt: skip
    out.print(table)


def _origin(origin: str) -> str:
    """``retrain RUN_ID`` -> ``retrain``; ``train`` and ``packaged default`` as they are."""
    return "retrain" if origin.startswith("retrain ") else origin


@command("promote", group=models_app)
def models_promote(
    version: Annotated[str, typer.Argument(help="registered version to make the champion")],
    model: Annotated[str, typer.Option(help="topics or ranker: whose VERSION it is")] = "topics",
    alone: Annotated[
        bool, typer.Option("--alone", help="leave the other model of the same retrain as it is")
    ] = False,
) -> None:
    """Make VERSION the champion by hand (no gate), with the model trained beside it in the
    same retrain unless --alone. `paperrec models rollback` undoes it."""
    from paperrec.train.promotion import promote_version

    changes = promote_version(runtime().settings, model, version, alone=alone)
    for key, (before, after) in changes.items():
        if before == after:
            out.print(f"{key} v{after} was already the champion", highlight=False)
        else:
            was = f" (was v{before})" if before else ""
            out.print(f"{key} v{after} is now the champion{was}", highlight=False)


@command("rollback", group=models_app)
def models_rollback(
    model: Annotated[
        str | None,
        typer.Option(help="only this model (topics or ranker); default: the last promotion"),
    ] = None,
) -> None:
    """Undo the last promotion: the champions before it are champions again. A running
    service picks them up at its next check (or POST /reload)."""
    from paperrec.train.promotion import rollback

    for key, (before, after) in rollback(runtime().settings, model).items():
        out.print(f"{key}: champion v{before} -> v{after}", highlight=False)
