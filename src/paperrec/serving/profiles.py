"""Each user's profile, kept in the serving process from one request to the next.

Reading a user's whole feedback log and decoding the ~1,250 papers it names cost a
`/recommend` for a user with 1,000 votes about as much time as ranking. `ProfileCache`
keeps each user's `ProfileState` and brings it up to date with
`paperrec.users.ranking_profile.read_profile`: one query when nothing changed, and after a
vote only the new events and their papers. The check is made in the store at every call,
so a vote is seen by the next ranking wherever it was cast (this service, a digest link,
the CLI, another process).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from paperrec.errors import NotFoundError
from paperrec.store import Store
from paperrec.users.ranking_profile import ProfileState, read_profile

DEFAULT_USERS = 512  # profiles kept (a 1,000-vote profile holds ~1,250 papers, ~3 MB)


class ProfileCache:
    """A thread-safe LRU of `ProfileState` by user name, at most ``size`` users (0: none
    kept, every read is from scratch)."""

    def __init__(self, size: int = DEFAULT_USERS):
        self.size = size
        self._states: OrderedDict[str, ProfileState] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def read(self, store: Store, name: str) -> ProfileState:
        """The current profile of ``name``; raises NotFoundError for an unknown user."""
        with self._lock:
            kept = self._states.get(name)
        try:
            state = read_profile(store, name, kept)
        except NotFoundError:
            with self._lock:
                self._states.pop(name, None)
            raise
        if self.size:
            with self._lock:
                self._states[name] = state
                self._states.move_to_end(name)  # the least recently read goes first
                while len(self._states) > self.size:
                    self._states.popitem(last=False)
        return state
