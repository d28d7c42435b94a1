"""The parts of ``paperrec retrain`` that need no model: its config file, its sources
(ingest with --since), the data snapshot that decides whether anything is new, and the
code provenance it logs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from paperrec.errors import InputError
from paperrec.papers.sources import expand
from paperrec.runtime import Runtime
from paperrec.train import snapshot as snapshot_module
from paperrec.train.refresh import ingest_sources
from paperrec.train.retrain_config import RetrainConfig, load_retrain_config
from paperrec.train.snapshot import provenance, take_snapshot


def expand_retrain(entries):
    return expand(entries, noun="retrain source")


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path, rows):
    return write(path, "".join(json.dumps(row) + "\n" for row in rows))


def paper_row(n: int, date: str | None = "2026-05-01", **extra) -> dict:
    return {
        "id": f"2605.{n:05d}",
        "title": f"Paper number {n} on sparse attention",
        "abstract": f"We study sparse attention variant {n} and report its accuracy.",
        "categories": ["cs.LG"],
        "date": date,
        **extra,
    }


# -- config file --------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def test_paths_may_name_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DEV", "dev.jsonl")
    path = write(tmp_path / "retrain.yaml", "sources: ['${DATA_DIR}/*.jsonl']\ntopics_eval: $DEV\n")
    config = load_retrain_config(path)
    assert config.sources == [str(tmp_path / "data" / "*.jsonl")]
    assert config.topics_eval == str(tmp_path / "dev.jsonl")
    monkeypatch.delenv("DEV")
    with pytest.raises(InputError, match=r"retrain.yaml: '\$DEV' names \$DEV, which is not set"):
        load_retrain_config(path)


def test_the_demo_configs_in_training_load(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERREC_SHARED_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("PAPERREC_DEMO_DIR", str(tmp_path / "demo"))
    demo = load_retrain_config(REPO / "training" / "demo.yaml")
    assert demo.sources == [
        str(tmp_path / "shared" / "seeds" / "*.txt"),
        str(tmp_path / "demo" / "arxiv_pool_slice.jsonl"),
        str(tmp_path / "demo" / "arxiv_pool_noncs_slice.jsonl"),
    ]
    assert demo.topics_eval == str(tmp_path / "demo" / "arxiv_dev_slice.jsonl")
    assert demo.draws == 2
    arxiv = load_retrain_config(REPO / "training" / "demo-arxiv.yaml")
    assert arxiv.sources == ["arxiv:cs.LG", "arxiv:cs.CL", "arxiv:cs.CV", "arxiv:cs.AI"]
    assert arxiv.arxiv_max_results == 3000


def test_no_file_means_the_defaults_and_settings_fill_the_gaps(settings):
    config = load_retrain_config(None)
    assert config == RetrainConfig()
    assert config.source_list(settings) == settings.retrain_sources
    assert config.gate_tolerance(settings) == settings.gate_tolerance == 0.01
    assert config.topic_training().random_state == 0


def test_settings_read_sources_and_tolerance_from_the_environment(monkeypatch, home):
    from paperrec.config import Settings

    monkeypatch.setenv("PAPERREC_RETRAIN_SOURCES", '["a/*.jsonl", "arxiv:cs.LG"]')
    monkeypatch.setenv("PAPERREC_GATE_TOLERANCE", "0.05")
    settings = Settings()
    assert settings.retrain_sources == ["a/*.jsonl", "arxiv:cs.LG"]
    assert RetrainConfig().gate_tolerance(settings) == 0.05
    assert RetrainConfig(tolerance=0.0).gate_tolerance(settings) == 0.0


def test_file_paths_are_relative_to_the_file_and_seed_reaches_both_models(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    path = write(
        folder / "retrain.yaml",
        "sources: [data/*.jsonl, 'arxiv:cs.LG']\npages: [seeds/a.txt]\ntopics_eval: dev.jsonl\n"
        "seed: 7\ntopics: {classifier: {n_estimators: 5}}\nranker: {repeats: 1}\n",
    )
    config = load_retrain_config(path)
    assert config.sources == [str(folder / "data/*.jsonl"), "arxiv:cs.LG"]
    assert config.pages == [str(folder / "seeds/a.txt")]
    assert config.topics_eval == str(folder / "dev.jsonl")
    assert config.topic_training().random_state == config.ranker_training().random_state == 7
    assert config.topic_training().classifier == {"n_estimators": 5}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("seed: 1\n  tolerance: 2\n", "retrain.yaml:2: not valid YAML: mapping values"),
        ("- a\n- b\n", "a mapping of fields"),
        ("tolerence: 0.1\n", "tolerence: Extra inputs are not permitted; available: sources"),
        ("tolerance: -1\n", "tolerance: Input should be greater than or equal to 0"),
        (
            "ranker: {trees: 5}\n",
            "ranker: unknown field(s) trees; available: author_repeats, author_negatives",
        ),
        ("topics: {random_state: 3}\n", "random_state comes from seed"),
    ],
)
def test_bad_config_names_the_file_and_the_field(tmp_path, text, says):
    with pytest.raises(InputError, match="retrain.yaml") as error:
        load_retrain_config(write(tmp_path / "retrain.yaml", text))
    assert says in str(error.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="no such retrain config file"):
        load_retrain_config(tmp_path / "nope.yaml")


def test_config_hash_follows_what_shapes_the_models():
    base = RetrainConfig()
    assert base.sha256() == RetrainConfig(sources=["other.jsonl"]).sha256()
    assert base.sha256() != RetrainConfig(seed=1).sha256()
    assert base.sha256() != RetrainConfig(ranker={"repeats": 1}).sha256()


# -- sources ------------------------------------------------------------------------------
def test_sources_expand_globs_and_find_the_seed_pages(tmp_path):
    jsonl(tmp_path / "a.jsonl", [paper_row(1)])
    jsonl(tmp_path / "b.jsonl", [paper_row(2)])
    page = write(tmp_path / "page.txt", "Trending Papers\nSubscribe\n")
    sources = expand_retrain([str(tmp_path / "*.jsonl"), str(page), "arxiv:cs.LG"])
    assert [p.name for p, _ in sources.files] == ["a.jsonl", "b.jsonl", "page.txt"]
    assert sources.pages == [page] and sources.categories == ["cs.LG"]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("missing/*.jsonl", "matches no file"),
        ("nothing.jsonl", "no such retrain source file or folder"),
        ("arxiv:", "names no category"),
    ],
)
def test_bad_sources_are_named(tmp_path, entry, says):
    with pytest.raises(InputError, match=says):
        expand_retrain([str(tmp_path / entry) if not entry.startswith("arxiv") else entry])


def test_since_keeps_newer_and_undated_papers_and_a_rerun_adds_nothing(settings, tmp_path):
    rows = [paper_row(1, "2026-04-30"), paper_row(2, "2026-05-01"), paper_row(3, None)]
    sources = expand_retrain([str(jsonl(tmp_path / "papers.jsonl", rows))])
    runtime = Runtime(settings)
    first = ingest_sources(runtime, sources, since=dt.date(2026, 5, 1))
    assert first.counts.added == 2
    assert {p.id for p in runtime.store.papers.iter_papers()} == {"2605.00002", "2605.00003"}
    again = ingest_sources(runtime, sources)
    assert (again.counts.added, again.counts.unchanged) == (1, 2)
    assert ingest_sources(runtime, sources).counts.added == 0


# -- snapshot -----------------------------------------------------------------------------
class _Embedder:
    model_id = "test-model"


def _snapshot(runtime, eval_papers=()):
    return take_snapshot(runtime, runtime.store.papers.iter_papers(), list(eval_papers))


def test_snapshot_changes_with_papers_votes_and_evaluation_data(settings, tmp_path):
    from paperrec.users.profiles import add_user, record_feedback

    runtime = Runtime(settings)
    runtime.embedder = _Embedder()
    rows = [paper_row(n) for n in range(1, 14)]
    ingest_sources(runtime, expand_retrain([str(jsonl(tmp_path / "a.jsonl", rows))]))
    first = _snapshot(runtime)
    assert (first.papers, first.papers_with_categories, first.users, first.votes) == (13, 13, 0, 0)
    assert _snapshot(runtime).content_hash == first.content_hash  # same data, same hash

    # seed papers alone train nothing: the hash stays
    add_user(runtime.store, "ada", "ada@example.org", seeds=["2605.00001"])
    assert _snapshot(runtime).content_hash == first.content_hash
    # ten votes on shown papers, some up and some down, make a ranker training query
    shown = [f"2605.{n:05d}" for n in range(2, 12)]
    runtime.store.users.mark_shown("ada", shown)
    for n, paper_id in enumerate(shown):
        record_feedback(runtime.store, "ada", paper_id, "up" if n % 2 else "down")
    with_votes = _snapshot(runtime)
    assert (with_votes.users, with_votes.votes) == (1, 10)
    assert with_votes.content_hash != first.content_hash
    record_feedback(runtime.store, "ada", shown[0], "up")  # a changed vote
    assert _snapshot(runtime).content_hash != with_votes.content_hash

    papers = runtime.store.papers.iter_papers()
    assert _snapshot(runtime, papers[:1]).content_hash != _snapshot(runtime).content_hash
    ingest_sources(runtime, expand_retrain([str(jsonl(tmp_path / "b.jsonl", [paper_row(20)]))]))
    assert _snapshot(runtime).papers == 14


def test_provenance_names_the_package_and_the_commit():
    found = provenance()
    assert found["package_version"] == "0.1.0"
    assert found["git_commit"] == "unknown" or len(found["git_commit"].split("-")[0]) == 40


def test_provenance_without_git_says_unknown(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert snapshot_module.provenance()["git_commit"] == "unknown"


def test_the_demo_slice_of_the_other_fields_takes_each_primary_category_in_turn(tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("demo", REPO / "training" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    rows = [{"id": f"a{i}", "categories": ["astro-ph.GA"]} for i in range(8)]
    rows += [{"id": "s0", "categories": ["stat.ME", "math.ST"]}, {"id": "q0", "categories": []}]
    source = tmp_path / "pool.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    target = demo.balanced(source, tmp_path / "slice.jsonl", 5)
    ids = [json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines()]
    assert ids == ["q0", "a0", "s0", "a1", "a2"]  # the rare ones first come, in file order


def test_the_demo_slice_of_the_other_fields_ends_where_the_cs_slice_ends(tmp_path):
    """Otherwise the newest stored day (the web app's Today, the demo's digest) holds only
    the stray non-CS papers dated after the CS slice."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("demo", REPO / "training" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    cs = tmp_path / "cs.jsonl"
    cs.write_text(
        "".join(json.dumps({"id": f"c{d}", "date": f"2025-08-1{d}"}) + "\n" for d in (7, 8, 6)),
        encoding="utf-8",
    )
    rows = [
        {"id": "early", "categories": ["math.ST"], "date": "2025-08-01"},
        {"id": "late", "categories": ["astro-ph.GA"], "date": "2026-07-22"},
        {"id": "same-day", "categories": ["q-bio.NC"], "date": "2025-08-18"},
    ]
    source = tmp_path / "pool.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert demo.last_day_in(cs) == "2025-08-18"
    target = demo.balanced(source, tmp_path / "slice.jsonl", 5, until=demo.last_day_in(cs))
    ids = [json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines()]
    assert ids == ["early", "same-day"]
