"""``paperrec score``, ``rank`` and ``recommend``: the champion models put to use. ``rank``
and ``recommend`` go through `paperrec.serving.predictor.Predictor` as the service and the
digest do; ``score`` through the bulk batch function (`paperrec.bulk`), here or on Ray."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from paperrec.cli.app import (
    RayOption,
    command,
    out,
    print_json,
    ray_options,
    runtime,
    working,
)
from paperrec.errors import InputError


@command("score")
def score(
    input: Annotated[Path, typer.Argument(help="JSONL rows with id, title, abstract")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="JSONL to write ('-' for stdout)")
    ] = Path("-"),
    ray: RayOption = None,
) -> None:
    """Topic probabilities and labels for every paper of INPUT."""
    from paperrec import bundles
    from paperrec.bulk.jobs import Runner, score_papers
    from paperrec.papers.rows import read_rows, write_rows
    from paperrec.store.files import check_output

    check_output(output)
    papers = read_rows(input)
    rt = runtime()
    runner = Runner(rt, **ray_options(ray))
    runner.check()  # Ray and its address, before any model loads
    runner.topics_path, version = bundles.champion(rt.settings, "topics")
    with working("loading the topic model ..."):
        runner.topic_model  # noqa: B018  (a broken bundle fails before any work)
    with working(f"scoring {len(papers)} papers ..."):
        rows = score_papers(runner, papers)
    write_rows(output, rows)
    if str(output) != "-":
        out.print(f"scored {len(papers)} papers with topics v{version} -> {output}")


@command("rank")
def rank(
    profile: Annotated[Path, typer.Option(help="JSONL of liked papers")],
    candidates: Annotated[Path, typer.Option(help="JSONL of papers to rank")],
    disliked: Annotated[Path | None, typer.Option(help="JSONL of disliked papers")] = None,
    k: Annotated[int, typer.Option("-k", help="how many to return")] = 10,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="JSONL to write ('-' for stdout)")
    ] = Path("-"),
) -> None:
    """Rank CANDIDATES for the profile: best first, with reasons."""
    from paperrec.papers.rows import read_rows, write_rows
    from paperrec.serving.predictor import Predictor
    from paperrec.store.files import check_output

    check_output(output)
    liked_rows, candidate_rows = read_rows(profile), read_rows(candidates)
    disliked_rows = read_rows(disliked) if disliked else []
    with working("loading the models ..."):
        predictor = Predictor.load(runtime())
    with working(f"ranking {len(candidate_rows)} candidates ..."):
        ranked = predictor.rank(liked_rows, candidate_rows, disliked=disliked_rows, k=k)
    write_rows(output, ranked)


@command("recommend")
def recommend(
    name: Annotated[str, typer.Argument(help="stored user")],
    date: Annotated[
        str | None,
        typer.Option(help="last day of the window, YYYY-MM-DD (default: newest in store)"),
    ] = None,
    days: Annotated[int, typer.Option(help="window length in days")] = 7,
    k: Annotated[int, typer.Option("-k", help="how many to return")] = 10,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="do not mark the papers as shown")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON rows")] = False,
) -> None:
    """Papers NAME has not seen yet, best first, with reasons."""
    from paperrec.serving.predictor import Predictor

    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise InputError(f"--date {date!r} is not YYYY-MM-DD") from None
    rt = runtime()
    rt.store.users.get(name)  # an unknown user or a broken store fails before the models load
    with working("loading the models ..."):
        predictor = Predictor.load(rt)
    with working(f"ranking new papers for {name} ..."):
        ranked = predictor.recommend(name, k=k, date=day, days=days, mark_shown=not dry_run)
    if as_json:
        print_json([{**r.as_dict(), "title": r.title} for r in ranked])
        return
    for r in ranked:
        out.print(f"[bold]{r.rank:>2}. {r.title}[/] [dim]({r.id}, score {r.score:.3f})[/]")
        for reason in r.reasons:
            out.print(f"      {reason['text']}", highlight=False)
