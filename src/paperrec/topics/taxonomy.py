"""Load and validate a YAML taxonomy of research topics.

The default taxonomy ships as package data (``paperrec/topics/taxonomy.yaml``). Topics
without a parent are *areas* (mapped to arXiv categories); topics with a parent are finer
themes. Validation errors name the file, the topic and the key, and list what is allowed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from paperrec.errors import InputError

_ID = re.compile(r"^[a-z0-9][a-z0-9\-]*$")
_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[A-Za-z\-]+)?(\.?\*)?$")


class Topic(BaseModel):
    """One topic. ``arxiv`` entries may end in ``*`` to match any suffix (``math.*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="lowercase id: letters, digits and dashes")
    name: str
    description: str = Field(min_length=1)
    parent: str | None = None
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    arxiv: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _id_format(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(
                "must be lowercase letters, digits and dashes, like 'continual-learning'"
            )
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"regex {pattern!r} does not compile: {exc}") from None
        return value

    @field_validator("arxiv")
    @classmethod
    def _categories_format(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for category in value:
            if not _CATEGORY.match(category):
                raise ValueError(
                    f"{category!r} is not an arXiv category; "
                    f"write e.g. 'cs.CL', 'math.*' or 'hep-*'"
                )
        return value

    @property
    def is_area(self) -> bool:
        return self.parent is None

    def matches_category(self, category: str) -> bool:
        return any(fnmatch.fnmatchcase(category, pattern) for pattern in self.arxiv)


class _TaxonomyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    topics: list[Topic] = Field(min_length=1)


@dataclass(frozen=True)
class Taxonomy:
    topics: tuple[Topic, ...]
    source: str
    text: str

    @cached_property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    @cached_property
    def by_id(self) -> dict[str, Topic]:
        return {t.id: t for t in self.topics}

    @cached_property
    def area_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics if t.is_area)

    @cached_property
    def fine_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics if not t.is_area)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        return len(self.topics)

    def __getitem__(self, topic_id: str) -> Topic:
        return self.by_id[topic_id]

    def topics_for_categories(self, categories) -> set[str]:
        """Ids of topics whose arXiv mapping lists any of ``categories``."""
        return {
            t.id for t in self.topics if t.arxiv and any(t.matches_category(c) for c in categories)
        }


def _describe(error: dict, data: dict) -> str:
    loc = error["loc"]
    topic = ""
    if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
        raw = data.get("topics", [])[loc[1]]
        name = raw.get("id") if isinstance(raw, dict) else None
        topic = f"topic {name!r}" if name else f"topic #{loc[1] + 1}"
        loc = loc[2:]
    key = ".".join(str(part) for part in loc if not isinstance(part, int))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = Topic.model_fields if topic else _TaxonomyFile.model_fields
        message = f"unknown key; allowed: {', '.join(allowed)}"
    elif error["type"] == "missing":
        message = "required key is missing"
    parts = [p for p in (topic, f"key {key!r}" if key else "") if p]
    return f"{', '.join(parts)}: {message}" if parts else message


def parse_taxonomy(text: str, source: str) -> Taxonomy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", path=source) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping with keys 'version' and 'topics'", path=source)
    try:
        parsed = _TaxonomyFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(_describe(exc.errors()[0], data), path=source) from None
    ids = [t.id for t in parsed.topics]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"duplicate topic id(s): {', '.join(duplicates)}", path=source)
    for topic in parsed.topics:
        if topic.parent is not None and topic.parent not in ids:
            raise InputError(
                f"topic {topic.id!r}, key 'parent': unknown topic {topic.parent!r}; "
                f"allowed: {', '.join(t.id for t in parsed.topics if t.id != topic.id)}",
                path=source,
            )
        if not (topic.keywords or topic.patterns or topic.arxiv):
            raise InputError(
                f"topic {topic.id!r}: needs at least one of 'keywords', 'patterns', 'arxiv' "
                "so labeling functions can be built from it",
                path=source,
            )
    return Taxonomy(topics=tuple(parsed.topics), source=source, text=text)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """The taxonomy at ``path``, or the default one shipped with paperrec."""
    if path is None:
        text = resources.files("paperrec").joinpath("topics/taxonomy.yaml").read_text("utf-8")
        return parse_taxonomy(text, "paperrec/topics/taxonomy.yaml")
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InputError("no such taxonomy file", path=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8", path=str(path)) from None
    return parse_taxonomy(text, str(path))
