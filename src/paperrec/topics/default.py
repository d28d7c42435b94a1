"""The topic model that ships inside the package, versioned with the encoder it needs.

A new home has no topic model of its own, and the few thousand papers a first run
ingests train a weaker one than the two arXiv pools (35,000 papers) do. So paperrec
ships one trained on both pools (``paperrec/topics/default/``, the portable format of
`paperrec.topics.portable`, a few MB) and a home without a topics champion starts from
it (`paperrec.train.packaged`); a local retrain is promoted over it only when the gate
finds it no worse. ``python -m paperrec.train.default_model --home DIR`` rebuilds it.

The model only means something on the vectors of the encoder it was trained with:
``meta.json`` records that encoder (model id, dimension, normalisation), and
`encoder_mismatch` says, in one line, why another encoder cannot use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paperrec.topics.model import TopicModel
from paperrec.topics.portable import read_meta, read_portable

DIRECTORY = Path(__file__).with_name("default")
ORIGIN = "packaged default"
# The least cosine between the recorded and the running encoder's vectors of the topic
# descriptions: the encoder gate's sanity floor for int8 (docs/encoders.md); float32 and
# bfloat16 backends of the same model agree far above it.
MIN_COSINE = 0.97
# What meta.json must say (tests/test_packaged_default.py checks the shipped one).
REQUIRED = (
    "encoder",
    "taxonomy_sha256",
    "paperrec_version",
    "git_commit",
    "training_code",
    "training_data",
    "training_config",
    "metrics",
    "built",
)


def packaged_meta(directory: Path = DIRECTORY) -> dict:
    """``meta.json`` of the packaged topic model (PaperrecError when it cannot be read)."""
    return read_meta(directory)


def load_packaged(directory: Path = DIRECTORY) -> TopicModel:
    """The packaged topic model, ready to predict."""
    return read_portable(directory)


def encoder_mismatch(
    model: TopicModel, meta: dict, model_name: str, vectors: np.ndarray | None
) -> str | None:
    """Why the running encoder cannot use the packaged ``model`` (its ``meta``), in one line;
    None when it can.

    ``model_name`` is the running encoder's model; ``vectors`` (n_topics, dim) are its
    embeddings of the model's topic descriptions (None: not computed, when the model names
    differ), compared with those the model was trained beside (``model.topic_vectors``).
    """
    encoder = meta["encoder"]
    need = f"{encoder['model']} ({encoder['dimension']}-d, {encoder['normalisation']})"
    if model_name != encoder["model"]:
        return f"it needs the encoder {need}; this home runs {model_name}"
    if vectors is None or vectors.shape[1] != encoder["dimension"]:
        dim = "no" if vectors is None else f"{vectors.shape[1]}-d"
        return f"it needs the encoder {need}; this home's encoder gives {dim} vectors"
    recorded = model.topic_vectors
    if recorded.shape != vectors.shape:
        return f"its topic vectors are {recorded.shape}, this home's {vectors.shape}"
    cosine = float(np.min(np.sum(recorded * vectors, axis=1)))
    if cosine < MIN_COSINE:
        return (
            f"it needs the encoder {need}; this home's vectors of the topic descriptions "
            f"differ from it (cosine {cosine:.3f} < {MIN_COSINE})"
        )
    return None
