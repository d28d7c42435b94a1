"""Reading papers: one parser per input format (`formats`), and one road from a source
spec (files, globs, folders, ``arxiv:CATEGORY``, arXiv ids) to its papers and problems
(`road`); the live arXiv API behind ``arxiv:`` specs is `arxiv_api`, the only module that
opens a network connection."""

from paperrec.papers.sources.base import Problem, Record
from paperrec.papers.sources.formats import FORMATS, PARSERS, SUFFIXES, detect_format, read_path
from paperrec.papers.sources.road import (
    ARXIV_PREFIX,
    Named,
    Reading,
    expand,
    papers_of,
    read,
)

__all__ = [
    "ARXIV_PREFIX",
    "FORMATS",
    "PARSERS",
    "SUFFIXES",
    "Named",
    "Problem",
    "Reading",
    "Record",
    "detect_format",
    "expand",
    "papers_of",
    "read",
    "read_path",
]
