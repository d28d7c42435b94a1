"""models/: the committed default configs match the code, and a promotion rewrites the
model card from the registry (a real MLflow registry under a tmp PAPERREC_HOME; the bundles
are stand-ins with a meta.json, as in test_lifecycle_registry.py)."""

from __future__ import annotations

import json
from pathlib import Path

from paperrec.recommend.lexical import LexicalEncoder
from paperrec.recommend.ranker import PaperRanker
from paperrec.topics.classify import TopicClassifier
from paperrec.train import cards, registry
from paperrec.train.retrain_config import RetrainConfig
from paperrec.train.tracking import log_metrics, tracked_run

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_the_committed_default_configs_are_the_code_s_defaults():
    for key in ("topics", "ranker"):
        committed = (MODELS / f"{key}.yaml").read_text(encoding="utf-8")
        assert committed == cards.config_text(key), (
            f"models/{key}.yaml is out of date: run `python -m paperrec.train.cards models`"
        )


def test_the_default_configs_are_retrain_sections_that_change_nothing():
    config = RetrainConfig(
        topics=cards.default_config("topics"), ranker=cards.default_config("ranker")
    )
    topics, ranker = config.topic_training(), config.ranker_training()
    assert TopicClassifier(**topics.classifier).get_params() == TopicClassifier().get_params()
    assert PaperRanker(**ranker.ranker).get_params() == PaperRanker().get_params()
    assert vars(LexicalEncoder(**ranker.lexical)) == vars(LexicalEncoder())
    assert ranker.profile_sizes == RetrainConfig().ranker_training().profile_sizes


def _register(settings, tmp_path, name: str, metrics: dict, meta: dict) -> str:
    bundle = tmp_path / f"bundle-{name}"
    bundle.mkdir(exist_ok=True)
    (bundle / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with tracked_run(settings, "card-tests", "register"):
        log_metrics(metrics)
        return registry.register_bundle(settings, bundle, name)


def test_a_promotion_rewrites_the_card_from_the_registry(settings, tmp_path):
    topics = _register(
        settings,
        tmp_path,
        registry.TOPICS_MODEL,
        {
            "dev_macro_f1_classifier": 0.472,
            "dev_macro_f1_majority_vote": 0.435,
            "n_train_papers": 6,
            "n_papers": 6,
        },
        {
            "embedding_model_id": "mini|seq=default",
            "summary": {"n_papers": 6, "positive_rate": {"a": 0.1}},
        },
    )
    registry.promote(settings, registry.TOPICS_MODEL, topics)
    card = (settings.resolved_model_cards / "topics.md").read_text(encoding="utf-8")
    assert card.startswith(f"# Model card: topic classifier (v{topics})")
    assert "| dev papers of the training run | 0.472 | 0.435 |  |  | +0.037 |  |" in card
    assert "| n_papers | 6 |" in card and "positive_rate" not in card
    assert "| embedding model | `mini\\|seq=default` |" in card  # a | would end the cell
    assert card.count("| n_papers |") == 1  # summary and run metric name it once
    assert str(settings.home) not in card and str(tmp_path) not in card  # no machine paths
    for section in ("## Intended use", "## Training data", "## Known limits"):
        assert section in card

    ranker = _register(
        settings,
        tmp_path,
        registry.RANKER_MODEL,
        {
            "authors.ranker.ndcg@10": 0.61,
            "authors.centroid.ndcg@10": 0.5,
            "authors.ranker.mrr": 0.7,
        },
        {"embedding_model_id": "mini", "scorer": "learned"},
    )
    registry.promote(settings, registry.RANKER_MODEL, ranker)
    card = (settings.resolved_model_cards / "ranker.md").read_text(encoding="utf-8")
    assert "Protocol `authors`" in card and "| method | mrr | ndcg_at_10 |" in card
    assert "| ranker | 0.700 | 0.610 |" in card and "| centroid |  | 0.500 |" in card


def test_the_topic_card_shows_each_measured_file_beside_majority_vote_and_the_ceiling(
    settings, tmp_path
):
    metrics = {  # as the packaged model records them (`paperrec.train.packaged`)
        f"{stem}.macro_f1_{method}": value
        for stem, values in {
            "arxiv_dev": {
                "classifier": 0.5,
                "majority_vote": 0.4,
                "zero_shot": 0.3,
                "ceiling": 0.4,
            },
            "arxiv_ood_dev": {"classifier": 0.3, "majority_vote": 0.32, "ceiling": 0.25},
        }.items()
        for method, value in values.items()
    }
    topics = _register(settings, tmp_path, registry.TOPICS_MODEL, metrics, {"summary": {}})
    registry.promote(settings, registry.TOPICS_MODEL, topics)
    card = (settings.resolved_model_cards / "topics.md").read_text(encoding="utf-8")
    assert "| arxiv_dev | 0.500 | 0.400 | 0.300 | 0.400 | +0.100 | 1.25x |" in card
    assert "| arxiv_ood_dev | 0.300 | 0.320 |  | 0.250 | -0.020 | 1.20x |" in card
