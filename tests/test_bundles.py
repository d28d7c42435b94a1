"""Model bundles on disk (paperrec.bundles): atomic save, one meta.json check, champion export."""

from __future__ import annotations

import json
import pickle

import pytest

from paperrec import bundles
from paperrec.config import Settings
from paperrec.errors import ModelNotTrainedError, PaperrecError

VERSION = 7  # any format number: the model classes pass their own


def _save(directory, value="a", key="topics"):
    files = {"parts.joblib": {"x": value}, "t.txt": value}
    return bundles.save(directory, key, {"note": value}, files, version=VERSION)


def _load(directory, key="topics"):
    return bundles.load(directory, key, version=VERSION)


def test_save_and_load_round_trip(tmp_path):
    directory = _save(tmp_path / "b")
    assert sorted(p.name for p in directory.iterdir()) == ["meta.json", "parts.joblib", "t.txt"]
    bundle = _load(directory)
    assert bundle.parts == {"parts.joblib": {"x": "a"}} and bundle.text("t.txt") == "a"
    assert bundle.meta == {
        "format_version": VERSION,
        "kind": "paperrec-topics",
        "note": "a",
    }


def test_save_replaces_a_bundle_whole_and_leaves_no_temporary(tmp_path):
    _save(tmp_path / "b", "old")
    bundles.save(tmp_path / "b", "topics", {}, {"other.joblib": [1]}, version=VERSION)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["meta.json", "other.joblib"]
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_a_failed_save_leaves_the_old_bundle(tmp_path):
    _save(tmp_path / "b", "old")
    with pytest.raises(pickle.PicklingError):
        bundles.save(tmp_path / "b", "topics", {}, {"bad.joblib": lambda: None}, version=VERSION)
    assert _load(tmp_path / "b").meta["note"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_meta_is_checked_before_unpickling(tmp_path):
    directory = _save(tmp_path / "b")
    (directory / "parts.joblib").write_bytes(b"not a pickle")
    with pytest.raises(
        PaperrecError, match="is not a paperrec ranking model .*paperrec train ranker"
    ):
        _load(directory, "ranker")
    with pytest.raises(PaperrecError, match="of format 8"):
        bundles.load(directory, "topics", version=VERSION + 1)
    with pytest.raises(PaperrecError, match="cannot read the topic model"):
        _load(directory)
    with pytest.raises(PaperrecError, match="trained with other note"):
        bundles.read_meta(directory, "topics", version=VERSION, require={"note": "b"})
    with pytest.raises(ModelNotTrainedError, match="no topic model at"):
        _load(tmp_path / "nowhere")


def test_export_points_at_the_champion_and_keeps_the_one_it_replaced(tmp_path):
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(ModelNotTrainedError, match="no champion topic model"):
        bundles.champion(settings, "topics")
    assert bundles.champion_versions(settings) == {}
    for version in ("1", "2", "3"):
        bundles.export_champion(
            settings, "topics", _save(tmp_path / f"src{version}", version), version
        )
        path, found = bundles.champion(settings, "topics")
        assert found == version and _load(path).meta["note"] == version
    exported = sorted(p.name for p in (bundles.champions_dir(settings) / "topics").iterdir())
    assert exported == ["v2", "v3"]
    bundles.export_champion(settings, "topics", tmp_path / "src2", "2")  # a rollback
    assert bundles.champion_versions(settings) == {"topics": "2"}
    pointer = json.loads((bundles.champions_dir(settings) / "topics.json").read_text())
    assert pointer == {"version": "2", "path": "topics/v2"}
