"""The MLflow model registry: register trained bundles, promote a champion, fetch it.

A bundle (a TopicModel or RankingModel directory) is logged as a pyfunc model whose only
artifact is that directory, registered under ``paperrec-topics`` or ``paperrec-ranker``
with a new version per run. The version the service and the CLI use carries the alias
``champion``. Fetching downloads the bundle once per version into PAPERREC_HOME.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from paperrec.config import Settings
from paperrec.errors import ModelNotTrainedError, PaperrecError

TOPICS_MODEL = "paperrec-topics"
RANKER_MODEL = "paperrec-ranker"
CHAMPION = "champion"
_BUNDLE = "bundle"

# What a served bundle needs; pinned here so MLflow does not infer requirements (slow, and
# it would record a torch that pulls CUDA builds).
PIP_REQUIREMENTS = ["paperrec", "torch==2.13.0", "scikit-learn", "lightgbm", "numpy", "scipy"]


def use_tracking(settings: Settings):
    """Point MLflow at this install's tracking store; returns the mlflow module."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    settings.ensure_home()
    # MLflow also exports both URIs to os.environ, where a later Settings() would read
    # MLFLOW_TRACKING_URI and use this install's store; keep the environment as it was.
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    mlflow.set_registry_uri(settings.resolved_tracking_uri)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return mlflow


def register_bundle(settings: Settings, directory: Path, registered_name: str) -> str:
    """Log ``directory`` as a model in the active run and register it; returns the version."""
    mlflow = use_tracking(settings)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(__file__).with_name("mlflow_model.py")),
        artifacts={_BUNDLE: str(directory)},
        pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=registered_name,
    )
    return str(info.registered_model_version)


def promote(settings: Settings, registered_name: str, version: str, alias: str = CHAMPION) -> None:
    use_tracking(settings)
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(registered_name, alias, version)


def champion_version(settings: Settings, registered_name: str, alias: str = CHAMPION) -> str:
    """The registered version carrying ``alias``; ModelNotTrainedError when there is none."""
    use_tracking(settings)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(registered_name, alias).version)
    except MlflowException:
        command = "topics" if registered_name == TOPICS_MODEL else "ranker"
        raise ModelNotTrainedError(
            f"no {registered_name} model with alias {alias!r} in {settings.resolved_tracking_uri}; "
            f"run `paperrec train {command}`"
        ) from None


def fetch_bundle(settings: Settings, registered_name: str, version: str | None = None) -> tuple[Path, str]:
    """Local directory of a registered bundle (the champion by default) and its version."""
    mlflow = use_tracking(settings)
    version = version or champion_version(settings, registered_name)
    target = settings.models_dir / registered_name / f"v{version}"
    if not any((target / "artifacts").glob("*/meta.json")):
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{registered_name}/{version}", dst_path=str(partial))
        except Exception as exc:  # MLflow raises many types for a missing or broken store
            shutil.rmtree(partial, ignore_errors=True)
            raise PaperrecError(f"cannot fetch {registered_name} version {version}: {exc}") from exc
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # atomic: a half-downloaded bundle is never used
    bundles = sorted((target / "artifacts").glob("*/meta.json"))
    if not bundles:
        raise PaperrecError(f"{registered_name} version {version} holds no paperrec bundle")
    return bundles[0].parent, version
