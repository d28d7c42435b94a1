"""The GPU row of docs/scaling.md: a published GPU figure turned into abstracts per second.

There is no GPU here, so nothing in this script runs on one. sentence-transformers
documents all-MiniLM-L6-v2 at 14,200 sentences/s on a V100 GPU (SBERT_URL, the model
table's "Speed" column: "Encoding speed (sentences / sec) on a V100 GPU"). paperrec
encodes title + abstract, cut at 256 word pieces, which costs more than a sentence. This
bench measures how much more on this CPU, side by side in one run: the same encoder
(torch float32, this process) on the first ``--n`` pool titles alone (sentence-length
texts) and on their title + abstract texts, alternating in rounds so load hits both alike.
The ratio of the two rates turns the published sentence rate into an ESTIMATED abstract
rate on a V100, and that into the time of a full arXiv backfill on N GPUs. It assumes the
published sentences are about as long as titles, and that a GPU slows down with text
length as a CPU does (a GPU fills better on long texts, so the estimate leans low).

    python bench/gpu_estimate.py [--n 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from paperrec.papers.embed import Embedder  # noqa: E402
from paperrec.papers.encoders import load_tokenizer, resolve_model_path  # noqa: E402
from paperrec.papers.sources import read_path  # noqa: E402
from paperrec.schema import Paper  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERREC_SHARED_DIR", REPO.parent / "shared"))
SBERT_URL = "https://www.sbert.net/docs/sentence_transformer/pretrained_models.html"
V100_SENTENCES_PER_S = 14_200  # all-MiniLM-L6-v2, SBERT_URL
ARXIV = 2_600_000  # abstracts in a full backfill (issue 17)


def pool_papers(n: int) -> list[Paper]:
    papers = []
    for record in read_path(SHARED / "data" / "arxiv_pool.jsonl"):
        if isinstance(record, Paper):
            papers.append(record)
            if len(papers) == n:
                break
    return papers


def rate(embedder: Embedder, texts: list[str]) -> float:
    """Texts per second of one encode of ``texts`` (wall clock)."""
    start = time.perf_counter()
    embedder.encode_texts(texts)
    return len(texts) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not (SHARED / "data" / "arxiv_pool.jsonl").is_file():
        print(f"no shared pool at {SHARED} (set PAPERREC_SHARED_DIR)", file=sys.stderr)
        return 2
    papers = pool_papers(args.n)
    titles, texts = [p.title for p in papers], [p.text for p in papers]
    embedder = Embedder(backend="torch", precision="float32")
    tokenizer = load_tokenizer(resolve_model_path(embedder.model_name), embedder.sequence_length)
    pieces = {
        name: sum(len(e.ids) for e in tokenizer.encode_batch(group)) / len(group)
        for name, group in (("titles", titles), ("abstracts", texts))
    }
    embedder.encode_texts(texts[:64])  # warm-up: model load, first allocations
    rates: dict[str, list[float]] = {"titles": [], "abstracts": []}
    for _ in range(args.rounds):
        rates["titles"].append(rate(embedder, titles))
        rates["abstracts"].append(rate(embedder, texts))
    best = {name: max(values) for name, values in rates.items()}
    ratio = best["titles"] / best["abstracts"]
    gpu = V100_SENTENCES_PER_S / ratio
    print(f"{len(papers)} pool papers, torch float32 on {os.cpu_count()} cores, "
          f"best of {args.rounds} rounds")  # fmt: skip
    print("\n| texts | word pieces (mean, cut at 256) | texts/s here |")
    print("|---|---|---|")
    for name in ("titles", "abstracts"):
        print(f"| {name} | {pieces[name]:.0f} | {best[name]:.1f} |")
    print(f"\ntitles / abstracts = {ratio:.1f}x: an abstract costs {ratio:.1f} titles here")
    print(
        f"ESTIMATE, not measured: {V100_SENTENCES_PER_S:,} sentences/s on a V100 "
        f"({SBERT_URL}) / {ratio:.1f} = ~{gpu:,.0f} abstracts/s per V100"
    )
    for gpus in (1, 4, 8):
        minutes = ARXIV / (gpu * gpus) / 60
        print(f"  full arXiv ({ARXIV:,} abstracts), encoder only, {gpus} V100: ~{minutes:.0f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
