"""Champion history in the real MLflow registry (SQLite under a tmp PAPERREC_HOME):
promote, roll back one model or the last promotion, pairs from one retrain, and the
one-line errors of ``paperrec models promote | rollback``. The registered bundles are
stand-ins (a directory with a meta.json): nothing here loads them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from paperrec.cli import app
from paperrec.errors import ModelNotTrainedError, NotFoundError, PaperrecError
from paperrec.train import registry
from paperrec.train.promotion import promote_version, rollback
from paperrec.train.retrain import PAIR_TAG
from paperrec.train.tracking import tracked_run

TOPICS, RANKER = registry.TOPICS_MODEL, registry.RANKER_MODEL


def register(settings, tmp_path, name: str) -> str:
    bundle = tmp_path / f"bundle-{name}"
    bundle.mkdir(exist_ok=True)
    (bundle / "meta.json").write_text('{"kind": "stand-in"}', encoding="utf-8")
    with tracked_run(settings, "registry-tests", "register"):
        return registry.register_bundle(settings, bundle, name)


def pair(settings, tmp_path) -> tuple[str, str]:
    """A topic model and a ranker tagged as trained together, as a retrain leaves them."""
    topics, ranker = register(settings, tmp_path, TOPICS), register(settings, tmp_path, RANKER)
    registry.tag_version(settings, TOPICS, topics, {PAIR_TAG: ranker})
    registry.tag_version(settings, RANKER, ranker, {PAIR_TAG: topics})
    return topics, ranker


def champions(settings) -> tuple[str | None, str | None]:
    return tuple(registry.alias_version(settings, n, registry.CHAMPION) for n in (TOPICS, RANKER))


def test_promotions_are_remembered_and_rolled_back_in_order(settings, tmp_path):
    versions = [register(settings, tmp_path, TOPICS) for _ in range(3)]
    assert registry.promote(settings, TOPICS, versions[0]) is None
    assert registry.promote(settings, TOPICS, versions[1]) == versions[0]
    assert registry.promote(settings, TOPICS, versions[2]) == versions[1]
    assert [p.version for p in registry.champion_history(settings, TOPICS)] == versions
    assert registry.alias_version(settings, TOPICS, registry.PREVIOUS) == versions[1]

    assert registry.rollback(settings, TOPICS) == (versions[2], versions[1])
    assert registry.alias_version(settings, TOPICS, registry.PREVIOUS) == versions[0]
    assert registry.rollback(settings, TOPICS) == (versions[1], versions[0])
    assert registry.alias_version(settings, TOPICS, registry.PREVIOUS) is None
    with pytest.raises(PaperrecError, match=f"no champion before {TOPICS} v{versions[0]}"):
        registry.rollback(settings, TOPICS)
    assert champions(settings)[0] == versions[0]


def test_a_champion_set_outside_paperrec_still_counts(settings, tmp_path):
    first, second = register(settings, tmp_path, TOPICS), register(settings, tmp_path, TOPICS)
    registry.set_alias(settings, TOPICS, registry.CHAMPION, first)  # e.g. in the MLflow UI
    registry.promote(settings, TOPICS, second)
    assert registry.rollback(settings, TOPICS) == (second, first)


def test_a_pair_is_promoted_and_rolled_back_together(settings, tmp_path):
    old = pair(settings, tmp_path)
    new = pair(settings, tmp_path)
    assert promote_version(settings, "topics", old[0]) == {
        "topics": (None, old[0]),
        "ranker": (None, old[1]),
    }
    promote_version(settings, "ranker", new[1])  # by the ranker's version: its topics come along
    assert champions(settings) == new
    assert rollback(settings) == {"topics": (new[0], old[0]), "ranker": (new[1], old[1])}
    assert champions(settings) == old


def test_rollback_undoes_only_the_last_promotion(settings, tmp_path):
    first = pair(settings, tmp_path)
    second = pair(settings, tmp_path)
    promote_version(settings, "topics", first[0])
    promote_version(settings, "topics", second[0])
    alone = register(settings, tmp_path, TOPICS)
    promote_version(settings, "topics", alone, alone=True)
    assert champions(settings) == (alone, second[1])
    assert rollback(settings) == {"topics": (alone, second[0])}  # the ranker stays
    assert champions(settings) == second
    assert rollback(settings, "ranker") == {"ranker": (second[1], first[1])}
    assert champions(settings) == (second[0], first[1])


def test_bad_requests_get_one_clear_error(settings, tmp_path):
    with pytest.raises(ModelNotTrainedError, match="no champion to roll back"):
        rollback(settings)
    version = register(settings, tmp_path, TOPICS)
    with pytest.raises(NotFoundError, match=f"{TOPICS} has no version 99; registered: {version}"):
        promote_version(settings, "topics", "99")
    with pytest.raises(PaperrecError, match="unknown model 'words'; available: ranker, topics"):
        promote_version(settings, "words", version)
    promote_version(settings, "topics", version)
    with pytest.raises(PaperrecError, match="nothing to roll back to"):
        rollback(settings)


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_models_commands(settings, tmp_path):
    assert "no registered models yet" in cli("models", "list").output
    result = cli("models", "rollback")
    assert result.exit_code == 1 and "no champion to roll back" in result.output
    first, second = pair(settings, tmp_path), pair(settings, tmp_path)
    result = cli("models", "promote", "7")
    assert result.exit_code == 1
    assert f"error: {TOPICS} has no version 7; registered: 1, 2" in " ".join(result.output.split())
    assert cli("models", "promote", first[0]).exit_code == 0
    result = cli("models", "promote", second[0])
    assert result.exit_code == 0
    assert f"topics v{second[0]} is now the champion (was v{first[0]})" in result.output
    assert f"ranker v{second[1]} is now the champion (was v{first[1]})" in result.output
    assert "already the champion" in cli("models", "promote", second[0]).output
    listed = cli("models", "list", "--json")
    rows = {(r["model"], r["version"]): r for r in json.loads(listed.output)}
    assert rows[("topics", second[0])]["aliases"] == ["champion"]
    assert rows[("topics", first[0])]["aliases"] == ["previous-champion"]
    assert rows[("ranker", second[1])]["pair"] == second[0]
    result = cli("models", "rollback")
    assert result.exit_code == 0
    assert f"topics: champion v{second[0]} -> v{first[0]}" in result.output
    assert champions(settings) == first
