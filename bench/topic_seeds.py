"""The topic model's area macro-F1 over several seeds, beside majority vote.

One fit says little about a setting: on arxiv_ood_dev (26 areas, 13 of them with fewer
than 5 papers) two seeds of the same training differ by up to 0.04 area macro-F1. This
labels the two pools once (embeddings from the home's cache), then fits the classifier
once per seed with the product's own code (`paperrec.train.topics_fit.training_labels`,
`TopicClassifier`) and scores each gold file as ``paperrec evaluate`` does (the same
scorer; the dev files are measured, never trained on). Prints one row per seed (with the
recall of ``--areas`` on arxiv_dev and the areas of 20+ papers under 0.4 recall) and the
mean and spread of each file.

    PAPERREC_EMBEDDING_BACKEND=torch python bench/topic_seeds.py --home DIR [--seeds 0,1,2]
        [--no-anchor-positives] [--set min_recall=0.5 ...] [--areas a,b,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from paperrec import offline  # first: the flags are set before any model library loads

offline.set_defaults()

from paperrec.config import Settings  # noqa: E402
from paperrec.evaluate.topics import evaluate_topics  # noqa: E402
from paperrec.papers.embed import Embedder  # noqa: E402
from paperrec.papers.sources import read  # noqa: E402
from paperrec.store.cache import EmbeddingCache  # noqa: E402
from paperrec.topics.classify import TopicClassifier  # noqa: E402
from paperrec.topics.model import TopicModel  # noqa: E402
from paperrec.topics.taxonomy import load_taxonomy  # noqa: E402
from paperrec.train.default_model import (  # noqa: E402
    MIN_SUPPORT,
    POOLS,
    RECALL_FLOOR,
    read_papers,
)
from paperrec.train.topics_fit import (  # noqa: E402
    TopicTrainingConfig,
    embed_topics,
    training_labels,
    weak_label,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared")) / "data"
GOLD = ("arxiv_dev.jsonl", "arxiv_ood_dev.jsonl")
WEAK = "programming-languages,computational-engineering,mathematics"


def weak_areas(result: dict) -> list[str]:
    """Areas with MIN_SUPPORT+ papers whose recall is under RECALL_FLOOR, as 'area 0.28'."""
    return [
        f"{area} {row['classifier']['recall']:.2f}"
        for area, row in result["areas"].items()
        if row["support"] >= MIN_SUPPORT and row["classifier"]["recall"] < RECALL_FLOOR
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="home whose embedding cache")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated random_state values")
    parser.add_argument("--no-anchor-positives", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="classifier NAME=VALUE")
    parser.add_argument("--areas", default=WEAK, help="areas whose arxiv_dev recall to print")
    args = parser.parse_args()
    settings = Settings(home=args.home)
    embedder = Embedder.from_settings(settings, EmbeddingCache(settings.embedding_cache_path))
    papers, _ = read_papers([SHARED / name for name in POOLS])
    X = embedder.embed(papers)
    taxonomy = load_taxonomy()
    config = TopicTrainingConfig(anchor_positives=not args.no_anchor_positives)
    topic_vectors = embed_topics(taxonomy, embedder)
    labeling = weak_label(papers, X, taxonomy, topic_vectors, config)
    Y = training_labels(labeling, taxonomy, config)
    params = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    gold = {}
    for name in GOLD:
        found = [p for p in read(SHARED / name, noun="gold").papers if p.categories]
        gold[name] = (found, embedder.embed(found))
    print(f"{len(papers):,} papers; anchor_positives={config.anchor_positives}; {params or ''}")
    scores: dict[str, list[float]] = {name: [] for name in GOLD}
    areas = args.areas.split(",")
    for seed in (int(s) for s in args.seeds.split(",")):
        started = time.perf_counter()
        classifier = TopicClassifier(**{**params, "random_state": seed}).fit(X, Y)
        seconds = time.perf_counter() - started
        model = TopicModel(
            taxonomy, classifier, embedder.model_id, topic_vectors,
            labeling.views.mean_, labeling.views.scale_,
        )  # fmt: skip
        cells, under = [], {}
        for name, (found, found_X) in gold.items():
            result = evaluate_topics(model, found, found_X)
            macro = result["macro_f1"]
            scores[name].append(macro["classifier"])
            under[name] = weak_areas(result)
            cells.append(
                f"{name} {macro['classifier']:.3f} (majority vote {macro['majority_vote']:.3f})"
            )
            if name == GOLD[0]:
                recall = {a: result["areas"][a]["classifier"]["recall"] for a in areas}
        print(f"seed {seed}: " + "; ".join(cells) + f"; fit {seconds:.0f} s")
        print("  arxiv_dev recall: " + ", ".join(f"{a} {r:.2f}" for a, r in recall.items()))
        for name, found in under.items():
            print(f"  {name}, {MIN_SUPPORT}+ papers under {RECALL_FLOOR} recall: {found or 'none'}")
    for name, values in scores.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(
            f"{name}: mean {statistics.mean(values):.3f}, sd {spread:.3f}, "
            f"min {min(values):.3f}, max {max(values):.3f}"
        )


if __name__ == "__main__":
    main()
