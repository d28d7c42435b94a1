"""``paperrec evaluate``: the champion topic classifier on gold papers (``--gold``), or a
ranker trained here on every protocol (``evaluate ranker``), each beside its baselines. The
evaluation tables are drawn here, for ``paperrec train`` too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paperrec.cli.app import (
    app,
    command,
    embed_with_bar,
    handles_errors,
    new_table,
    out,
    print_json,
    runtime,
    working,
)
from paperrec.errors import InputError

evaluate_app = typer.Typer(
    rich_markup_mode=None,
    help="Measure the topic classifier (--gold FILE) or the ranker (evaluate ranker).",
)
app.add_typer(evaluate_app, name="evaluate")


def papers_with_categories(path: Path):
    from paperrec.papers.ingest import check_readable
    from paperrec.papers.sources import read

    check_readable(Path(path))
    papers = [p for p in read(path).papers if p.categories]
    if not papers:
        raise InputError("no papers with arXiv categories to measure against", path=str(path))
    return papers


def page_files(pages: list[Path]) -> list[Path]:
    """--pages values as page files: a folder stands for the .txt pages in it, sorted."""
    from paperrec.papers.sources import expand

    return expand(pages, "hf-page", noun="page", local=True).pages


@evaluate_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    gold: Annotated[Path | None, typer.Option(help="JSONL with arXiv categories")] = None,
    ceiling: Annotated[
        bool, typer.Option(help="also train on the gold labels with 5-fold CV (slow)")
    ] = True,
    fine_gold: Annotated[
        Path | None,
        typer.Option(
            help="JSONL of {id, topics} judged fine topics for papers of --gold "
            "(shipped: src/paperrec/evaluate/gold/fine_topics.jsonl)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the full result as JSON")] = False,
) -> None:
    """Per-area precision/recall/F1 of the champion topic model and the rule baselines."""
    if ctx.invoked_subcommand is not None:
        return
    handles_errors(_evaluate_topics)(gold, ceiling, fine_gold, as_json)


def _evaluate_topics(gold: Path | None, ceiling: bool, fine_gold: Path | None, as_json: bool):
    from paperrec.evaluate.topics import evaluate_topics
    from paperrec.serving.predictor import Predictor

    if gold is None:
        raise InputError(
            "evaluate needs --gold FILE (JSONL with arXiv categories), or `evaluate ranker`"
        )
    rt = runtime()
    papers = papers_with_categories(gold)  # a bad file fails before the models load
    predictor = Predictor.load(rt, ranker=False)
    X = embed_with_bar(rt, papers, "embedding")
    result = evaluate_topics(predictor.topic_model, papers, X, ceiling=ceiling)
    if fine_gold is not None:
        result["fine"] = _evaluate_fine(predictor.topic_model, fine_gold, gold, papers, X)
    if as_json:
        print_json(result)
        return
    title = f"topics v{predictor.versions['topics']} on {gold}"
    _print_topic_table(f"{title} (F1 per area; recall in brackets)", "area", result["areas"])
    print_topic_macro(result)
    if fine_gold is not None:
        fine = result["fine"]
        _print_topic_table(
            f"{title}, fine topics judged in {fine_gold} (F1; recall in brackets)",
            "fine topic",
            fine["topics"],
        )
        out.print(
            f"fine-topic macro-F1 on {fine['n_papers']} judged papers ({fine['n_topics']} "
            "topics with gold papers): "
            + ", ".join(f"{m} {v:.3f}" for m, v in fine["macro_f1"].items())
        )


def _evaluate_fine(model, fine_gold: Path, gold: Path, papers, X) -> dict:
    from paperrec.evaluate.agreement import read_labels
    from paperrec.evaluate.fine_topics import evaluate_fine_topics, fine_gold_matrix, match_papers

    labels = read_labels(fine_gold)
    judged = match_papers(labels, papers, str(gold))
    index = {p.id: i for i, p in enumerate(papers)}
    rows = [index[p.id] for p in judged]
    return evaluate_fine_topics(model, judged, X[rows], fine_gold_matrix(model, labels, judged))


def _print_topic_table(title: str, label: str, rows: dict) -> None:
    methods = [m for m in next(iter(rows.values()), {}) if m != "support"]
    table = new_table(title=title, title_justify="left")
    table.add_column(label)
    table.add_column("support", justify="right")
    for m in methods:
        table.add_column(m, justify="right")
    for name, row in rows.items():
        table.add_row(
            name,
            str(row["support"]),
            *[f"{row[m]['f1']:.2f} ({row[m]['recall']:.2f})" for m in methods],
        )
    out.print(table)


@command("ranker", group=evaluate_app)
def evaluate_ranker(
    pages: Annotated[
        list[Path],
        typer.Option(
            "--pages", help="HF page file, or a folder of them: one user each; repeatable"
        ),
    ] = [],  # noqa: B006
    draws: Annotated[int, typer.Option(help="random profiles per seed page")] = 5,
    register: Annotated[
        bool,
        typer.Option(
            "--register", help="also register the ranker trained here (it is not promoted)"
        ),
    ] = False,
) -> None:
    """Train a ranker and print every protocol: ranker beside the baselines (logged to
    MLflow; registered only with --register, never promoted)."""
    from paperrec.train.ranker_run import train_ranker as run

    rt = runtime()
    with working("building pseudo-users, training, evaluating"):
        result = run(rt, pages=page_files(pages), draws=draws, register=register, promote=False)
    print_ranking(result.evaluation)
    print_scorer(result.model.scorer)
    if result.version is None:
        out.print(
            f"not registered (MLflow run {result.run_id}); add --register to keep it as a version",
            highlight=False,
        )
    else:
        out.print(
            f"registered paperrec-ranker version {result.version} (MLflow run {result.run_id}), "
            f"not promoted: paperrec models promote {result.version} --model ranker",
            highlight=False,
        )


def print_topic_macro(evaluation: dict) -> None:
    macro = evaluation["macro_f1"]
    out.print(
        f"area macro-F1 on {evaluation['n_papers']} papers ({evaluation['n_areas']} areas, without "
        f"{' and '.join(evaluation['excluded_from_macro'])}): "
        + ", ".join(f"{m} {v:.3f}" for m, v in macro.items())
    )


def print_scorer(scorer: str) -> None:
    if scorer == "learned":
        out.print("ships the learned ranker: it beats zotero-arxiv-daily on the author protocol")
    else:
        out.print(
            f"ships the {scorer} baseline: the learned ranker did not beat zotero-arxiv-daily "
            "on the author protocol (nDCG@10 and pairwise accuracy)"
        )


def _with_interval(value: dict) -> str:
    low, high = value["ci95"]
    return f"{value['mean']:.3f} [{low:.3f}, {high:.3f}]"


def print_ranking(evaluation: dict) -> None:
    metrics = (("ndcg@10", "nDCG@10"), ("pairwise", "pairwise"), ("recall@50", "recall@50"))
    for protocol, result in evaluation.items():
        table = new_table(
            title=f"{protocol}: {result['n_queries']} queries (mean [95 % interval])",
            title_justify="left",
        )
        table.add_column("method")
        for _, name in (*metrics, ("mrr", "MRR")):
            table.add_column(name, justify="right")
        for method, values in result["methods"].items():
            table.add_row(
                method,
                *[_with_interval(values[m]) for m, _ in metrics],
                f"{values['mrr']['mean']:.3f}",
            )
        out.print(table)
        for method, versus in result.get("vs_best_baseline", {}).items():
            out.print(
                f"{method} / best baseline: "
                + "; ".join(
                    f"{name} {versus[m]['ratio']:.3f}x [{versus[m]['ci95'][0]:.3f}, "
                    f"{versus[m]['ci95'][1]:.3f}] vs {versus[m]['best_baseline']}"
                    for m, name in metrics[:2]
                ),
                highlight=False,
            )
