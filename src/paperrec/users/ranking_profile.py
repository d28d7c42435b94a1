"""A user as ranking sees them: the profile derived from their votes, read from the store.

`UserProfile` is what ranking consumes: liked papers with the time they were liked,
disliked and dismissed papers, chosen topics, shown papers. It is derived from the user's
feedback log (the latest signal per paper winning) and shown papers, with ids of papers
re-keyed since (title key -> arXiv id) mapped to their current ids.

`read_profile` returns it as a `ProfileState`: the profile, the stored papers it names and
the `ProfileStamp` it was read at. Given the state of an earlier read it reads only what
was added since (the votes after the newest one it holds, newly shown papers): one query
when nothing changed, three after a vote, instead of the whole log and every paper. The
service keeps these states per user (`paperrec.serving.profiles`); `user_profile` reads
from scratch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from paperrec.schema import FeedbackEvent, Paper, Signal, User
from paperrec.store import Store
from paperrec.store.users import ProfileStamp, latest_signals


@dataclass(frozen=True)
class UserProfile:
    """What ranking needs to know about one user. Paper ids are current store ids.

    ``liked`` pairs each liked paper (seeded, up-voted or saved, latest signal winning) with
    the time of that signal, oldest first.
    """

    name: str
    email: str
    topics: tuple[str, ...]
    liked: tuple[tuple[str, dt.datetime], ...]
    disliked: tuple[str, ...]
    dismissed: tuple[str, ...]
    shown: frozenset[str]

    @property
    def liked_ids(self) -> tuple[str, ...]:
        return tuple(pid for pid, _ in self.liked)

    @property
    def seen_ids(self) -> frozenset[str]:
        """Papers not to recommend again: shown, or already given any signal."""
        return self.shown | set(self.liked_ids) | set(self.disliked) | set(self.dismissed)


def profile_of(
    user: User, latest: Mapping[str, FeedbackEvent], shown: Iterable[str]
) -> UserProfile:
    """The profile of ``user`` from their latest event per paper (current ids, in the order
    papers were first rated) and the current ids of the papers they were shown."""
    events = latest.values()
    liked = sorted(
        ((e.paper_id, e.created_at) for e in events if e.signal.is_positive), key=lambda x: x[1]
    )
    return UserProfile(
        name=user.name,
        email=user.email,
        topics=user.topics,
        liked=tuple(liked),
        disliked=tuple(e.paper_id for e in events if e.signal.is_negative),
        dismissed=tuple(e.paper_id for e in events if e.signal is Signal.DISMISSED),
        shown=frozenset(shown),
    )


@dataclass(frozen=True)
class ProfileState:
    """A profile with what it was read from, so that a later read can add only what is new.

    ``latest`` maps each rated paper's current id to its latest event (first-rated order);
    ``shown_raw`` are the shown ids as stored, ``shown`` their current ids; ``papers`` holds
    every stored paper the events name, by current id.
    """

    stamp: ProfileStamp
    latest: Mapping[str, FeedbackEvent]
    shown_raw: frozenset[str]
    shown: frozenset[str]
    papers: Mapping[str, Paper]
    profile: UserProfile

    def papers_of(self, ids: Iterable[str]) -> list[Paper]:
        """The stored papers of ``ids``, in order (ids of no stored paper left out)."""
        return [self.papers[i] for i in ids if i in self.papers]


def read_profile(store: Store, name: str, kept: ProfileState | None = None) -> ProfileState:
    """The profile of user ``name``; raises NotFoundError (listing users) if unknown.

    With ``kept`` (an earlier state of this user) only what was stored since is read. The
    state is read again from scratch when the user was re-created (a new uid) or a paper
    was re-keyed since (the ids ``kept`` holds may be stale)."""
    stamp = store.users.profile_stamp(name)
    if kept is not None and (
        kept.stamp.user.uid != stamp.user.uid or kept.stamp.aliases != stamp.aliases
    ):
        kept = None
    if kept is not None and _same_reads(kept.stamp, stamp):
        if kept.stamp.user == stamp.user:
            return kept
        return replace(kept, stamp=stamp, profile=profile_of(stamp.user, kept.latest, kept.shown))
    latest = dict(kept.latest) if kept else {}
    papers = dict(kept.papers) if kept else {}
    last, events = store.users.events_after(stamp.user, kept.stamp.last_event if kept else 0)
    if events:
        found = store.papers.current({e.paper_id for e in events} - papers.keys())
        papers.update((p.id, p) for p in found.values())
        current = {raw: paper.id for raw, paper in found.items()}
        mapped = [replace(e, paper_id=current.get(e.paper_id, e.paper_id)) for e in events]
        latest.update(latest_signals(mapped))  # a paper rated before keeps its place
    shown_raw, shown = (kept.shown_raw, kept.shown) if kept else (frozenset(), frozenset())
    if kept is None or kept.stamp.shown != stamp.shown:
        now_shown = frozenset(store.users.shown_ids(stamp.user))
        added = now_shown - shown_raw
        mapped = store.papers.resolve_ids(added) if added else {}
        shown = shown | {mapped.get(pid, pid) for pid in added}
        shown_raw = now_shown
    stamp = replace(stamp, last_event=last)
    profile = profile_of(stamp.user, latest, shown)
    return ProfileState(stamp, latest, shown_raw, shown, papers, profile)


def _same_reads(kept: ProfileStamp, now: ProfileStamp) -> bool:
    """Whether no vote and no shown paper was added between the two stamps."""
    return kept.last_event >= now.last_event and kept.shown == now.shown


def user_profile(store: Store, name: str) -> UserProfile:
    """The profile of user ``name``, read from scratch; raises NotFoundError (listing users)
    if unknown."""
    return read_profile(store, name).profile
