"""`paperrec score`, `evaluate --gold` and `label` as a user runs them, on a copy of the
session's small trained installation (champion topic model in its MLflow registry)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperrec.cli import app

pytestmark = pytest.mark.slow  # needs the session's trained installation (trained_home)
runner = CliRunner()
GOLD_PAPERS = 120  # from the head of the pool: its embeddings are in the session cache

PAPERS = [
    {
        "id": "2401.00001v2",
        "title": "Proximal policy optimization for sparse-reward robot manipulation",
        "abstract": "We train a reinforcement learning agent with policy gradient methods and "
        "reward shaping to grasp objects with a robotic arm, and transfer the policy from "
        "simulation to a real robot.",
        "categories": ["cs.RO"],  # ignored: scoring reads title and abstract only
    },
    {
        "id": "my own paper",
        "title": "Low-rank adapters for instruction tuning of large language models",
        "abstract": "We study parameter-efficient fine-tuning with LoRA adapters for instruction "
        "tuning large language models, matching full fine-tuning at a fraction of the memory.",
    },
    {
        "title": "Diffusion models for text-to-image generation",
        "abstract": "A denoising diffusion model generates images from text prompts; we improve "
        "sample quality with a new noise schedule and classifier-free guidance.",
    },
]


@pytest.fixture(scope="module")
def cli_home(trained_home, session_cache, tmp_path_factory) -> Path:
    """A private copy of the trained home whose embedding cache holds the session's vectors,
    so commands read the corpus without re-encoding it and never write to the shared home."""
    home = tmp_path_factory.mktemp("cli-models") / "home"
    shutil.copytree(trained_home, home, ignore=shutil.ignore_patterns("embeddings.sqlite*"))
    source, target = (
        sqlite3.connect(session_cache.path),
        sqlite3.connect(home / "embeddings.sqlite"),
    )
    with target:
        source.backup(target)
    source.close()
    target.close()
    return home


@pytest.fixture()
def env(cli_home, monkeypatch) -> Path:
    monkeypatch.setenv("PAPERREC_HOME", str(cli_home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PAPERREC_DATABASE_URL", raising=False)
    return cli_home


@pytest.fixture(scope="module")
def champion(cli_home):
    from paperrec.config import Settings
    from paperrec.runtime import Runtime
    from paperrec.serving.predictor import Predictor

    return Predictor.load(Runtime(Settings(home=cli_home)), ranker=False).topic_model


def _jsonl(path: Path, rows) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def _pool_head(shared_dir: Path, target: Path, n: int) -> Path:
    with (shared_dir / "data" / "arxiv_pool.jsonl").open(encoding="utf-8") as source:
        target.write_text(
            "".join(line for _, line in zip(range(n), source, strict=False)), encoding="utf-8"
        )
    return target


def test_score_writes_one_row_per_input(env, champion, tmp_path):
    source = _jsonl(tmp_path / "in.jsonl", PAPERS)
    target = tmp_path / "out" / "scored.jsonl"
    result = runner.invoke(app, ["score", str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "scored 3 papers with topics v" in result.stdout
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3
    assert [r["id"] for r in rows[:2]] == ["2401.00001v2", "my own paper"]  # as given
    assert rows[2]["id"].startswith("title:")  # no id given: the stable title key
    thresholds = dict(zip(champion.topic_ids, champion.classifier.thresholds_, strict=True))
    for row in rows:
        assert set(row) == {"id", "topics", "labels", "thresholds"}
        assert row["thresholds"] == {t: pytest.approx(th, abs=1e-4) for t, th in thresholds.items()}
        assert list(row["topics"]) == list(champion.topic_ids)
        assert all(0 <= p <= 1 for p in row["topics"].values())
        # labels: every topic at or above its threshold (probabilities are rounded to 4 places)
        for topic, p in row["topics"].items():
            if topic in row["labels"]:
                assert p >= thresholds[topic] - 1e-4
            else:
                assert p < thresholds[topic] + 1e-4
        ordered = [row["topics"][t] for t in row["labels"]]
        assert ordered == sorted(ordered, reverse=True)
    assert "reinforcement-learning" in rows[0]["labels"]


def test_score_ignores_categories(env, tmp_path):
    with_categories = _jsonl(tmp_path / "a.jsonl", PAPERS[:1])
    without = _jsonl(
        tmp_path / "b.jsonl", [{k: v for k, v in PAPERS[0].items() if k != "categories"}]
    )
    first = runner.invoke(app, ["score", str(with_categories)])
    second = runner.invoke(app, ["score", str(without)])
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert json.loads(first.stdout) == json.loads(second.stdout)  # '-o' defaults to stdout


def test_score_rejects_bad_rows_and_writes_nothing(env, tmp_path):
    source = _jsonl(
        tmp_path / "bad.jsonl",
        [
            PAPERS[0],
            '{"id": "x", "title": "broken',
            {"id": "y", "title": "No abstract", "abstract": ""},
        ],
    )
    target = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(source), "-o", str(target)])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"{source}:2: malformed JSON" in message
    assert f"{source}:3: empty abstract" in message
    assert "nothing written" in message
    assert "Traceback" not in result.output
    assert not target.exists() and list(tmp_path.iterdir()) == [source]


def test_score_missing_file(env, tmp_path):
    result = runner.invoke(app, ["score", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1
    assert "nope.jsonl: no such file" in " ".join(result.stderr.split())


def test_evaluate_prints_macro_f1_for_the_classifier_and_the_rules(env, shared_dir, tmp_path):
    gold = _pool_head(shared_dir, tmp_path / "gold.jsonl", GOLD_PAPERS)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--no-ceiling"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    match = re.search(
        rf"area macro-F1 on {GOLD_PAPERS} papers \((\d+) areas, without machine-learning and "
        r"artificial-intelligence\): "
        r"classifier (\d\.\d{3}), majority_vote (\d\.\d{3}), zero_shot (\d\.\d{3})",
        text,
    )
    assert match, text
    assert "ceiling" not in text
    assert "computer-vision" in text  # the per-area table


def test_evaluate_json(env, shared_dir, tmp_path):
    gold = _pool_head(shared_dir, tmp_path / "gold.jsonl", GOLD_PAPERS)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--no-ceiling", "--json"])
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)
    assert set(evaluation["macro_f1"]) == {"classifier", "majority_vote", "zero_shot"}
    assert evaluation["n_papers"] == GOLD_PAPERS
    assert "machine-learning" not in evaluation["areas"]


def test_evaluate_without_gold(env):
    result = runner.invoke(app, ["evaluate"])
    assert result.exit_code == 1
    assert "--gold FILE" in result.stderr


def test_label_prints_the_lf_report(env):
    from paperrec.topics.labeling import generate_lfs
    from paperrec.topics.taxonomy import load_taxonomy

    n_lfs = len(generate_lfs(load_taxonomy()))
    result = runner.invoke(app, ["label", "--top", "5"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert re.search(rf"labeling functions \({n_lfs}\) on \d{{4}} papers", text), text
    for column in ("coverage", "overlap", "conflict", "learned acc"):
        assert column in text
    assert re.search(r"majority vote vs label model: positive rate 0\.\d{3} vs 0\.\d{3}", text)


def test_label_json_with_dev_accuracy(env, shared_dir, tmp_path):
    dev = _pool_head(shared_dir, tmp_path / "dev.jsonl", GOLD_PAPERS)
    result = runner.invoke(app, ["label", "--json", "--dev", str(dev)])
    assert result.exit_code == 0, result.output
    rows = {row["lf"]: row for row in json.loads(result.stdout)}
    assert {"kw_title:nlp", "sim:nlp", "arxiv:nlp", "kw_abstract:pretraining"} <= set(rows)
    assert 0 < rows["arxiv:nlp"]["coverage"] <= 1
    assert rows["sim:nlp"]["dev_accuracy"] is not None  # areas have gold on the dev file
    assert rows["kw_abstract:pretraining"]["dev_accuracy"] is None  # fine topics do not


@pytest.mark.parametrize("command", [["train", "ranker"], ["evaluate", "ranker"]])
def test_ranker_pages_must_exist_and_a_folder_must_hold_pages(env, tmp_path, command):
    result = runner.invoke(app, [*command, "--pages", str(tmp_path / "missing.txt")])
    assert result.exit_code == 1
    assert "no such page file or folder" in result.output and "missing.txt" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, [*command, "--pages", str(empty)])
    assert result.exit_code == 1 and "no .txt pages in this folder" in result.output
