"""MLflow runs for training: one experiment per model, artifacts under PAPERREC_HOME."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paperrec.config import Settings
from paperrec.train.registry import FLUENT, use_tracking


def _flatten(data: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)[:500]  # MLflow caps parameter values
    return flat


@contextmanager
def tracked_run(settings: Settings, experiment: str, run_name: str) -> Iterator:
    """``with tracked_run(...) as run:``: an MLflow run in ``experiment`` (created with its
    artifact location under PAPERREC_HOME when new).

    Inside another run (``paperrec retrain``'s parent run) it is a child run of that one,
    in the parent's experiment, so one retrain reads as one tree in the MLflow UI. The run
    holds `paperrec.train.registry.FLUENT`: no other thread moves MLflow's global URI
    while it logs.
    """
    with FLUENT:
        yield from _run(settings, experiment, run_name)


def _run(settings: Settings, experiment: str, run_name: str) -> Iterator:
    mlflow = use_tracking(settings)
    parent = mlflow.active_run()
    if parent is not None:
        experiment_id = parent.info.experiment_id
    else:
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            location = (settings.mlflow_artifact_root / experiment).resolve().as_uri()
            experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
        else:
            experiment_id = found.experiment_id
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, nested=parent is not None
    ) as run:
        mlflow.log_params(_flatten({"config": settings.public_dict()}))
        yield run


def log_params(params: dict) -> None:
    import mlflow

    mlflow.log_params(_flatten(params))


def metric_name(name: str) -> str:
    """MLflow allows letters, digits and ``_-. :/`` in names: ``ndcg@10`` -> ``ndcg_at_10``."""
    return re.sub(r"[^\w\-. :/]", "_", name.replace("@", "_at_"))


def log_metrics(metrics: dict[str, float]) -> None:
    import mlflow

    mlflow.log_metrics({metric_name(k): float(v) for k, v in metrics.items() if v is not None})


def log_json(data, name: str) -> None:
    import mlflow

    mlflow.log_text(json.dumps(data, indent=2, default=str), name)


def log_figure(figure, name: str) -> None:
    import mlflow

    mlflow.log_figure(figure, name)


def log_file(path: Path, folder: str | None = None) -> None:
    import mlflow

    mlflow.log_artifact(str(path), folder)


def set_tags(tags: dict[str, str]) -> None:
    import mlflow

    mlflow.set_tags({key: str(value)[:5000] for key, value in tags.items()})
