"""The only package that touches the database and the disk cache.

``Store`` bundles the paper table, the users tables, the API keys, the digest outbox and
the embedding cache that live under one PAPERREC_HOME.

A package of its own, not part of ``papers/``: it is the one boundary to the database and the
disk, and it holds every concept's tables (users and the digest outbox as well as papers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from paperrec.config import Settings
from paperrec.store.activity import Activity
from paperrec.store.cache import EmbeddingCache
from paperrec.store.db import open_engine
from paperrec.store.keys import ApiKey, KeyStore
from paperrec.store.outbox import NewEntry, Outbox, OutboxEntry
from paperrec.store.papers import PaperStore, UpsertCounts
from paperrec.store.signin import SigninLinks
from paperrec.store.users import UserStore

__all__ = [
    "Activity",
    "ApiKey",
    "EmbeddingCache",
    "KeyStore",
    "NewEntry",
    "Outbox",
    "SigninLinks",
    "OutboxEntry",
    "PaperStore",
    "Store",
    "UpsertCounts",
    "UserStore",
]


@dataclass
class Store:
    settings: Settings

    @cached_property
    def engine(self):
        self.settings.ensure_home()
        return open_engine(self.settings.resolved_database_url)

    @cached_property
    def papers(self) -> PaperStore:
        return PaperStore(self.engine)

    @cached_property
    def users(self) -> UserStore:
        return UserStore(self.engine)

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.engine, self.users)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.engine)

    @cached_property
    def activity(self) -> Activity:
        return Activity(self.engine)

    @cached_property
    def signin(self) -> SigninLinks:
        return SigninLinks(self.engine)

    @cached_property
    def embeddings(self) -> EmbeddingCache:
        return EmbeddingCache(self.settings.embedding_cache_path)
