"""The objects a command or the service needs, built lazily from one Settings.

The store (SQLAlchemy) and the embedder (torch or an exported graph) are imported when
first used, so a command that needs neither does not pay for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from paperrec.config import Settings, get_settings

if TYPE_CHECKING:
    from paperrec.papers.embed import Embedder
    from paperrec.store import Store


@dataclass
class Runtime:
    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def store(self) -> Store:
        from paperrec.store import Store

        return Store(self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        from paperrec.papers.embed import Embedder

        return Embedder.from_settings(self.settings, self.store.embeddings, self.calibration_texts)

    def calibration_texts(self) -> list[str]:
        """Stored papers' texts for static int8 quantisation (read only when it is built)."""
        from paperrec.papers.encoder_export import CALIBRATION_TEXTS

        return [p.text for p in self.store.papers.iter_papers(limit=CALIBRATION_TEXTS)]
