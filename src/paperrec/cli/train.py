"""``paperrec label`` and ``paperrec train topics|ranker``: the labeling-function report,
and training a model (logged to MLflow, registered, by default promoted)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paperrec.cli.app import (
    command,
    console,
    embed_with_bar,
    new_table,
    out,
    print_json,
    runtime,
    subgroup,
)
from paperrec.cli.evaluate import (
    page_files,
    papers_with_categories,
    print_ranking,
    print_scorer,
    print_topic_macro,
)

train_app = subgroup(
    "train", "Train the topic classifier or the ranker (logged to MLflow, registered)."
)


@command("label")
def label(
    taxonomy: Annotated[
        Path | None, typer.Option(help="taxonomy YAML (default: the shipped one)")
    ] = None,
    dev: Annotated[
        Path | None, typer.Option(help="JSONL with arXiv categories: adds empirical accuracy")
    ] = None,
    lfs: Annotated[
        Path | None, typer.Option(help="Python file with extra @labeling_function votes")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    top: Annotated[int, typer.Option(help="rows to show, lowest learned accuracy first")] = 40,
) -> None:
    """Apply the labeling functions to the store and print the LF report."""
    from paperrec.topics.labeling import ViewBuilder, apply_lfs, generate_lfs, lf_report
    from paperrec.topics.labeling.functions import load_lf_module
    from paperrec.topics.taxonomy import load_taxonomy
    from paperrec.train.stored import corpus
    from paperrec.train.topics_fit import TopicTrainingConfig, embed_topics, weak_label

    rt = runtime()
    tax = load_taxonomy(taxonomy)
    papers, X = corpus(rt)
    vectors = embed_topics(tax, rt.embedder)
    extra = load_lf_module(lfs) if lfs else []
    result = weak_label(papers, X, tax, vectors, TopicTrainingConfig(), extra)
    report = result.report
    if dev is not None:
        from paperrec.evaluate.topics import gold_matrix
        from paperrec.topics.model import TopicModel

        dev_papers = papers_with_categories(dev)
        dev_X = rt.embedder.embed(dev_papers)
        gold = gold_matrix(
            TopicModel(tax, None, "", vectors, result.views.mean_, result.views.scale_), dev_papers
        )
        views = ViewBuilder.from_stats(tax, vectors, result.views.mean_, result.views.scale_)
        all_lfs = generate_lfs(tax) + extra
        L = apply_lfs(all_lfs, views.build(dev_papers, dev_X, use_categories=False))
        has_arxiv = {t.id for t in tax.topics if t.arxiv}
        gold[
            :, [i for i, t in enumerate(tax.ids) if t not in has_arxiv]
        ] = -1  # no gold for fine topics
        dev_report = {r["lf"]: r for r in lf_report(L, all_lfs, tax.ids, gold=gold)}
        for row in report:
            row["dev_accuracy"] = dev_report[row["lf"]].get("empirical_accuracy")
    if as_json:
        print_json(report)
        return
    # On a narrow terminal (or a pipe: 80 columns) the LF names must stay whole, or the
    # report says nothing: a light box, short numeric headers, and names that wrap.
    table = new_table(
        title=f"labeling functions ({len(report)}) on {len(papers)} papers",
        title_justify="left",
        simple=True,
    )
    columns = ["lf", "coverage", "overlap", "conflict", "learned_accuracy"] + (
        ["dev_accuracy"] if dev else []
    )
    headers = {"learned_accuracy": "learned acc", "dev_accuracy": "dev acc"}
    for name in columns:
        if name == "lf":
            table.add_column(name, overflow="fold", ratio=1)
        else:
            table.add_column(headers.get(name, name), justify="right", no_wrap=True)
    rows = sorted(report, key=lambda r: r.get("learned_accuracy") or 0)[:top]
    for row in rows:
        table.add_row(
            *[row["lf"]] + [("" if row.get(c) is None else f"{row[c]:.3f}") for c in columns[1:]]
        )
    out.print(table)
    out.print(
        f"majority vote vs label model: positive rate {result.majority.mean():.3f} "
        f"vs {result.probabilities.mean():.3f}"
    )


@command("topics", group=train_app)
def train_topics(
    taxonomy: Annotated[
        Path | None, typer.Option(help="taxonomy YAML (default: the shipped one)")
    ] = None,
    dev: Annotated[
        Path | None,
        typer.Option(help="JSONL with arXiv categories to evaluate on (never trained on)"),
    ] = None,
    lfs: Annotated[
        Path | None, typer.Option(help="Python file with extra @labeling_function votes")
    ] = None,
    promote: Annotated[bool, typer.Option(help="make the new version the champion")] = True,
    gate: Annotated[
        bool,
        typer.Option(
            help="promote over an existing topics champion only if it is no worse on --dev "
            "(the gate of paperrec retrain); --no-gate promotes it regardless"
        ),
    ] = True,
) -> None:
    """Weak-label the store, train the topic classifier, evaluate, log and register it;
    promote it when there is no topics champion yet or it passes the gate."""
    from paperrec.topics.labeling.functions import load_lf_module
    from paperrec.train.topics_run import train_topics as run

    extra = load_lf_module(lfs) if lfs else []
    rt = runtime()
    dev_papers = papers_with_categories(dev) if dev else ()
    papers = rt.store.papers.iter_papers()
    embed_with_bar(rt, papers, "embedding corpus")
    if dev_papers:
        embed_with_bar(rt, dev_papers, "embedding dev")
    with console.status("labeling and training"):
        result = run(
            rt,
            taxonomy_path=taxonomy,
            dev_papers=dev_papers,
            extra_lfs=extra,
            promote=promote,
            gated=gate,
        )
    out.print(
        f"paperrec-topics version {result.version} (run {result.run_id})"
        f"{' is the champion' if result.promoted else ''}"
    )
    if result.gate is not None:
        from paperrec.cli.lifecycle import print_gate

        print_gate(result.gate)
    else:
        out.print(result.decision, highlight=False)
    out.print(
        f"labeling {result.summary['label_seconds']} s, "
        f"classifier fit {result.summary['fit_seconds']} s "
        f"on {result.summary['n_papers']} papers"
    )
    if result.evaluation:
        print_topic_macro(result.evaluation)


@command("ranker", group=train_app)
def train_ranker(
    pages: Annotated[
        list[Path],
        typer.Option(
            "--pages",
            help="HF page file, or a folder of them: one user each (train + evaluate); repeatable",
        ),
    ] = [],  # noqa: B006
    draws: Annotated[int, typer.Option(help="random profiles per seed page in the evaluation")] = 5,
    promote: Annotated[bool, typer.Option(help="make the new version the champion")] = True,
) -> None:
    """Train the LambdaRank ranker on pseudo-users, evaluate against baselines, register it."""
    from paperrec.train.ranker_run import train_ranker as run

    rt = runtime()
    embed_with_bar(rt, rt.store.papers.iter_papers(), "embedding corpus")
    with console.status("building pseudo-users, training, evaluating"):
        result = run(rt, pages=page_files(pages), draws=draws, promote=promote)
    out.print(
        f"paperrec-ranker version {result.version} (run {result.run_id})"
        f"{' is the champion' if result.promoted else ''}"
    )
    print_ranking(result.evaluation)
    print_scorer(result.model.scorer)
