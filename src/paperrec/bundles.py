"""Model bundles on disk: the one module that writes, checks and reads them.

A bundle is a directory: ``meta.json`` (its kind, format version and what the model needs to
be rebuilt) beside joblib files and text files. `save` writes it under a temporary name and
renames it into place, so a crash never leaves half a bundle; `load` checks ``meta.json``
once (present, right kind, the format version the model class expects) before anything is
unpickled. Each model class keeps its own ``FORMAT_VERSION`` and passes it in.

The champions are exported here too. The MLflow registry is the source of truth for versions
and aliases; on each promotion or rollback (`paperrec.train.registry`) the champion's bundle
is copied into ``PAPERREC_HOME/champions/<topics|ranker>/v<N>/`` and the pointer file
``champions/<key>.json`` is replaced atomically. Serving and the CLI's scoring read only
this directory (`champion`), so they never import MLflow.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paperrec.config import Settings
from paperrec.errors import ModelNotTrainedError, PaperrecError
from paperrec.store.files import write_output

KINDS = {"topics": "paperrec-topics", "ranker": "paperrec-ranker"}
_NAMES = {"topics": "topic", "ranker": "ranking"}  # "no topic model at ..."
_META = "meta.json"


@dataclass(frozen=True)
class Bundle:
    """A checked bundle: its ``meta.json`` and the objects of its joblib files by name."""

    directory: Path
    meta: dict
    parts: dict[str, object]

    def text(self, name: str) -> str:
        return (self.directory / name).read_text(encoding="utf-8")


def save(directory: Path, key: str, meta: dict, files: dict[str, object], *, version: int) -> Path:
    """Write a ``key`` (``topics`` or ``ranker``) bundle to ``directory``, atomically.

    ``files`` maps file names to contents: a ``str`` is written as UTF-8 text, anything else
    (under a ``.joblib`` name) with joblib. ``meta`` gets ``kind`` and ``format_version``
    (``version``). An existing bundle at ``directory`` is replaced whole.
    """
    import joblib

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        for name, content in files.items():
            if isinstance(content, str):
                (partial / name).write_text(content, encoding="utf-8")
            else:
                joblib.dump(content, partial / name)
        full = {"format_version": version, "kind": KINDS[key], **meta}
        (partial / _META).write_text(json.dumps(full, indent=2, default=str), encoding="utf-8")
        replace_dir(partial, directory)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return directory


def load(directory: Path, key: str, *, version: int, require: dict | None = None) -> Bundle:
    """The bundle at ``directory``, its ``meta.json`` checked and its joblib files loaded.

    ``version`` is the format the caller's model class reads; ``require`` names meta fields
    that must hold exactly these values (the ranker's feature names, say). Raises
    ModelNotTrainedError when there is no bundle, PaperrecError when it is of another kind,
    format or ``require``d value, or cannot be read.
    """
    import joblib

    directory = Path(directory)
    meta = read_meta(directory, key, version=version, require=require)
    try:
        parts = {p.name: joblib.load(p) for p in sorted(directory.glob("*.joblib"))}
    except Exception as exc:  # unpickling raises anything the bytes happen to trigger
        raise PaperrecError(f"cannot read the {_NAMES[key]} model at {directory}: {exc}") from exc
    return Bundle(directory, meta, parts)


def read_meta(directory: Path, key: str, *, version: int, require: dict | None = None) -> dict:
    """``meta.json`` of the ``key`` bundle at ``directory``, checked (see `load`)."""
    path = Path(directory) / _META
    if not path.is_file():
        raise ModelNotTrainedError(
            f"no {_NAMES[key]} model at {directory}; run `paperrec train {key}`"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PaperrecError(f"cannot read {path}: {exc}") from exc
    if meta.get("kind") != KINDS[key] or meta.get("format_version") != version:
        found = f"{meta.get('kind')} format {meta.get('format_version')}"
        raise PaperrecError(
            f"{directory} is not a paperrec {_NAMES[key]} model of format {version} "
            f"(found {found}); retrain it with `paperrec train {key}`"
        )
    for name, value in (require or {}).items():
        if meta.get(name) != value:
            raise PaperrecError(
                f"{directory} was trained with other {name}; retrain it with `paperrec train {key}`"
            )
    return meta


def describe(directory: Path) -> dict:
    """``meta.json`` of the bundle at ``directory`` as it is, unchecked (for documents such as
    the model cards; `load` is what checks it)."""
    return json.loads((Path(directory) / _META).read_text(encoding="utf-8"))


# -- the exported champions ----------------------------------------------------------------
def champions_dir(settings: Settings) -> Path:
    return settings.home / "champions"


def export_champion(settings: Settings, key: str, bundle: Path, version: str) -> Path:
    """Copy ``bundle`` (registered ``version``) in as the ``key`` champion; returns its path.

    The copy is complete before the pointer file moves to it, so a reader sees the old
    champion or the new one, never a mixture.
    """
    root = champions_dir(settings) / key
    target = root / f"v{version}"
    if not (target / _META).is_file():
        root.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=root, prefix=f".v{version}."))
        try:
            shutil.copytree(bundle, partial, dirs_exist_ok=True)
            replace_dir(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    try:
        replaced = champion(settings, key)[0].name
    except PaperrecError:  # no champion exported yet (or an unreadable pointer)
        replaced = None
    pointer = {"version": str(version), "path": f"{key}/v{version}"}
    write_output(champions_dir(settings) / f"{key}.json", json.dumps(pointer))
    for path in root.iterdir():  # keep the one replaced: a reload may still be reading it
        if path.name not in (target.name, replaced):
            shutil.rmtree(path, ignore_errors=True)
    return target


def champion(settings: Settings, key: str) -> tuple[Path, str]:
    """Directory and registry version of the exported ``key`` champion.

    ModelNotTrainedError when none was exported (no model trained, or promoted before
    exports existed: `paperrec models promote` exports it again).
    """
    path = champions_dir(settings) / f"{key}.json"
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelNotTrainedError(
            f"no champion {_NAMES[key]} model in {champions_dir(settings)}; "
            f"run `paperrec train {key}` "
            f"or `paperrec retrain` (or `paperrec models promote VERSION --model {key}` to "
            "export a registered one)"
        ) from None
    except (OSError, ValueError) as exc:
        raise PaperrecError(f"cannot read {path}: {exc}") from exc
    return champions_dir(settings) / pointer["path"], str(pointer["version"])


def champion_versions(settings: Settings) -> dict[str, str]:
    """``{key: version}`` of the exported champions (a key without one is left out)."""
    found = {}
    for key in KINDS:
        try:
            found[key] = champion(settings, key)[1]
        except ModelNotTrainedError:
            pass
    return found


def replace_dir(partial: Path, target: Path) -> None:
    """Move the finished directory ``partial`` to ``target``, replacing an old one (also
    `paperrec.topics.portable`'s writer)."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        partial.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        partial.rename(target)
