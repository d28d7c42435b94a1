"""Rebuild the topic model shipped inside the package (`paperrec.topics.default`).

    python -m paperrec.train.default_model --home DIR [--pool FILE ...] [--gold FILE ...]

Reads the pools (default: ``arxiv_pool.jsonl`` and ``arxiv_pool_noncs.jsonl`` of
PAPERREC_SHARED_DIR's ``data/``), embeds them through DIR's embedding cache (only what is
missing is encoded), trains with the product's own code and default configuration
(`paperrec.train.topics_fit.train_topic_model`, ``TopicTrainingConfig()``), measures the
model on each ``--gold`` file (measured, never trained on) and writes it in the portable
format (`paperrec.topics.portable`) to ``src/paperrec/topics/default`` with what it needs
and what it is: the encoder, the taxonomy's sha256, the paperrec version and commit, the
training data (file names, counts, date range), the training config and the metrics.
It holds no paper text: trees, calibration numbers and the embedded topic descriptions.

Which code built it: ``git_commit`` is the commit checked out at the time (it changes
when that commit is rebased), ``training_code`` the sha256 of the training code's files
(`training_code`), which stays true after a rebase: ``--code-hash`` prints the hash of the
code checked out beside the recorded one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import paperrec
from paperrec import offline
from paperrec.config import Settings
from paperrec.errors import PaperrecError
from paperrec.evaluate.topics import evaluate_topics
from paperrec.papers.embed import Embedder
from paperrec.papers.sources import read
from paperrec.schema import Paper
from paperrec.store.cache import EmbeddingCache
from paperrec.topics.default import DIRECTORY
from paperrec.topics.model import TopicModel
from paperrec.topics.portable import read_meta, write_portable
from paperrec.topics.taxonomy import load_taxonomy
from paperrec.train.cards import default_config
from paperrec.train.snapshot import provenance
from paperrec.train.topics_fit import TopicTrainingConfig, train_topic_model

POOLS = ("arxiv_pool.jsonl", "arxiv_pool_noncs.jsonl")
RECALL_FLOOR, MIN_SUPPORT = 0.4, 20  # issue 15: no area under 0.4 recall with 20+ papers
# The code a rebuild runs (package-relative; a directory means its .py files): labeling,
# the classifier, the training configuration, the LightGBM parameters and this builder.
TRAINING_CODE = ("topics", "train/topics_fit.py", "train/default_model.py", "boosting.py")


def training_code(root: Path = Path(paperrec.__file__).parent) -> dict:
    """sha256 over the relative path and bytes of each file of TRAINING_CODE under ``root``
    (the package directory), sorted by path; and how many files it covers."""
    files = []
    for entry in TRAINING_CODE:
        path = root / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return {"sha256": digest.hexdigest(), "files": len(files), "covers": list(TRAINING_CODE)}


def read_papers(paths: Sequence[Path]) -> tuple[list[Paper], dict]:
    """The papers of ``paths`` (the first of each id kept) and, per file, how many were
    kept and their date range."""
    papers, seen, described = [], set(), {}
    for path in paths:
        found = [p for p in read(path, noun="pool").papers if p.id not in seen]
        seen.update(p.id for p in found)
        papers += found
        described[Path(path).name] = describe(found)
    return papers, described


def describe(papers: Sequence[Paper]) -> dict:
    dates = sorted(p.date.isoformat() for p in papers if p.date)
    return {
        "papers": len(papers),
        "with_categories": sum(bool(p.categories) for p in papers),
        "first_date": dates[0] if dates else None,
        "last_date": dates[-1] if dates else None,
    }


def measure(model: TopicModel, embedder: Embedder, path: Path, ceiling: bool) -> dict:
    """Area macro-F1 of the model beside the baselines (and the supervised ceiling) on the
    papers with arXiv categories of ``path``, with the weak areas' recall."""
    papers = [p for p in read(path, noun="gold").papers if p.categories]
    result = evaluate_topics(model, papers, embedder.embed(papers), ceiling=ceiling)
    weak = {
        area: round(row["classifier"]["recall"], 3)
        for area, row in result["areas"].items()
        if row["support"] >= MIN_SUPPORT and row["classifier"]["recall"] < RECALL_FLOOR
    }
    return {
        "papers": result["n_papers"],
        "areas": result["n_areas"],
        "area_macro_f1": {k: round(v, 4) for k, v in result["macro_f1"].items()},
        f"areas_with_{MIN_SUPPORT}_papers_and_recall_under_{RECALL_FLOOR}": weak,
    }


def build(
    home: Path, pools: Sequence[Path], gold: Sequence[Path], out: Path, ceiling: bool = True
) -> dict:
    """Train on ``pools`` with ``home``'s embedding cache, measure on ``gold``, write to
    ``out``; returns the metadata written."""
    code = provenance()  # the commit of the code that runs, before anything can change it
    code_hash = training_code()
    settings = Settings(home=home)
    embedder = Embedder.from_settings(settings, EmbeddingCache(settings.embedding_cache_path))
    papers, per_file = read_papers(pools)
    started = time.perf_counter()
    X = embedder.embed(papers)
    embedded = time.perf_counter() - started
    taxonomy = load_taxonomy()
    config = TopicTrainingConfig()
    model, _ = train_topic_model(papers, X, taxonomy, embedder, config)
    norms = np.linalg.norm(X, axis=1)
    meta = {
        "encoder": {
            "model": embedder.model_name,
            "dimension": int(X.shape[1]),
            "normalisation": "L2 (unit-length vectors)",
            "max_seq_length": settings.max_seq_length or "the model's own",
            "trained_on": embedder.model_id,
            "vector_norms": [round(float(norms.min()), 4), round(float(norms.max()), 4)],
        },
        "taxonomy_sha256": taxonomy.sha256,
        "paperrec_version": code["package_version"],
        "git_commit": code["git_commit"],
        "training_code": code_hash,
        "training_data": {"files": per_file, **describe(papers)},
        "training_config": {**default_config("topics"), "random_state": config.random_state},
        "metrics": {Path(g).name: measure(model, embedder, Path(g), ceiling) for g in gold},
        "built": {
            "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python -m paperrec.train.default_model --home DIR",
            "embed_seconds": round(embedded, 1),
            "label_seconds": model.summary["label_seconds"],
            "fit_seconds": model.summary["fit_seconds"],
        },
    }
    write_portable(model, out, meta)
    return meta


def print_code_hash(out: Path) -> int:
    """Print the checked-out training code's sha256 and the one ``out`` was built from;
    0 when they agree, 1 when not."""
    now = training_code()["sha256"]
    try:
        recorded = read_meta(out).get("training_code", {}).get("sha256", "not recorded")
    except PaperrecError as exc:
        recorded = str(exc)
    print(f"training code now:       {now}\nrecorded in {out.name}/meta.json: {recorded}")
    return 0 if now == recorded else 1


def main(argv: Sequence[str] | None = None) -> int:
    offline.set_defaults()
    shared = Path(os.environ.get("PAPERREC_SHARED_DIR", "../shared")) / "data"
    parser = argparse.ArgumentParser(prog="python -m paperrec.train.default_model")
    parser.add_argument("--home", type=Path, help="home whose embedding cache to use (required)")
    parser.add_argument(
        "--pool", type=Path, action="append", help=f"training papers (default: {', '.join(POOLS)})"
    )
    parser.add_argument(
        "--gold",
        type=Path,
        action="append",
        help="papers with arXiv categories to measure on (default: arxiv_dev.jsonl and "
        "arxiv_ood_dev.jsonl beside the pools, when present); never trained on",
    )
    parser.add_argument("--out", type=Path, default=DIRECTORY, help="where to write the model")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the supervised ceiling")
    parser.add_argument(
        "--code-hash",
        action="store_true",
        help="print the training code's sha256 beside the one --out's meta.json records",
    )
    args = parser.parse_args(argv)
    if args.code_hash:
        return print_code_hash(args.out)
    if args.home is None:
        parser.error("the following arguments are required: --home")
    pools = args.pool or [shared / name for name in POOLS]
    gold = args.gold
    if gold is None:
        gold = [
            p for p in (shared / "arxiv_dev.jsonl", shared / "arxiv_ood_dev.jsonl") if p.is_file()
        ]
    missing = [str(p) for p in [*pools, *gold] if not p.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        meta = build(args.home, pools, gold, args.out, ceiling=not args.no_ceiling)
    except PaperrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    data = meta["training_data"]
    print(
        f"wrote {args.out}: {data['papers']} papers ({data['first_date']} to "
        f"{data['last_date']}), fit {meta['built']['fit_seconds']} s"
    )
    for name, found in meta["metrics"].items():
        print(f"  {name}: area macro-F1 {found['area_macro_f1']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
