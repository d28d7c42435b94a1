"""What defines each model and what a reader wants to know about it, as documents.

- `default_config`: the default training configuration of the topic classifier or the
  ranker, every field spelled out, in the shape of the ``topics:`` / ``ranker:`` section of
  a retrain config. ``models/topics.yaml`` and ``models/ranker.yaml`` are these, committed
  (``python -m paperrec.train.cards models`` rewrites them; a test checks they are current).
- `write_card`: the model card of a champion (intended use, training data, the evaluation
  against baselines, known limits), made from the registry and the exported bundle and
  rewritten at every promotion and rollback (`paperrec.train.registry.export_champion`) in
  ``Settings.resolved_model_cards``; ``make demo`` writes them to ``models/cards/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
import sys
from pathlib import Path

import yaml

from paperrec import bundles
from paperrec.config import Settings
from paperrec.store.files import write_output

TITLES = {"topics": "topic classifier", "ranker": "ranker"}
# Fields of a training config that are not a default of the model: the seed comes from the
# retrain config; the ranker's prior column follows from the feature list.
_NOT_CONFIG = ("random_state", "prior_column")

INTENDED_USE = {
    "topics": (
        "Tags an arXiv paper (title and abstract, embedded by the sentence-transformer named "
        "below) with the research areas and fine machine-learning topics of the taxonomy "
        "(`src/paperrec/topics/taxonomy.yaml`): `paperrec score`, the service's /score, the "
        "digest's topic tags and the ranker's topic features. It is trained on weak labels "
        "from labeling functions (keywords, patterns, arXiv categories, description "
        "similarity), never on hand labels."
    ),
    "ranker": (
        "Orders candidate papers for one reader's profile (liked and disliked papers, chosen "
        "topics, the authors they read): `paperrec rank`, `paperrec recommend`, the "
        "service's /rank and /recommend and the digest. Every feature depends on the profile "
        "and the candidate alone, so a candidate's score does not depend on the other "
        "candidates."
    ),
}
KNOWN_LIMITS = {
    "topics": (
        "- Learned from weak labels: where the labeling functions are wrong together, so is "
        "the classifier.\n"
        "- Areas with few papers in the training data get thresholds from a handful of "
        "them (programming languages: 28 of the packaged model's 35,000 papers), and an area "
        "a paper is cross-listed to without its text saying so is rarely found (CS papers "
        "cross-listed to mathematics: recall 0.15 on arxiv_dev; docs/topics.md).\n"
        "- English titles and abstracts; the embedding model truncates long abstracts."
    ),
    "ranker": (
        "- Trained on synthetic readers (authors' next papers, pseudo-users), not on "
        "recorded feedback of real readers.\n"
        "- A profile of one or two papers carries little signal; chosen topics then stand in "
        "for liked papers.\n"
        "- The scorer may be a fallback baseline when the learned ranker did not beat it on "
        "the author protocol (see `scorer` below)."
    ),
}


# -- default configurations ------------------------------------------------------------------
def default_config(key: str) -> dict:
    """The default training config of ``key`` (``topics`` or ``ranker``) with the model's
    hyperparameters filled in (the classifier's, or the ranker's and the TF-IDF encoder's)."""
    if key == "topics":
        from paperrec.topics.classify import TopicClassifier
        from paperrec.train.topics_fit import TopicTrainingConfig

        config = _fields(TopicTrainingConfig())
        config["classifier"] = _params(TopicClassifier)
        return config
    from paperrec.recommend.lexical import LexicalEncoder
    from paperrec.recommend.ranker import PaperRanker
    from paperrec.train.ranker_fit import RankerTrainingConfig

    config = _fields(RankerTrainingConfig())
    config["ranker"] = _params(PaperRanker)
    config["lexical"] = _params(LexicalEncoder)
    return config


def _fields(config) -> dict:
    values = dataclasses.asdict(config)
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if k not in _NOT_CONFIG
    }


def _params(cls) -> dict:
    """The keyword defaults of ``cls``'s constructor (its hyperparameters)."""
    parameters = inspect.signature(cls).parameters.items()
    return {k: p.default for k, p in parameters if k not in _NOT_CONFIG}


def config_text(key: str) -> str:
    """``models/<key>.yaml``: `default_config` as commented YAML."""
    header = (
        f"# The default training configuration of the {TITLES[key]}: every field of the "
        f"`{key}:`\n"
        "# section of a retrain config (docs/lifecycle.md), with its default. Generated from the\n"
        "# code by `python -m paperrec.train.cards models`; the seed is the retrain config's.\n"
    )
    return header + yaml.safe_dump(default_config(key), sort_keys=False)


def write_configs(folder: Path) -> list[Path]:
    """Rewrite ``folder/topics.yaml`` and ``folder/ranker.yaml``; returns their paths."""
    paths = [Path(folder) / f"{key}.yaml" for key in TITLES]
    for key, path in zip(TITLES, paths, strict=True):
        write_output(path, config_text(key))
    return paths


# -- model cards --------------------------------------------------------------------------
def write_card(settings: Settings, key: str) -> Path:
    """Rewrite the card of the ``key`` champion in ``settings.resolved_model_cards``."""
    path = settings.resolved_model_cards / f"{key}.md"
    write_output(path, card_text(settings, key))
    return path


def card_text(settings: Settings, key: str) -> str:
    """The Markdown model card of the exported ``key`` champion and its registry entry."""
    from paperrec.train import registry
    from paperrec.train.packaged import ORIGIN_TAG
    from paperrec.train.retrain import DATA_TAG, GATE_TAG, RUN_TAG

    directory, version = bundles.champion(settings, key)
    meta = bundles.describe(directory)
    name = registry.MODELS[key]
    client = registry.tracking_client(settings)
    found = client.get_model_version(name, version)
    metrics = client.get_run(found.run_id).data.metrics if found.run_id else {}
    tags = dict(found.tags or {})
    retrain = tags.get(RUN_TAG)
    trained_by = f"retrain run {retrain}" if retrain else "`paperrec train`"
    if tags.get(ORIGIN_TAG):
        trained_by = (
            f"{tags[ORIGIN_TAG]}: shipped in the package (`src/paperrec/topics/default`, "
            f"paperrec {tags.get('paperrec.packaged_version', '?')}, commit "
            f"`{tags.get('paperrec.git_commit', '?')[:12]}`, training code sha256 "
            f"`{tags.get('paperrec.training_code_sha256', '?')[:12]}`), rebuilt by "
            "`python -m paperrec.train.default_model`"
        )
    rows = [
        ("registered model", f"{name} version {version} (alias `champion`)"),
        ("card written", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("trained by", trained_by),
        ("training run", f"`{found.run_id}`" if found.run_id else "not recorded"),
        ("gate", tags.get(GATE_TAG) or "not gated (trained or promoted by hand)"),
        ("embedding model", f"`{meta.get('embedding_model_id', '?')}`"),
    ]
    if key == "ranker":
        rows.append(("scorer", f"`{meta.get('scorer', 'learned')}`"))
    data = [("data hash", f"`{tags[DATA_TAG][:12]}`")] if tags.get(DATA_TAG) else []
    summary = {k: v for k, v in (meta.get("summary") or {}).items() if _plain(v)}
    data += [(k, str(v)) for k, v in summary.items()]
    data += [
        (k, f"{v:g}") for k, v in sorted(metrics.items()) if k.startswith("n_") and k not in summary
    ]
    parts = [
        f"# Model card: {TITLES[key]} (v{version})",
        "Generated from the MLflow registry and the exported champion at each promotion "
        "(`paperrec.train.cards`); do not edit by hand. Defaults: `models/"
        f"{key}.yaml`.",
        _table(("", ""), rows),
        "## Intended use",
        INTENDED_USE[key],
        "## Training data",
        _table(("", ""), data) if data else "not recorded",
        "## Evaluation against baselines",
        _evaluation(key, metrics),
        "## Known limits",
        KNOWN_LIMITS[key],
    ]
    return "\n\n".join(parts) + "\n"


def _plain(value) -> bool:
    return isinstance(value, int | float | str | bool)


def _evaluation(key: str, metrics: dict[str, float]) -> str:
    """The run's metrics of the model beside its baselines, as tables."""
    if key == "topics":
        return _topic_evaluation(metrics)
    tables = []
    by_protocol: dict[str, dict[str, dict[str, float]]] = {}
    for name, value in metrics.items():
        match = re.fullmatch(r"(\w+)\.([\w\-]+)\.([\w\-]+)", name)
        if match:
            protocol, method, metric = match.groups()
            by_protocol.setdefault(protocol, {}).setdefault(method, {})[metric] = value
    for protocol, methods in sorted(by_protocol.items()):
        columns = sorted({m for values in methods.values() for m in values})
        rows = [
            (method, *(f"{values[c]:.3f}" if c in values else "" for c in columns))
            for method, values in methods.items()
        ]
        tables.append(
            f"Protocol `{protocol}` (means over its queries):\n\n"
            + _table(("method", *columns), rows)
        )
    return "\n\n".join(tables) or "The training run logged no evaluation."


_TOPIC_METHODS = {
    "classifier": "classifier",
    "majority_vote": "majority vote",
    "zero_shot": "zero-shot",
    "ceiling": "supervised ceiling",
}


def _topic_evaluation(metrics: dict[str, float]) -> str:
    """Area macro-F1 per evaluation file (``<file>.macro_f1_<method>``, as the packaged
    model records them, or a training run's ``dev_macro_f1_<method>``): the classifier
    beside majority vote, zero-shot and the supervised ceiling, with the two comparisons
    the targets are stated in."""
    files: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        match = re.fullmatch(r"([\w\-]+)\.macro_f1_(\w+)", name)
        if match:
            files.setdefault(match.group(1), {})[match.group(2)] = value
    if not files:
        dev = {
            k.removeprefix("dev_macro_f1_"): v
            for k, v in metrics.items()
            if k.startswith("dev_macro_f1_")
        }
        if dev:
            files["dev papers of the training run"] = dev
    if not files:
        return (
            "The training run had no evaluation papers (a retrain gives it the gate's); "
            "`paperrec evaluate --gold FILE` measures the champion beside the rule "
            "baselines, without recording it here."
        )
    rows = []
    for name, found in files.items():
        cells = [f"{found[m]:.3f}" if m in found else "" for m in _TOPIC_METHODS]
        ours, vote, ceiling = (found.get(m) for m in ("classifier", "majority_vote", "ceiling"))
        versus = "" if ours is None or vote is None else f"{ours - vote:+.3f}"
        ratio = "" if ours is None or not ceiling else f"{ours / ceiling:.2f}x"
        rows.append((name, *cells, versus, ratio))
    header = ("data", *_TOPIC_METHODS.values(), "classifier - majority vote", "of the ceiling")
    return (
        "Area macro-F1 on papers with arXiv categories (never trained on; the ceiling is "
        "the stronger of LightGBM and a class-balanced logistic regression trained 5-fold "
        "on the file's own categories, `paperrec evaluate`):\n\n" + _table(header, rows)
    )


def _table(header: tuple[str, ...], rows) -> str:
    """A Markdown table; a ``|`` inside a cell is escaped (embedding model ids hold some)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``python -m paperrec.train.cards models [FOLDER]``: rewrite the default configs;
    ``... cards``: rewrite the champions' cards from PAPERREC_HOME's registry (in
    PAPERREC_MODEL_CARDS), as a promotion does."""
    if not argv or argv[0] not in ("models", "cards"):
        print("usage: python -m paperrec.train.cards models [FOLDER] | cards", file=sys.stderr)
        return 2
    if argv[0] == "cards":
        settings = Settings()
        for key in TITLES:
            print(write_card(settings, key))
        return 0
    folder = Path(argv[1]) if len(argv) > 1 else Path("models")
    for path in write_configs(folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
