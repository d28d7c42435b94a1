"""Hugging Face Papers pages saved as text: the five seed pages and hand-written edge cases."""

from __future__ import annotations

import re

from paperrec.papers.sources import detect_format, read_path
from paperrec.papers.sources.base import Problem
from paperrec.papers.sources.hf_page import CHROME_LINES, parse_hf_page

SEED_COUNTS = [69, 119, 82, 80, 82]

ABSTRACT_A = (
    "We propose a retrieval-augmented planner that reads a task description, fetches "
    "similar solved tasks and drafts a plan; on three benchmarks it beats strong baselines."
)
ABSTRACT_C = (
    "A study of tokenizer choice for low-resource languages, showing that byte-level models "
    "close most of the gap to larger vocabularies at a fraction of the memory cost."
)
LONG_TITLE = (
    "Industrial-Grade Sensor Simulation via Gaussian Splatting: A Modular Framework for "
    "Scalable Editing and Full-Stack Validation"
)
ABSTRACT_LONG = (
    "Sensor simulation is pivotal for scalable validation of autonomous driving systems, yet "
    "existing neural radiance field methods face applicability and efficiency challenges in "
    "industrial workflows. We introduce a Gaussian Splatting system that addresses them."
)


def _split(records):
    papers = [r for r in records if not isinstance(r, Problem)]
    problems = [r for r in records if isinstance(r, Problem)]
    return papers, problems


def test_seed_pages_yield_the_known_counts(seed_pages):
    assert len(seed_pages) == 5
    counts, ids = [], set()
    for page in seed_pages:
        papers, problems = _split(list(read_path(page)))
        assert problems == [], f"{page.name}: {problems[:3]}"
        counts.append(len(papers))
        ids |= {p.id for p in papers}
        for paper in papers:
            assert paper.title and paper.abstract, paper
            assert paper.source == "hf-page"
    assert counts == SEED_COUNTS
    assert len(ids) == 335


def test_seed_pages_are_detected_as_hf_pages(seed_pages):
    assert {detect_format(page) for page in seed_pages} == {"hf-page"}


def test_chrome_never_becomes_a_title(seed_pages):
    date_line = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}")
    for page in seed_pages:
        papers, _ = _split(list(read_path(page)))
        for paper in papers:
            assert paper.title not in CHROME_LINES
            assert not paper.title.startswith("Subscribe")
            assert "trending papers" not in paper.title
            assert not date_line.match(paper.title)
            assert "byAK" not in paper.abstract


def test_page_without_blank_lines_is_parsed_like_one_with_them(seed_pages):
    # One seed page has no blank lines at all and its first title glued to "Subscribe".
    dense = [p for p in seed_pages if "\n\n" not in p.read_text(encoding="utf-8")]
    assert len(dense) == 1
    papers, problems = _split(list(read_path(dense[0])))
    assert problems == []
    assert not papers[0].title.startswith("Subscribe")


def test_glued_subscribe_no_blank_lines_and_a_title_missing_its_abstract(tmp_path):
    page = tmp_path / "page.txt"
    page.write_text(
        "\n".join(
            [
                "new",  # line 1
                "Get trending papers in your email inbox!",
                "SubscribeRetrieval-Augmented Planning for Agents",  # line 3
                ABSTRACT_A,
                "byAK and the research community",
                "Mar 12",
                "A Title Whose Abstract Was Lost",  # line 7
                "Subscriber Churn Prediction with Tokenizer-Free Models",  # line 8
                ABSTRACT_C,
                LONG_TITLE,  # line 10
                ABSTRACT_LONG,
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    papers, problems = _split(list(parse_hf_page(page)))
    assert [p.title for p in papers] == [
        "Retrieval-Augmented Planning for Agents",
        "Subscriber Churn Prediction with Tokenizer-Free Models",
        LONG_TITLE,
    ]
    assert [p.abstract for p in papers] == [ABSTRACT_A, ABSTRACT_C, ABSTRACT_LONG]
    assert len(problems) == 1
    assert problems[0].line == 7
    assert problems[0].path == str(page)
    assert "has no abstract" in problems[0].message
    assert str(problems[0]).startswith(f"{page}:7: ")


def test_long_title_after_a_lost_abstract_stays_a_title(tmp_path):
    # A title over 100 characters would pass for prose if only its length were checked.
    page = tmp_path / "page.txt"
    text = f"Short Title Without Abstract\n\n{LONG_TITLE}\n\n{ABSTRACT_LONG}\n"
    page.write_text(text, encoding="utf-8")
    papers, problems = _split(list(parse_hf_page(page)))
    assert [(p.title, p.abstract) for p in papers] == [(LONG_TITLE, ABSTRACT_LONG)]
    assert [(p.line, "has no abstract" in p.message) for p in problems] == [(1, True)]


def test_last_title_without_abstract_and_stray_text(tmp_path):
    page = tmp_path / "page.txt"
    page.write_text(
        f"{ABSTRACT_A * 4}\nRetrieval-Augmented Planning for Agents\n"
        f"{ABSTRACT_A}\nDangling Title\n",
        encoding="utf-8",
    )
    papers, problems = _split(list(parse_hf_page(page)))
    assert len(papers) == 1
    assert [(p.line, p.message.split(";")[0]) for p in problems] == [
        (1, "text without a title before it"),
        (4, "title 'Dangling Title' has no abstract"),
    ]


def test_non_utf8_page_is_one_problem(tmp_path):
    page = tmp_path / "page.txt"
    page.write_bytes(b"Caf\xe9 Title\n" + ABSTRACT_A.encode() + b"\n")
    papers, problems = _split(list(parse_hf_page(page)))
    assert papers == []
    assert len(problems) == 1 and "not UTF-8" in problems[0].message
