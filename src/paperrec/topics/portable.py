"""A TopicModel as plain files: LightGBM model text and numeric arrays, nothing pickled.

This is how the topic model shipped inside the package (`paperrec.topics.default`) is
stored. A pickled bundle (`TopicModel.save`) of the two-pool model is about 21 MB; here:

- ``boosters.txt.xz``: each trainable topic's booster as LightGBM model text
  (``Booster.model_to_string``), keeping what prediction reads (the tree structure,
  split thresholds and leaf values) and leaving out what only training statistics and
  feature contributions use (split gains, leaf and node weights and counts, feature
  importances, the parameter echo); predictions are bit-identical, xz-compressed;
- ``arrays.npz``: Platt calibration, thresholds, which topics have a booster, base rates,
  the embedded topic descriptions and the labeling view's statistics;
- ``taxonomy.yaml``: the taxonomy the model was trained with;
- ``meta.json``: the classifier's hyperparameters, topic ids, embedding model id, the
  training summary and whatever provenance the writer adds.
"""

from __future__ import annotations

import json
import lzma
import shutil
import tempfile
from pathlib import Path

import lightgbm as lgb
import numpy as np

from paperrec.bundles import replace_dir
from paperrec.errors import PaperrecError
from paperrec.topics.classify import TopicClassifier
from paperrec.topics.model import TopicModel
from paperrec.topics.taxonomy import parse_taxonomy

FORMAT = "paperrec-topics-portable"
FORMAT_VERSION = 1
BOOSTERS, ARRAYS, TAXONOMY, META = "boosters.txt.xz", "arrays.npz", "taxonomy.yaml", "meta.json"
END = "end of trees\n"  # LightGBM's own end-of-trees line closes each booster's text
# Tree lines that prediction never reads (LightGBM fills them in when they are absent);
# tree_sizes would be wrong once lines are dropped, and LightGBM parses without it.
_UNUSED = (
    "split_gain=",
    "leaf_weight=",
    "leaf_count=",
    "internal_value=",
    "internal_weight=",
    "internal_count=",
    "tree_sizes=",
)
_CLASSIFIER_ARRAYS = (
    "trainable_",
    "base_rate_",
    "calibration_coef_",
    "calibration_intercept_",
    "thresholds_",
)


def booster_text(booster: lgb.Booster) -> str:
    """``booster``'s model text with only what prediction reads, ending in END."""
    trees = booster.model_to_string().partition("\n" + END)[0]
    lines = [line for line in trees.split("\n") if not line.startswith(_UNUSED)]
    return "\n".join(lines) + "\n" + END


def write_portable(model: TopicModel, directory: Path, meta: dict | None = None) -> Path:
    """Write ``model`` to ``directory`` (replaced whole, atomically); ``meta`` adds fields to
    ``meta.json``. Returns the directory."""
    classifier = model.classifier
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        partial.chmod(0o755)  # mkdtemp's 0700 would hide package data from other users
        text = "".join(booster_text(b) for b in classifier.boosters_)
        (partial / BOOSTERS).write_bytes(lzma.compress(text.encode("utf-8"), preset=9))
        arrays = {name: getattr(classifier, name) for name in _CLASSIFIER_ARRAYS}
        arrays |= {
            "topic_vectors": model.topic_vectors,
            "view_mean": model.view_mean,
            "view_scale": model.view_scale,
        }
        with (partial / ARRAYS).open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        (partial / TAXONOMY).write_text(model.taxonomy.text, encoding="utf-8")
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "embedding_model_id": model.embedding_model_id,
            "topics": list(model.topic_ids),
            "n_features": int(classifier.n_features_in_),
            "classifier": classifier.get_params(),
            "summary": model.summary,
            **(meta or {}),
        }
        (partial / META).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
        replace_dir(partial, directory)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return directory


def read_meta(directory: Path) -> dict:
    """``meta.json`` of the portable model at ``directory``; PaperrecError if it is not one."""
    path = Path(directory) / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PaperrecError(f"cannot read {path}: {exc}") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise PaperrecError(
            f"{directory} is not a portable paperrec topic model of format {FORMAT_VERSION}"
        )
    return meta


def read_portable(directory: Path) -> TopicModel:
    """The TopicModel stored at ``directory`` by `write_portable`, ready to predict."""
    directory = Path(directory)
    meta = read_meta(directory)
    try:
        text = lzma.decompress((directory / BOOSTERS).read_bytes()).decode("utf-8")
        with np.load(directory / ARRAYS, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        taxonomy = parse_taxonomy(
            (directory / TAXONOMY).read_text(encoding="utf-8"), str(directory)
        )
        boosters = [lgb.Booster(model_str=part + END) for part in text.split(END)[:-1]]
    except (OSError, ValueError, KeyError, lzma.LZMAError, lgb.basic.LightGBMError) as exc:
        raise PaperrecError(f"cannot read the topic model at {directory}: {exc}") from None
    n_topics = len(meta["topics"])
    trainable = arrays["trainable_"].astype(bool)
    if list(taxonomy.ids) != meta["topics"] or len(trainable) != n_topics:
        raise PaperrecError(f"{directory}: taxonomy, topics and arrays do not agree")
    if len(boosters) != int(trainable.sum()):
        raise PaperrecError(
            f"{directory}: {len(boosters)} boosters for {int(trainable.sum())} trainable topics"
        )
    classifier = TopicClassifier(**meta["classifier"])
    for name in _CLASSIFIER_ARRAYS:
        setattr(classifier, name, arrays[name])
    classifier.trainable_ = trainable
    classifier.classes_ = np.arange(n_topics)
    classifier.n_features_in_ = int(meta["n_features"])
    classifier.boosters_ = boosters
    return TopicModel(
        taxonomy=taxonomy,
        classifier=classifier,
        embedding_model_id=meta["embedding_model_id"],
        topic_vectors=arrays["topic_vectors"],
        view_mean=arrays["view_mean"],
        view_scale=arrays["view_scale"],
        summary=meta.get("summary", {}),
    )
