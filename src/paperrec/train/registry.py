"""The MLflow model registry: register trained bundles, promote a champion, fetch it.

A bundle (a TopicModel or RankingModel directory) is logged as a pyfunc model whose only
artifact is that directory, registered under ``paperrec-topics`` or ``paperrec-ranker``
with a new version per run. The champion carries the alias ``champion``; the newest output
of ``paperrec retrain`` carries ``candidate``. Fetching downloads the bundle once per version
into PAPERREC_HOME. Each promotion and rollback exports the new champion's bundle
(`paperrec.bundles.export_champion`) into the plain directory that the service and the CLI
read, so they never import MLflow; the registry stays the source of truth.

Every promotion is remembered: the registered model's tag ``paperrec.champion_history``
lists the champions in the order they were promoted (the current one last, each with the
promotion event it came in), and the alias ``previous-champion`` names the one before.
`rollback` undoes one model's last promotion; `rollback_last` undoes the last promotion
event, which may have promoted both models together.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from paperrec import bundles
from paperrec.config import Settings
from paperrec.errors import ModelNotTrainedError, NotFoundError, PaperrecError

TOPICS_MODEL = "paperrec-topics"
RANKER_MODEL = "paperrec-ranker"
MODELS = {"topics": TOPICS_MODEL, "ranker": RANKER_MODEL}
CHAMPION = "champion"
CANDIDATE = "candidate"
PREVIOUS = "previous-champion"
HISTORY_TAG = "paperrec.champion_history"
MAX_HISTORY = 100  # promotions kept per model: the tag value stays below 5,000 characters
_BUNDLE = "bundle"
# MLflow's fluent API (runs, log_model) keeps the tracking URI in a process global: a thread
# pointing it at one home while another logs would send that run to the wrong home. Fluent
# sections hold this lock; all else uses a client bound to its own home (`tracking_client`).
FLUENT = threading.RLock()

# What a served bundle needs; pinned here so MLflow does not infer requirements (slow, and
# it would record a torch that pulls CUDA builds).
PIP_REQUIREMENTS = ["paperrec", "torch==2.13.0", "scikit-learn", "lightgbm", "numpy", "scipy"]


def use_tracking(settings: Settings):
    """Point MLflow's fluent API at this install's tracking store; returns the mlflow
    module. Call it holding `FLUENT` (`paperrec.train.tracking.tracked_run` does)."""
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
    with FLUENT:
        mlflow = use_tracking(settings)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={_BUNDLE: str(directory)},
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=registered_name,
        )
    return str(info.registered_model_version)


def tracking_client(settings: Settings):
    """An MlflowClient bound to this install's tracking store and registry (no process
    global: safe beside other threads and other homes)."""
    settings.ensure_home()
    from mlflow import MlflowClient

    uri = settings.resolved_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def set_alias(settings: Settings, registered_name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` (no history: for ``candidate`` and the like)."""
    require_version(settings, registered_name, version)
    tracking_client(settings).set_registered_model_alias(registered_name, alias, version)


@dataclass(frozen=True)
class Promotion:
    """One entry of a champion history: ``version`` became champion in promotion ``event``
    (a nanosecond timestamp; models promoted together share it)."""

    version: str
    event: int


def new_event() -> int:
    return time.time_ns()


def promote(
    settings: Settings, registered_name: str, version: str, event: int | None = None
) -> str | None:
    """Make ``version`` the champion and remember the promotion; returns the champion it
    replaced (None when there was none). NotFoundError for a version that does not exist.

    Pass one ``event`` (`new_event`) to promotions that belong together (a retrain's topic
    model and ranker), so `rollback_last` undoes them together.
    """
    require_version(settings, registered_name, version)
    client = tracking_client(settings)
    current = alias_version(settings, registered_name, CHAMPION)
    history = champion_history(settings, registered_name)
    if current is not None and (not history or history[-1].version != current):
        history.append(Promotion(current, 0))  # a champion set outside paperrec (MLflow UI)
    if current != version:
        history.append(Promotion(version, event or new_event()))
    client.set_registered_model_alias(registered_name, CHAMPION, version)
    _save_history(client, registered_name, history)
    if current is not None and current != version:
        client.set_registered_model_alias(registered_name, PREVIOUS, current)
    export_champion(settings, registered_name)
    return current


def rollback(settings: Settings, registered_name: str) -> tuple[str, str]:
    """Undo the last promotion of one model: the champion before it is champion again.

    Returns (version rolled back from, version now champion). Raises ModelNotTrainedError
    without a champion and PaperrecError when no earlier champion is remembered.
    """
    current = champion_version(settings, registered_name)
    history = champion_history(settings, registered_name)
    while history and history[-1].version == current:
        history.pop()
    if not history:
        raise PaperrecError(
            f"nothing to roll back to: no champion before {registered_name} v{current} "
            "is remembered"
        )
    client = tracking_client(settings)
    client.set_registered_model_alias(registered_name, CHAMPION, history[-1].version)
    _save_history(client, registered_name, history)
    if len(history) > 1:
        client.set_registered_model_alias(registered_name, PREVIOUS, history[-2].version)
    else:
        client.delete_registered_model_alias(registered_name, PREVIOUS)
    export_champion(settings, registered_name)
    return current, history[-1].version


def export_champion(settings: Settings, registered_name: str) -> Path:
    """Copy the registry's champion of ``registered_name`` into the directory serving reads
    (`paperrec.bundles.champion`) and rewrite its model card (`paperrec.train.cards`);
    returns the exported bundle's path."""
    from paperrec.train.cards import write_card

    path, version = fetch_bundle(settings, registered_name)
    key = next(k for k, name in MODELS.items() if name == registered_name)
    exported = bundles.export_champion(settings, key, path, version)
    write_card(settings, key)
    return exported


def rollback_last(settings: Settings) -> dict[str, tuple[str, str]]:
    """Undo the last promotion event: every model promoted in it gets its champion from
    before back. Returns ``{registered name: (from, to)}``.

    Raises PaperrecError when there is no champion or no earlier one to go back to.
    """
    last = {}
    for name in MODELS.values():
        history = champion_history(settings, name)
        if alias_version(settings, name, CHAMPION) is not None and len(history) > 1:
            last[name] = history[-1].event
    if not last:
        champions = [n for n in MODELS.values() if alias_version(settings, n, CHAMPION)]
        if not champions:
            raise ModelNotTrainedError("no champion to roll back; run `paperrec retrain`")
        raise PaperrecError(
            "nothing to roll back to: no champion before "
            + ", ".join(f"{n} v{alias_version(settings, n, CHAMPION)}" for n in champions)
            + " is remembered"
        )
    newest = max(last.values())
    return {name: rollback(settings, name) for name, event in last.items() if event == newest}


def champion_history(settings: Settings, registered_name: str) -> list[Promotion]:
    """Promotions to champion, oldest first (the current champion last)."""
    try:
        model = tracking_client(settings).get_registered_model(registered_name)
    except Exception:  # MLflow raises several types for a model that is not registered
        return []
    entries = [item.split("@") for item in model.tags.get(HISTORY_TAG, "").split(",") if item]
    return [Promotion(version, int(event)) for version, event in entries]


def _save_history(client, registered_name: str, history: list[Promotion]) -> None:
    value = ",".join(f"{p.version}@{p.event}" for p in history[-MAX_HISTORY:])
    client.set_registered_model_tag(registered_name, HISTORY_TAG, value)


def alias_version(settings: Settings, registered_name: str, alias: str) -> str | None:
    """The version carrying ``alias``, or None."""
    try:
        return str(tracking_client(settings).get_registered_model(registered_name).aliases[alias])
    except Exception:  # not registered yet, or no such alias
        return None


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as `paperrec models list` shows it."""

    model: str
    version: str
    aliases: tuple[str, ...]
    created_ms: int
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)


def list_versions(settings: Settings, registered_name: str) -> list[VersionInfo]:
    """Every version of ``registered_name``, newest first ([] when it is not registered)."""
    client = tracking_client(settings)
    try:
        aliases = client.get_registered_model(registered_name).aliases
    except Exception:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    found = client.search_model_versions(f"name = '{registered_name}'")
    infos = [
        VersionInfo(
            registered_name,
            str(v.version),
            tuple(sorted(by_version.get(str(v.version), []))),
            int(v.creation_timestamp or 0),
            v.run_id,
            dict(v.tags or {}),
        )
        for v in found
    ]
    return sorted(infos, key=lambda info: -int(info.version))


def require_version(settings: Settings, registered_name: str, version: str) -> None:
    """NotFoundError naming the versions that exist, unless ``version`` is one of them."""
    known = [info.version for info in list_versions(settings, registered_name)]
    if str(version) not in known:
        available = ", ".join(reversed(known)) or "none yet"
        raise NotFoundError(f"{registered_name} has no version {version}; registered: {available}")


def tag_version(
    settings: Settings, registered_name: str, version: str, tags: dict[str, str]
) -> None:
    client = tracking_client(settings)
    for key, value in tags.items():
        client.set_model_version_tag(registered_name, version, key, str(value))


def champion_version(settings: Settings, registered_name: str, alias: str = CHAMPION) -> str:
    """The registered version carrying ``alias``; ModelNotTrainedError when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        found = tracking_client(settings).get_model_version_by_alias(registered_name, alias)
        return str(found.version)
    except MlflowException:
        command = "topics" if registered_name == TOPICS_MODEL else "ranker"
        raise ModelNotTrainedError(
            f"no {registered_name} model with alias {alias!r} in {settings.resolved_tracking_uri}; "
            f"run `paperrec train {command}` or `paperrec retrain`"
        ) from None


def fetch_bundle(
    settings: Settings, registered_name: str, version: str | None = None
) -> tuple[Path, str]:
    """Local directory of a registered bundle (the champion by default) and its version."""
    import mlflow.artifacts

    version = version or champion_version(settings, registered_name)
    target = settings.models_dir / registered_name / f"v{version}"
    if not any((target / "artifacts").glob("*/meta.json")):
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            uri = settings.resolved_tracking_uri
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{registered_name}/{version}",
                dst_path=str(partial),
                tracking_uri=uri,
                registry_uri=uri,
            )
        except Exception as exc:  # MLflow raises many types for a missing or broken store
            shutil.rmtree(partial, ignore_errors=True)
            raise PaperrecError(f"cannot fetch {registered_name} version {version}: {exc}") from exc
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # atomic: a half-downloaded bundle is never used
    bundles = sorted((target / "artifacts").glob("*/meta.json"))
    if not bundles:
        raise PaperrecError(f"{registered_name} version {version} holds no paperrec bundle")
    return bundles[0].parent, version
