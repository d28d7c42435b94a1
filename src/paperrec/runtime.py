"""The objects a command or the service needs, built lazily from one Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from paperrec.config import Settings, get_settings
from paperrec.papers.embed import Embedder
from paperrec.store import Store


@dataclass
class Runtime:
    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder.from_settings(self.settings, self.store.embeddings)
