"""Models derived from a classifier's boosters, made once per classifier and its boosters.

`paperrec.topics.merged` (one LightGBM model of every topic) and `paperrec.topics.forest`
(the trees as flat arrays) are both made from ``TopicClassifier.boosters_`` on first use
and kept beside the classifier (weakly: the entry goes when the classifier does). An entry
holds the boosters it was made from and compares them by identity: their ids alone could
name new boosters once the old ones are freed (CPython reuses the memory), and a refit
would get the old model's margins.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

_made: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def derived(owner: object, boosters: Sequence, make: Callable[[Sequence], T]) -> T:
    """``make(boosters)``, made once per ``owner`` (the classifier holding ``boosters``) and
    ``make``, and made again if the owner holds other boosters since (a refit)."""
    held = tuple(boosters)
    with _lock:
        found = _made.setdefault(owner, {}).get(make)
    if found is None or not _same(found[0], held):
        found = (held, make(held))
        with _lock:
            _made[owner][make] = found
    return found[1]


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
