"""A home without a topics champion starts from the topic model shipped in the package.

`ensure_packaged_champion` registers the packaged model (`paperrec.topics.default`) in the
home's MLflow registry, tagged ``paperrec.origin: packaged default``, and makes it the
champion: on a fresh home, the first `paperrec retrain` (so `make demo`) and `paperrec
serve` do this. Once a home has a topics champion nothing is registered again, whatever
that champion is; a local retrain replaces it only through the promotion gate.

The model is refused, in one line, when the encoder of this home is not the one it was
trained with (another model, another dimension, or vectors of the topic descriptions that
differ), or when the retrain uses another taxonomy; the home then trains its topics
locally, as without it. ``PAPERREC_PACKAGED_TOPICS=false`` turns it off.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from paperrec import bundles
from paperrec.config import Settings
from paperrec.runtime import Runtime
from paperrec.topics.default import (
    DIRECTORY,
    ORIGIN,
    encoder_mismatch,
    load_packaged,
    packaged_meta,
)
from paperrec.topics.model import TopicModel
from paperrec.train import registry, tracking
from paperrec.train.topics_fit import embed_topics

ORIGIN_TAG = "paperrec.origin"
RUN_NAME = "packaged-default"


@dataclass(frozen=True)
class PackagedOutcome:
    """What `ensure_packaged_champion` did: ``registered`` it (as ``version``), found a
    champion ``present``, ``refused`` it (``message`` says why), or it is ``off``."""

    status: Literal["registered", "present", "refused", "off"]
    message: str
    version: str | None = None


def ensure_packaged_champion(
    runtime: Runtime, taxonomy_sha256: str | None = None, directory: Path = DIRECTORY
) -> PackagedOutcome:
    """Register and promote the packaged topic model when the home has no topics champion.

    ``taxonomy_sha256``: the taxonomy the caller trains with (a retrain's); the packaged
    model is refused when it was trained with another one. ``directory``: where the
    packaged model lies (the package's own by default).
    """
    settings = runtime.settings
    if not settings.packaged_topics:
        return PackagedOutcome("off", "the packaged topic model is turned off")
    exported = bundles.champion_versions(settings).get("topics")  # no MLflow import needed
    if exported is not None:
        return PackagedOutcome("present", f"topics champion v{exported}", exported)
    current = registry.alias_version(settings, registry.TOPICS_MODEL, registry.CHAMPION)
    if current is not None:
        return PackagedOutcome("present", f"topics champion v{current}", current)
    meta = packaged_meta(directory)
    model = load_packaged(directory)
    reason = None
    if taxonomy_sha256 is not None and taxonomy_sha256 != meta["taxonomy_sha256"]:
        reason = (
            f"it was trained with taxonomy {meta['taxonomy_sha256'][:12]}, this retrain uses "
            f"{taxonomy_sha256[:12]}"
        )
    else:
        name = settings.embedding_model
        same = name == meta["encoder"]["model"]
        vectors = embed_topics(model.taxonomy, runtime.embedder) if same else None
        reason = encoder_mismatch(model, meta, name, vectors)
    if reason is not None:
        return PackagedOutcome(
            "refused", f"packaged default topic model not used: {reason}; topics train locally"
        )
    version = register_packaged(settings, model, meta)
    return PackagedOutcome(
        "registered",
        f"packaged default topic model (trained on {meta['training_data']['papers']:,} arXiv "
        f"papers, paperrec {meta['paperrec_version']}) registered as topics champion "
        f"v{version}",
        version,
    )


def register_packaged(settings: Settings, model: TopicModel, meta: dict) -> str:
    """Register the packaged ``model`` (its ``meta``) in a run of its own, tag it with its
    origin and promote it, whatever the champion; returns its version."""
    with tracking.tracked_run(settings, "paperrec-topics", RUN_NAME):
        tracking.log_params(
            {
                "origin": ORIGIN,
                "encoder": meta["encoder"],
                "taxonomy_sha256": meta["taxonomy_sha256"],
                "paperrec_version": meta["paperrec_version"],
                "git_commit": meta["git_commit"],
                "training_data": {k: v for k, v in meta["training_data"].items() if k != "files"},
            }
        )
        tracking.log_metrics(_metrics(meta))
        tracking.log_json(meta, "packaged_default.json")
        with tempfile.TemporaryDirectory(dir=settings.ensure_home()) as tmp:
            bundle = model.save(Path(tmp) / "topic-model")
            version = registry.register_bundle(settings, bundle, registry.TOPICS_MODEL)
    tags = {
        ORIGIN_TAG: ORIGIN,
        "paperrec.git_commit": meta["git_commit"],
        "paperrec.packaged_version": meta["paperrec_version"],
        # rebase-proof: the sha256 of the code it was built with (`default_model.training_code`)
        "paperrec.training_code_sha256": meta.get("training_code", {}).get("sha256", "?"),
    }
    registry.tag_version(settings, registry.TOPICS_MODEL, version, tags)
    registry.promote(settings, registry.TOPICS_MODEL, version)
    return version


def _metrics(meta: dict) -> dict[str, float]:
    """The metrics recorded when the model was built: ``dev_macro_f1_<method>`` for
    arxiv_dev.jsonl (what `paperrec models list` and the model card show for a topic model),
    ``<file stem>.macro_f1_<method>`` for every measured file, and the training counts."""
    found = {}
    for name, measured in meta["metrics"].items():
        stem = Path(name).stem
        for method, value in measured["area_macro_f1"].items():
            found[f"{stem}.macro_f1_{method}"] = value
            if stem == "arxiv_dev":
                found[f"dev_macro_f1_{method}"] = value
    data = meta["training_data"]
    found |= {"n_train_papers": data["papers"], "n_with_categories": data["with_categories"]}
    return found
