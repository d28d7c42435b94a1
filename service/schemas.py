"""Request and response bodies of the paperrec HTTP service.

Every bound comes from ``paperrec.config.Limits`` (environment ``PAPERREC_LIMIT_*``, read
once when the service starts), so a request over a limit is refused with a 400 that names
the field and the limit before any model runs. A paper is checked with the library's own
rule (`paperrec.papers.rows.paper_from_fields`) while the body is validated, so a paper that
passes validation can always be scored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from paperrec.config import Limits
from paperrec.errors import InputError
from paperrec.papers.rows import InputPaper, paper_from_fields
from paperrec.schema import USER_NAME_RULE, check_user_name
from paperrec.users.profiles import FEEDBACK_SIGNALS

LIMITS = Limits()
# Bounds without a setting of their own: far above any real value, they only cap junk.
MAX_ID_CHARS = 512
MAX_NAME_CHARS = 200
MAX_TOPICS = 100
MAX_TOPIC_CHARS = 100

# The library's one rule for user names (paperrec.schema.USER_NAME), also for HTTP.
UserName = Annotated[
    str,
    AfterValidator(check_user_name),
    Field(
        max_length=MAX_NAME_CHARS, description=f"stored user name: {USER_NAME_RULE}",
        examples=["ada"],
    ),
]  # fmt: skip

Signal = Literal[tuple(s.value for s in FEEDBACK_SIGNALS)]  # type: ignore[valid-type]

_TITLE = "Attention Is All You Need"
_ABSTRACT = (
    "The dominant sequence transduction models are based on complex recurrent or "
    "convolutional neural networks. We propose a new simple network architecture, the "
    "Transformer, based solely on attention mechanisms."
)


class PaperIn(BaseModel):
    """A paper as the caller names it; other keys (authors, categories, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(
        None,
        max_length=MAX_ID_CHARS,
        description="your id, echoed back unchanged; default: the arXiv id or a hash of the title",
        examples=["1706.03762"],
    )
    title: str = Field(
        min_length=1,
        max_length=LIMITS.max_title_chars,
        description=f"the title; at most {LIMITS.max_title_chars} characters",
        examples=[_TITLE],
    )
    abstract: str = Field(
        min_length=1,
        max_length=LIMITS.max_abstract_chars,
        description=f"the abstract; at most {LIMITS.max_abstract_chars} characters (the model "
        "reads its first tokens only)",
        examples=[_ABSTRACT],
    )
    date: dt.date | None = Field(
        None,
        description="publication date (YYYY-MM-DD); /rank uses it for recency",
        examples=["2017-06-12"],
    )
    _input: InputPaper = PrivateAttr()

    @model_validator(mode="after")
    def _readable(self) -> PaperIn:
        try:
            paper = paper_from_fields(self.id or "", self.title, self.abstract)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        if self.date is not None:
            paper = InputPaper(paper.id, replace(paper.paper, date=self.date))
        self._input = paper
        return self

    def to_input(self) -> InputPaper:
        """The library's record for this paper (normalised text, id as given)."""
        return self._input


class ScoreRequest(BaseModel):
    papers: list[PaperIn] = Field(
        min_length=1,
        max_length=LIMITS.max_papers,
        description=f"papers to tag; 1 to {LIMITS.max_papers} per request",
    )


class TopicScores(BaseModel):
    id: str = Field(description="the id you sent (or the derived one)")
    topics: dict[str, float] = Field(description="calibrated probability per topic id")
    labels: list[str] = Field(
        description="topics at or above their thresholds, most probable first"
    )
    thresholds: dict[str, float] = Field(
        description="each topic's decision threshold: a topic is a label when its "
        "probability is at least this (most sit below 0.5: they maximise F1)"
    )


class ScoreResponse(BaseModel):
    results: list[TopicScores] = Field(description="one row per paper, in request order")


class RankRequest(BaseModel):
    liked: list[PaperIn] = Field(
        default_factory=list,
        max_length=LIMITS.max_profile_papers,
        description="papers the reader liked (may be empty when topics are given)",
    )
    disliked: list[PaperIn] = Field(
        default_factory=list,
        max_length=LIMITS.max_profile_papers,
        description="papers the reader did not like",
    )
    candidates: list[PaperIn] = Field(
        min_length=1,
        max_length=LIMITS.max_papers,
        description=f"papers to rank; 1 to {LIMITS.max_papers}",
    )
    topics: list[str] = Field(
        default_factory=list,
        max_length=MAX_TOPICS,
        description="chosen topic ids (cold start when nothing is liked)",
        examples=[["nlp", "architectures"]],
    )
    k: int = Field(
        10,
        ge=1,
        le=LIMITS.max_k,
        strict=True,
        description=f"how many to return; 1 to {LIMITS.max_k} (a JSON integer, not a string)",
    )

    @model_validator(mode="after")
    def _profile_size(self) -> RankRequest:
        size = len(self.liked) + len(self.disliked)
        if size > LIMITS.max_profile_papers:
            limit = LIMITS.max_profile_papers
            raise ValueError(f"liked + disliked hold {size} papers; at most {limit} are allowed")
        if any(len(t) > MAX_TOPIC_CHARS for t in self.topics):
            raise ValueError(f"a topic id is longer than {MAX_TOPIC_CHARS} characters")
        return self


class RankedOut(BaseModel):
    id: str
    score: float = Field(description="ranker score; higher is better")
    rank: int = Field(description="1 for the best candidate")
    reasons: list[dict[str, Any]] = Field(
        description="why it ranks here; each has a kind and a text"
    )


class RankResponse(BaseModel):
    results: list[RankedOut] = Field(description="the best k candidates, best first")


class RecommendRequest(BaseModel):
    user: UserName
    k: int = Field(
        10,
        ge=1,
        le=LIMITS.max_k,
        strict=True,
        description=f"how many to return; 1 to {LIMITS.max_k} (a JSON integer, not a string)",
    )
    mark_shown: bool = Field(
        True,
        strict=True,
        description="remember these papers as shown, so they are not recommended again "
        "(JSON true or false)",
    )


class RecommendedOut(RankedOut):
    title: str


class RecommendResponse(BaseModel):
    user: str
    results: list[RecommendedOut] = Field(
        description="stored papers the user has not seen, best first"
    )


class FeedbackRequest(BaseModel):
    user: UserName
    paper_id: str = Field(
        min_length=1,
        max_length=MAX_ID_CHARS,
        description="arXiv id (any version), abs URL or stored paper id",
        examples=["1706.03762"],
    )
    signal: Signal = Field(description="what the user says about the paper", examples=["up"])


class FeedbackResponse(BaseModel):
    user: str
    paper_id: str = Field(description="the stored paper id the feedback was recorded under")
    signal: str
    source: str = Field(description="http for POST /feedback, digest for a digest link")
    created_at: str = Field(description="ISO time the feedback was stored")


class ReloadResponse(BaseModel):
    reloaded: bool = Field(description="true when a new champion now serves")
    versions: dict[str, str] = Field(description="model versions in use after the call")
    error: str | None = Field(None, description="why the registry's champion could not be loaded")


class ErrorResponse(BaseModel):
    error: str = Field(description="what was wrong and, for a limit, the limit that applies")
