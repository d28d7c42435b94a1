"""MLflow runs for training: one experiment per model, artifacts under PAPERREC_HOME."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paperrec.config import Settings
from paperrec.registry import use_tracking


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
    artifact location under PAPERREC_HOME when new)."""
    mlflow = use_tracking(settings)
    if mlflow.get_experiment_by_name(experiment) is None:
        location = (settings.mlflow_artifact_root / experiment).resolve().as_uri()
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(_flatten({"config": settings.public_dict()}))
        yield run


def log_params(params: dict) -> None:
    import mlflow

    mlflow.log_params(_flatten(params))


def metric_name(name: str) -> str:
    """MLflow allows letters, digits and ``_-. :/`` in metric names: ``ndcg@10`` -> ``ndcg_at_10``."""
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
