"""Commands that fill the store: ingest, stats, embed, backfill, store copy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paperrec.cli.app import (
    RayOption,
    command,
    console,
    new_table,
    out,
    print_json,
    print_problems,
    progress_bar,
    ray_options,
    runtime,
    subgroup,
)
from paperrec.errors import InputError
from paperrec.papers.sources import FORMATS

if TYPE_CHECKING:
    from paperrec.papers.ingest import IngestSummary


def _report(summary: IngestSummary, as_json: bool) -> None:
    print_problems(summary.problems)
    data = summary.as_dict()
    if as_json:
        print_json(data)
    else:
        out.print(
            f"{data['files']} file(s), {data['read']} papers read: {data['added']} added, "
            f"{data['updated']} updated, {data['unchanged']} unchanged, "
            f"{data['older_versions_skipped']} older versions skipped, "
            f"{data['problems']} problem(s)"
        )


@command("ingest")
def ingest(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="files, globs or folders; arxiv:CATEGORY or arxiv:ID (live API); "
            "or the word 'arxiv' with --category / --id"
        ),
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"one of {', '.join(FORMATS)}")
    ] = "auto",
    strict: Annotated[
        bool, typer.Option(help="any bad record aborts the ingest, nothing written")
    ] = False,
    category: Annotated[list[str], typer.Option(help="arXiv category (live API), repeatable")] = [],  # noqa: B006
    paper_id: Annotated[
        list[str], typer.Option("--id", help="live API: fetch this arXiv id, repeatable")
    ] = [],  # noqa: B006
    days: Annotated[int, typer.Option(help="live API: papers submitted in the last N days")] = 1,
    max_results: Annotated[int, typer.Option(help="live API: at most this many papers")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Read papers into the store: files (HF pages, JSONL, CSV, arXiv Atom), globs and
    folders, or the arXiv API (recent papers of a category, or papers by id)."""
    from paperrec.papers.ingest import ingest_named
    from paperrec.papers.sources import expand

    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}; available: {', '.join(FORMATS)}")
    live_api = sources == ["arxiv"] and not Path("arxiv").exists()
    if live_api and not category and not paper_id:
        raise InputError(
            "ingest arxiv needs at least one --category, for example --category cs.LG, "
            "or --id ARXIV_ID"
        )
    named = expand([] if live_api else sources, format)
    named.categories += category
    named.ids += paper_id
    rt = runtime()
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("ingesting", total=None)
        summary = ingest_named(
            rt.store.papers,
            named,
            strict=strict,
            days=days,
            max_results=max_results,
            batch_size=rt.settings.ingest_batch_size,
            on_batch=lambda n: bar.advance(task, n),
        )
    _report(summary, as_json)


@command("stats")
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    top: Annotated[int, typer.Option(help="rows per table")] = 15,
) -> None:
    """Counts of stored papers by source, category and date, and the encoder in use."""
    rt = runtime()
    data = {**rt.store.papers.stats(), "embedding": rt.embedder.describe()}
    if as_json:
        print_json(data)
        return
    out.print(f"[bold]{data['papers']}[/] papers")
    encoder = data["embedding"]
    out.print(
        f"encoder: {encoder['backend']} {encoder['precision']} ({encoder['chosen_by']}), "
        f"{encoder['model']}",
        highlight=False,
    )
    for key, title in (
        ("by_source", "source"),
        ("by_primary_category", "primary category"),
        ("by_month", "month"),
    ):
        table = new_table(title=f"papers by {title}", title_justify="left")
        table.add_column(title)
        table.add_column("papers", justify="right")
        rows = list(data[key].items())
        rows = rows[-top:] if key == "by_month" else rows[:top]
        for name, n in rows:
            table.add_row(str(name), str(n))
        out.print(table)


@command("embed")
def embed(
    limit: Annotated[int | None, typer.Option(help="embed at most this many papers")] = None,
    ray: RayOption = None,
) -> None:
    """Compute and cache embeddings for stored papers; a second run embeds nothing."""
    from paperrec.bulk.jobs import Runner, embed_stored

    rt = runtime()
    runner = Runner(rt, **ray_options(ray))
    runner.check()  # Ray and its address, before the store is read
    papers = rt.store.papers.iter_papers(limit=limit)
    with progress_bar() as bar:
        task = bar.add_task("embedding", total=len(papers))
        done = embed_stored(runner, papers, progress=lambda n: bar.advance(task, n))
    out.print(
        f"{len(papers)} papers: {done} embedded now, "
        f"{len(papers) - done} from cache ({rt.embedder.model_id})"
    )


@command("backfill")
def backfill(
    sources: Annotated[list[Path], typer.Argument(help="JSONL or Parquet files, in order")],
    output: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="folder for the shard files; the same folder resumes a run"
        ),
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"one of {', '.join(FORMATS)}")
    ] = "auto",
    shard_size: Annotated[int, typer.Option(help="papers per shard", min=1)] = 2000,
    ray: RayOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Ingest, embed and score a large source (an arXiv metadata dump, say) shard by shard:
    each shard is written to --out and loaded into the store. Run it again with the same
    arguments after a crash: finished shards are skipped, nothing is stored twice."""
    from paperrec import bundles
    from paperrec.bulk.backfill import backfill as run_backfill
    from paperrec.bulk.jobs import Runner
    from paperrec.errors import ModelNotTrainedError

    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}; available: {', '.join(FORMATS)}")
    rt = runtime()
    runner = Runner(rt, **ray_options(ray))
    runner.check()  # Ray and its address, before anything is read
    try:
        runner.topics_path, version = bundles.champion(rt.settings, "topics")
    except ModelNotTrainedError:
        version = None
        console.print("no topic model yet: papers are stored and embedded, not scored")
    with progress_bar() as bar:
        task = bar.add_task("backfilling", total=None)
        summary = run_backfill(
            runner, sources, output, fmt=format, shard_size=shard_size,
            topics_version=version, on_shard=lambda n: bar.advance(task, n),
        )  # fmt: skip
    print_problems(summary.problems)
    data = summary.as_dict()
    if as_json:
        print_json(data)
        return
    rate = data["papers_computed"] / summary.seconds if summary.seconds else 0.0
    out.print(
        f"{data['papers']} papers in {data['shards']} shards ({data['shards_already_done']} "
        f"done before): {data['papers_computed']} computed ({rate:.1f}/s), {data['added']} "
        f"added to the store, {data['updated']} updated, {data['unchanged']} unchanged, "
        f"{data['duplicates_skipped']} duplicate ids skipped, {data['problems']} problem(s) "
        f"-> {output}",
        highlight=False,
    )


store_app = subgroup("store", "Copy the store into another database (SQLite to PostgreSQL).")


@command("copy", group=store_app)
def store_copy(
    target: Annotated[
        str,
        typer.Argument(
            help="the database to copy into, e.g. postgresql+psycopg://USER@HOST/DB; it must "
            "hold no rows (paperrec creates the tables)"
        ),
    ],
) -> None:
    """Copy every row of this store (PAPERREC_DATABASE_URL; default the SQLite file in
    PAPERREC_HOME) into an empty database, then point PAPERREC_DATABASE_URL at it."""
    from sqlalchemy.engine import make_url

    from paperrec.config import Settings
    from paperrec.store.transfer import copy_store

    copied = copy_store(Settings().resolved_database_url, target)
    rows = ", ".join(f"{name} {n}" for name, n in copied.items() if n) or "no rows"
    shown = make_url(target).render_as_string(hide_password=True)
    out.print(f"copied {sum(copied.values())} rows ({rows}) to {shown}", highlight=False)
    out.print(f"to use it: export PAPERREC_DATABASE_URL='{shown}'", highlight=False)
