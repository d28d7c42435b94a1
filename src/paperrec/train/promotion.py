"""Manual model lifecycle: list registered versions, promote one, roll back.

Behind ``paperrec models list | promote | rollback``. A retrain registers a topic model
and a ranker together and tags each with the other's version (``paperrec.pair``);
promoting one promotes its pair too, in one promotion event, unless asked not to, so
that ``rollback`` (which undoes the last event) brings both back together.
"""

from __future__ import annotations

import datetime as dt

from paperrec.config import Settings
from paperrec.errors import InputError, unknown_choice
from paperrec.train import registry
from paperrec.train.packaged import ORIGIN_TAG
from paperrec.train.retrain import DATA_TAG, GATE_TAG, PAIR_TAG, RUN_TAG
from paperrec.train.tracking import metric_name

# The metric `models list` shows per model: what the gate compares first.
KEY_METRICS = {
    "topics": ("macro-F1", "dev_macro_f1_classifier"),
    "ranker": ("nDCG@10", metric_name("pool_users.ranker.ndcg@10")),
}


def model_key(model: str) -> str:
    """``topics`` or ``ranker``; InputError listing both for anything else."""
    if model not in registry.MODELS:
        raise InputError(unknown_choice("model", model, registry.MODELS))
    return model


def version_rows(settings: Settings, limit: int = 10) -> list[dict]:
    """The newest ``limit`` versions of each model as rows for ``paperrec models list``:
    the registry's `registry.VersionInfo` read out (aliases, origin, gate, pair, data hash)
    with the model's key metric."""
    client = registry.tracking_client(settings)
    rows = []
    for key, name in registry.MODELS.items():
        label, metric = KEY_METRICS[key]
        for info in registry.list_versions(settings, name)[:limit]:
            value = None
            if info.run_id:
                value = client.get_run(info.run_id).data.metrics.get(metric)
            run = info.tags.get(RUN_TAG)
            origin = info.tags.get(ORIGIN_TAG) or (f"retrain {run}" if run else "train")
            created = dt.datetime.fromtimestamp(info.created_ms / 1000).strftime("%m-%d %H:%M")
            rows.append(
                {
                    "model": key,
                    "version": info.version,
                    "aliases": info.aliases,
                    "created": created,
                    "origin": origin,
                    "gate": info.tags.get(GATE_TAG, ""),
                    "pair": info.tags.get(PAIR_TAG, ""),
                    "data_hash": info.tags.get(DATA_TAG, "")[:12],
                    "metric": label,
                    "value": value,
                }
            )
    return rows


def promote_version(
    settings: Settings, model: str, version: str, *, alone: bool = False
) -> dict[str, tuple[str | None, str]]:
    """Make ``version`` of ``model`` the champion, with its retrain pair unless ``alone``.

    Returns ``{model key: (previous champion, new champion)}`` for each model promoted.
    NotFoundError for a version that does not exist (naming the ones that do).
    """
    key = model_key(model)
    name = registry.MODELS[key]
    registry.require_version(settings, name, version)
    wanted = {key: str(version)}
    if not alone:
        info = next(v for v in registry.list_versions(settings, name) if v.version == str(version))
        pair = info.tags.get(PAIR_TAG)
        if pair:
            wanted["ranker" if key == "topics" else "topics"] = pair
    event = registry.new_event()
    return {
        k: (registry.promote(settings, registry.MODELS[k], v, event), v) for k, v in wanted.items()
    }


def rollback(settings: Settings, model: str | None = None) -> dict[str, tuple[str, str]]:
    """Undo the last promotion (of ``model`` only, when given); ``{key: (from, to)}``."""
    if model is not None:
        key = model_key(model)
        return {key: registry.rollback(settings, registry.MODELS[key])}
    by_name = registry.rollback_last(settings)
    keys = {name: key for key, name in registry.MODELS.items()}
    return {keys[name]: change for name, change in by_name.items()}
