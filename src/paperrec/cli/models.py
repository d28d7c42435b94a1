"""Commands that train, measure and use the models: label, train, evaluate, score, rank,
recommend."""

from __future__ import annotations

import datetime as dt
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

train_app = subgroup(
    "train", "Train the topic classifier or the ranker (logged to MLflow, registered)."
)
evaluate_app = typer.Typer(
    rich_markup_mode=None,
    help="Measure the topic classifier (--gold FILE) or the ranker (evaluate ranker).",
)


def _papers_with_categories(path: Path):
    from paperrec.papers.ingest import check_readable
    from paperrec.papers.sources import read

    check_readable(Path(path))
    papers = [p for p in read(path).papers if p.categories]
    if not papers:
        raise InputError("no papers with arXiv categories to measure against", path=str(path))
    return papers


def _page_files(pages: list[Path]) -> list[Path]:
    """--pages values as page files: a folder stands for the .txt pages in it, sorted."""
    from paperrec.papers.sources import expand

    return expand(pages, "hf-page", noun="page").pages


def _embed_with_bar(rt, papers, label: str):
    with progress_bar() as bar:
        task = bar.add_task(label, total=len(papers))
        return rt.embedder.embed(papers, progress=lambda n: bar.advance(task, n))


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

        dev_papers = _papers_with_categories(dev)
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
) -> None:
    """Weak-label the store, train the topic classifier, evaluate, log and register it."""
    from paperrec.topics.labeling.functions import load_lf_module
    from paperrec.train.topics_run import train_topics as run

    extra = load_lf_module(lfs) if lfs else []
    rt = runtime()
    dev_papers = _papers_with_categories(dev) if dev else ()
    papers = rt.store.papers.iter_papers()
    _embed_with_bar(rt, papers, "embedding corpus")
    if dev_papers:
        _embed_with_bar(rt, dev_papers, "embedding dev")
    with console.status("labeling and training"):
        result = run(
            rt, taxonomy_path=taxonomy, dev_papers=dev_papers, extra_lfs=extra, promote=promote
        )
    out.print(
        f"paperrec-topics version {result.version} (run {result.run_id})"
        f"{' is the champion' if result.promoted else ''}"
    )
    out.print(
        f"labeling {result.summary['label_seconds']} s, "
        f"classifier fit {result.summary['fit_seconds']} s "
        f"on {result.summary['n_papers']} papers"
    )
    if result.evaluation:
        _print_topic_macro(result.evaluation)


def _print_topic_macro(evaluation: dict) -> None:
    macro = evaluation["macro_f1"]
    out.print(
        f"area macro-F1 on {evaluation['n_papers']} papers ({evaluation['n_areas']} areas, without "
        f"{' and '.join(evaluation['excluded_from_macro'])}): "
        + ", ".join(f"{m} {v:.3f}" for m, v in macro.items())
    )


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
    _embed_with_bar(rt, rt.store.papers.iter_papers(), "embedding corpus")
    with console.status("building pseudo-users, training, evaluating"):
        result = run(rt, pages=_page_files(pages), draws=draws, promote=promote)
    out.print(
        f"paperrec-ranker version {result.version} (run {result.run_id})"
        f"{' is the champion' if result.promoted else ''}"
    )
    _print_ranking(result.evaluation)
    _print_scorer(result.model.scorer)


def _print_scorer(scorer: str) -> None:
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


def _print_ranking(evaluation: dict) -> None:
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


@evaluate_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    gold: Annotated[Path | None, typer.Option(help="JSONL with arXiv categories")] = None,
    ceiling: Annotated[
        bool, typer.Option(help="also train on the gold labels with 5-fold CV (slow)")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the full result as JSON")] = False,
) -> None:
    """Per-area precision/recall/F1 of the champion topic model and the rule baselines."""
    if ctx.invoked_subcommand is not None:
        return
    from paperrec.cli.app import handles_errors

    handles_errors(_evaluate_topics)(gold, ceiling, as_json)


def _evaluate_topics(gold: Path | None, ceiling: bool, as_json: bool) -> None:
    from paperrec.evaluate.topics import evaluate_topics
    from paperrec.serving.predictor import Predictor

    if gold is None:
        raise InputError(
            "evaluate needs --gold FILE (JSONL with arXiv categories), or `evaluate ranker`"
        )
    rt = runtime()
    papers = _papers_with_categories(gold)  # a bad file fails before the models load
    predictor = Predictor.load(rt, ranker=False)
    X = _embed_with_bar(rt, papers, "embedding")
    result = evaluate_topics(predictor.topic_model, papers, X, ceiling=ceiling)
    if as_json:
        print_json(result)
        return
    methods = list(result["macro_f1"])
    table = new_table(
        title=f"topics v{predictor.versions['topics']} on {gold} (F1 per area)",
        title_justify="left",
    )
    table.add_column("area")
    table.add_column("support", justify="right")
    for m in methods:
        table.add_column(m, justify="right")
    for area, row in result["areas"].items():
        table.add_row(area, str(row["support"]), *[f"{row[m]['f1']:.2f}" for m in methods])
    out.print(table)
    _print_topic_macro(result)


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
        result = run(rt, pages=_page_files(pages), draws=draws, register=register, promote=False)
    _print_ranking(result.evaluation)
    _print_scorer(result.model.scorer)
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


from paperrec.cli.app import app  # noqa: E402

app.add_typer(evaluate_app, name="evaluate")


@command("score")
def score(
    input: Annotated[Path, typer.Argument(help="JSONL rows with id, title, abstract")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="JSONL to write ('-' for stdout)")
    ] = Path("-"),
) -> None:
    """Topic probabilities and labels for every paper of INPUT."""
    from paperrec.papers.rows import read_rows, write_rows
    from paperrec.serving.predictor import Predictor
    from paperrec.store.files import check_output

    check_output(output)
    papers = read_rows(input)
    with working("loading the topic model ..."):
        predictor = Predictor.load(runtime(), ranker=False)
    with working(f"scoring {len(papers)} papers ..."):
        rows = predictor.score(papers)
    write_rows(output, rows)
    if str(output) != "-":
        out.print(
            f"scored {len(papers)} papers with topics v{predictor.versions['topics']} -> {output}"
        )


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
