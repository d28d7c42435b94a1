"""JSON Lines and CSV parsers: happy paths and every kind of bad record, each with its line."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from paperrec.papers.sources import detect_format, read_path
from paperrec.papers.sources.base import Problem
from paperrec.papers.sources.tabular import parse_csv, parse_jsonl

HEADER = "id,title,abstract,categories,date\n"


def _split(records):
    papers = [r for r in records if not isinstance(r, Problem)]
    problems = {r.line: r.message for r in records if isinstance(r, Problem)}
    return papers, problems


def _jsonl(tmp_path, *lines: str | dict | bytes):
    path = tmp_path / "papers.jsonl"
    raw = b""
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        raw += (line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n"
    path.write_bytes(raw)
    return path


# -- JSON Lines ---------------------------------------------------------------------------
def test_jsonl_happy_path(tmp_path):
    path = _jsonl(
        tmp_path,
        {"id": "2401.00001v2", "title": "  Sparse\n Routing ", "abstract": "Abs  one.",
         "categories": ["cs.LG", "stat.ML"], "date": "2024-01-02", "extra": 1,
         "authors": ["Ada Lovelace", " Alan Turing "]},
        "",  # blank lines are skipped, not reported
        {"title": "No Id Here", "abstract": "Abs two."},
        {"id": "local-7", "title": "String Categories", "abstract": "Abs three.",
         "categories": "cs.CL cs.AI", "date": "2024-03-05T10:00:00Z"},
    )  # fmt: skip
    papers, problems = _split(list(read_path(path)))
    assert problems == {}
    first, second, third = papers
    assert (first.id, first.version, first.title, first.abstract) == (
        "2401.00001",
        2,
        "Sparse Routing",
        "Abs one.",
    )
    assert first.categories == ("cs.LG", "stat.ML")
    assert first.date == dt.date(2024, 1, 2)
    assert first.source == "jsonl"
    assert first.authors == ("Ada Lovelace", "Alan Turing")
    assert second.id.startswith("title:") and second.categories == () and second.date is None
    assert second.authors == ()
    assert third.id == "local-7"
    assert third.categories == ("cs.CL", "cs.AI")
    assert third.date == dt.date(2024, 3, 5)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"title": "A", "abstract": ', "malformed JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
        ({"title": "A"}, "missing field(s) abstract; required: title, abstract"),
        ({"abstract": "x"}, "missing field(s) title"),
        ({"title": 5, "abstract": "x"}, "field 'title' must be a string, got int"),
        ({"title": "A", "abstract": ["x"]}, "field 'abstract' must be a string, got list"),
        ({"id": ["a"], "title": "A", "abstract": "x"}, "field 'id' must be a string, got list"),
        ({"id": True, "title": "A", "abstract": "x"}, "field 'id' must be a string, got bool"),
        ({"title": "A", "abstract": "x", "categories": [1]}, "categories must be a list"),
        ({"title": "A", "abstract": "x", "categories": 3}, "categories must be a list"),
        ({"title": "A", "abstract": "   "}, "empty abstract for 'A'"),
        ({"title": " ", "abstract": "x"}, "empty title"),
        ({"title": "A", "abstract": "x", "date": "yesterday"}, "date 'yesterday' is not a valid"),
        ({"title": "A", "abstract": "x", "date": "2024-02-30"}, "date '2024-02-30' is not a valid"),
        ({"title": "A", "abstract": "x", "date": 20240101}, "date must be a string"),
        ({"title": "A", "abstract": "x", "authors": [1]}, "authors must be a list of names"),
        ({"title": "A", "abstract": "x", "authors": {"a": 1}}, "authors must be a list of names"),
        (b'{"title": "Caf\xe9", "abstract": "x"}', "not UTF-8"),
    ],
)
def test_jsonl_bad_record_costs_that_line_only(tmp_path, line, expected):
    good = {"title": "Good", "abstract": "Fine."}
    path = _jsonl(tmp_path, good, line, good | {"title": "Also Good"})
    papers, problems = _split(list(parse_jsonl(path)))
    assert [p.title for p in papers] == ["Good", "Also Good"]
    assert list(problems) == [2]
    assert expected in problems[2]


def test_jsonl_problem_names_file_and_line(tmp_path):
    path = _jsonl(tmp_path, {"title": "Good", "abstract": "Fine."}, "{broken")
    (problem,) = [r for r in parse_jsonl(path) if isinstance(r, Problem)]
    assert str(problem).startswith(f"{path}:2: malformed JSON")


def test_jsonl_with_bom_and_json_suffix_is_detected(tmp_path):
    path = tmp_path / "dump.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"title": "T", "abstract": "A"}).encode() + b"\n")
    assert detect_format(path) == "jsonl"
    papers, problems = _split(list(read_path(path)))
    assert problems == {} and [p.title for p in papers] == ["T"]


# -- CSV ----------------------------------------------------------------------------------
def _csv(tmp_path, body: str | bytes, header: str = HEADER):
    path = tmp_path / "papers.csv"
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    path.write_bytes(header.encode("utf-8") + data)
    return path


def test_csv_happy_path(tmp_path):
    path = _csv(
        tmp_path,
        "2401.00001v1,Sparse Routing,Abs one.,cs.LG stat.ML,2024-01-02\n"
        ',"Title, With Comma","Abstract over\ntwo lines",,\n'
        "\n"
        "local-3,Third,Abs three.,cs.CL,\n",
    )
    papers, problems = _split(list(read_path(path)))
    assert problems == {}
    first, second, third = papers
    assert (first.id, first.version, first.categories) == ("2401.00001", 1, ("cs.LG", "stat.ML"))
    assert first.date == dt.date(2024, 1, 2) and first.source == "csv"
    assert second.title == "Title, With Comma"
    assert second.abstract == "Abstract over two lines"
    assert second.id.startswith("title:") and second.categories == ()
    assert (third.id, third.categories, third.date) == ("local-3", ("cs.CL",), None)


def test_csv_categories_and_date_columns_are_optional(tmp_path):
    path = _csv(tmp_path, "Only Title,Only abstract.\n", header="title,abstract\n")
    papers, problems = _split(list(parse_csv(path)))
    assert problems == {}
    assert [(p.title, p.categories, p.date) for p in papers] == [("Only Title", (), None)]


def test_csv_wrong_header_is_one_problem_on_line_1(tmp_path):
    path = _csv(tmp_path, "x,y\n", header="name,summary\n")
    records = list(parse_csv(path))
    assert len(records) == 1 and isinstance(records[0], Problem)
    assert records[0].line == 1
    assert "header lacks title, abstract" in records[0].message
    assert "expected columns: id, title, abstract, categories, date" in records[0].message


def test_csv_bad_rows_are_reported_with_their_lines(tmp_path):
    path = _csv(
        tmp_path,
        b",Good One,Fine.,,\n"  # 2
        b",Extra Cells,Abs.,cs.LG,2024-01-01,surplus\n"  # 3
        b",Empty Abstract,,,\n"  # 4
        b",Bad Date,Abs.,,2024-13-01\n"  # 5
        b",Caf\xe9 Latin-1,Abs.,,\n"  # 6: not UTF-8, only this row is lost
        b',Stray Quote,"Abs."x,,\n'  # 7
        b",Good Two,Fine.,,\n",  # 8
    )
    papers, problems = _split(list(parse_csv(path)))
    assert [p.title for p in papers] == ["Good One", "Good Two"]
    assert sorted(problems) == [3, 4, 5, 6, 7]
    assert problems[3] == "6 cells for 5 columns"
    assert problems[4] == "empty abstract for 'Empty Abstract'"
    assert "date '2024-13-01' is not a valid ISO date" in problems[5]
    assert problems[6].startswith("not UTF-8 (byte 0xe9)")
    assert problems[7].startswith("malformed CSV")


def test_csv_truncated_file_does_not_store_a_cut_abstract(tmp_path):
    path = _csv(tmp_path, ',First,"Complete abstract.",,\n,Second,"An abstract cut sho')
    papers, problems = _split(list(parse_csv(path)))
    assert [p.title for p in papers] == ["First"]
    assert list(problems) == [3]
    assert "unexpected end of data" in problems[3]


def test_csv_authors_column_separates_names_with_semicolons(tmp_path):
    path = _csv(
        tmp_path,
        '2401.00001,T,A.,cs.LG,2024-01-02,"Lovelace, Ada; Turing, Alan ;"\n',
        header="id,title,abstract,categories,date,authors\n",
    )
    (paper,) = [r for r in read_path(path) if not isinstance(r, Problem)]
    assert paper.authors == ("Lovelace, Ada", "Turing, Alan")
