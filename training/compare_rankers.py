"""Train ranker variants on the stored corpus and measure them on the author-continuation
protocol beside the plain baselines: the experiment behind docs/ranking.md.

    PAPERREC_HOME=... python training/compare_rankers.py authors content-only synthetic

Variants (RankerTrainingConfig settings; every one trained on the same training authors
and measured on the same held-out authors):
- ``authors``: the default (author continuation, graded, co-author features);
- ``content-only``: the same without author features (what a reader's candidates by
  strangers are ranked with);
- ``ungraded``: co-authors' papers count as plain negatives in training;
- ``easy``: 50 random background papers added to each training query beside the hard
  negatives;
- ``mixed``: half of the synthetic phrase pseudo-users added (with dislikes);
- ``mixed-easy``: both;
- ``synthetic``: synthetic pseudo-users only, as the ranker was trained before.
Protocols (``--protocols``): author continuation, its one-paper profiles, the seed pages
(no variant trains on a seed page here, so every page is held out) and the held-out
phrase pool users. The first variant is measured beside every baseline; the others
beside zotero-arxiv-daily and tfidf (the baselines' numbers do not depend on the
variant). Papers without a cached embedding are left out (run ``paperrec embed`` first
to use the whole store).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from paperrec.config import Settings
from paperrec.evaluate.ranking import (
    METHODS,
    author_queries,
    evaluate_queries,
    one_paper_queries,
    seed_page_queries,
)
from paperrec.papers.embed import EMBEDDING_DIM
from paperrec.recommend.features import FEATURE_NAMES
from paperrec.runtime import Runtime
from paperrec.train.ranker_fit import (
    RankerTrainingConfig,
    fit_featurizer,
    fit_lexical,
    fit_ranking_model,
)
from paperrec.train.ranker_run import (
    build_corpus,
    in_pages,
    page_users,
    pool_queries,
    split_corpus_authors,
    split_pool_users,
)

VARIANTS = {
    "authors": {},
    "content-only": {"use_authors": False},
    "ungraded": {"author_graded": False},
    "easy": {"author_easy_negatives": 50},
    "mixed": {"synthetic_share": 0.5},
    "mixed-easy": {"synthetic_share": 0.5, "author_easy_negatives": 50},
    "synthetic": {"synthetic_share": 1.0},
    "trees-100": {"ranker": {"n_estimators": 100, "learning_rate": 0.1}},
    "trees-60": {"ranker": {"n_estimators": 60, "learning_rate": 0.15}},
    "trees-40": {"ranker": {"n_estimators": 40, "learning_rate": 0.2}},
}
PROTOCOLS = ("authors", "one_paper", "seed_pages", "pool_users")
SHOWN = ("ndcg@10", "pairwise", "mrr")


def cached_corpus(runtime: Runtime, pages: list[Path]):
    """Stored papers that have an embedding, their vectors, and the corpus arrays."""
    papers = runtime.store.papers.iter_papers()
    embedder = runtime.embedder
    X, found = embedder.cache.lookup(
        embedder.model_id,
        [p.content_hash for p in papers],
        EMBEDDING_DIM,
    )
    keep = [i for i, ok in enumerate(found) if ok]
    papers, X = [papers[i] for i in keep], X[keep]
    page_list = page_users(papers, pages)
    on_page = in_pages(len(papers), page_list)
    config = RankerTrainingConfig()
    background = [p for p, paged in zip(papers, on_page, strict=True) if not paged]
    lexical = fit_lexical(background, config)
    return build_corpus(runtime, None, page_list, papers, X, lexical), page_list, lexical


def show(title: str, result: dict) -> None:
    print(f"\n{title}: {result['n_queries']} queries, mean [95 % interval]")
    for method, values in result["methods"].items():
        cells = "  ".join(
            f"{m} {values[m]['mean']:.3f} [{values[m]['ci95'][0]:.3f}, {values[m]['ci95'][1]:.3f}]"
            for m in SHOWN
        )
        print(f"  {method:20s} {cells}")
    for method, versus in result["vs_best_baseline"].items():
        print(
            f"  {method} / best baseline: "
            + "; ".join(
                f"{m} {versus[m]['ratio']:.3f}x [{versus[m]['ci95'][0]:.3f}, "
                f"{versus[m]['ci95'][1]:.3f}] vs {versus[m]['best_baseline']}"
                for m in SHOWN[:2]
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", default=["authors"], choices=list(VARIANTS))
    parser.add_argument("--pages", type=Path, default=Path("../shared/seeds"))
    parser.add_argument(
        "--protocols", default=",".join(PROTOCOLS), help="comma-separated: " + ", ".join(PROTOCOLS)
    )
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="measure the ranker alone (the baselines do not depend on the variant)",
    )
    args = parser.parse_args()
    runtime = Runtime(Settings())
    pages = sorted(args.pages.glob("*.txt")) if args.pages.is_dir() else []
    data, page_list, lexical = cached_corpus(runtime, pages)
    train_authors, test_authors = split_corpus_authors(data)
    queries = author_queries(data, test_authors)
    print(
        f"{len(data.papers)} papers, {len(train_authors)} training and {len(test_authors)} "
        f"held-out authors, {len(queries)} author-continuation queries"
    )
    protocols = [p for p in args.protocols.split(",") if p]
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown:
        parser.error(f"unknown protocol(s): {', '.join(unknown)}")
    train_users, test_users = split_pool_users(data, None)
    evaluated = {
        "authors": queries,
        "one_paper": one_paper_queries(queries),
        "seed_pages": seed_page_queries(data, page_list) if page_list else [],
        "pool_users": pool_queries(data, test_users),
    }
    for position, name in enumerate(args.variants):
        config = replace(RankerTrainingConfig(), **VARIANTS[name])
        started = time.perf_counter()
        model = fit_ranking_model(
            data,
            train_users,
            config,
            runtime.embedder.model_id,
            (),
            fit_featurizer(data, config),
            lexical,
            authors=() if name == "synthetic" else train_authors,
        )
        print(f"\n{name}: trained in {time.perf_counter() - started:.0f} s, {model.summary}")
        ranked = sorted(
            zip(FEATURE_NAMES, model.ranker.feature_importances_, strict=True), key=lambda x: -x[1]
        )
        print("  importance (splits): " + ", ".join(f"{f} {int(v)}" for f, v in ranked[:10]))
        methods = METHODS if position == 0 else ("ranker", "zotero-arxiv-daily", "tfidf")
        if args.no_baselines:
            methods = ("ranker",)
        for protocol in protocols:
            if not evaluated[protocol]:
                print(f"\n{name}, {protocol}: no queries (no pages or no users), skipped")
                continue
            show(
                f"{name}, {protocol}",
                evaluate_queries(evaluated[protocol], data, lambda q, m=model: m, methods=methods),
            )


if __name__ == "__main__":
    main()
