"""The one road for papers (paperrec.papers.sources.road): what a spec names (files, globs,
folders, arxiv:CATEGORY) and its papers and problems, kept apart."""

from __future__ import annotations

import json

import pytest

from paperrec.errors import InputError
from paperrec.papers.sources import Problem, expand, papers_of, read

PAGE = "Trending Papers\nSubscribe\n"


def _jsonl(path, *ids: str, bad: bool = False):
    rows = [json.dumps({"id": i, "title": f"Title {i}", "abstract": f"About {i}."}) for i in ids]
    path.write_text("\n".join(rows + (["{not json"] if bad else [])) + "\n", encoding="utf-8")
    return path


def test_a_spec_names_files_globs_folders_and_categories(tmp_path):
    a = _jsonl(tmp_path / "a.jsonl", "2401.00001")
    b = _jsonl(tmp_path / "b.jsonl", "2401.00002")
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "2.txt").write_text(PAGE, encoding="utf-8")
    (pages / "1.txt").write_text(PAGE, encoding="utf-8")
    (pages / "notes.md").write_text("not a page", encoding="utf-8")
    named = expand([str(tmp_path / "*.jsonl"), pages, "arxiv:cs.LG", b])
    assert named.files == [
        (a, "jsonl"),
        (b, "jsonl"),
        (pages / "1.txt", "hf-page"),
        (pages / "2.txt", "hf-page"),
        (b, "jsonl"),
    ]
    assert named.categories == ["cs.LG"]
    assert named.pages == [pages / "1.txt", pages / "2.txt"]
    assert expand([pages], "hf-page", noun="page").pages == [pages / "1.txt", pages / "2.txt"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("missing.jsonl", "missing.jsonl: no such page file or folder"),
        ("missing/*.jsonl", "missing/*.jsonl: page pattern matches no file"),
        ("empty", "empty: no .txt pages in this folder"),
        ("arxiv: ", "page 'arxiv: ' names no category or id, e.g. arxiv:cs.LG or arxiv:2401.01234"),
    ],
)
def test_a_spec_that_names_nothing_is_one_line(tmp_path, spec, says):
    (tmp_path / "empty").mkdir()
    target = spec if spec.startswith("arxiv") else str(tmp_path / spec)
    with pytest.raises(InputError) as error:
        expand([target], "hf-page", noun="page")
    assert str(error.value).endswith(says) and "\n" not in str(error.value)


def test_read_keeps_papers_and_problems_apart(tmp_path):
    _jsonl(tmp_path / "a.jsonl", "2401.00001", "2401.00002", bad=True)
    _jsonl(tmp_path / "b.jsonl", "2401.00003")
    reading = read(str(tmp_path / "*.jsonl"))
    assert [p.id for p in reading.papers] == ["2401.00001", "2401.00002", "2401.00003"]
    assert [(p.path, p.line) for p in reading.problems] == [(str(tmp_path / "a.jsonl"), 3)]


def test_papers_of_streams_and_collects_problems():
    problems: list[Problem] = []
    bad = Problem("f", 2, "empty title")
    records = iter(["paper-1", bad, "paper-2"])
    stream = papers_of(records, problems)
    assert next(stream) == "paper-1" and problems == []
    assert list(stream) == ["paper-2"] and problems == [bad]
