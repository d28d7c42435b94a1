"""The environment variables that keep model loading offline, listed once.

paperrec never downloads a model: the default embedding model ships as a Python package,
and the Hugging Face libraries are told not to reach the hub. The embedder sets `OFFLINE`
before it imports them; a process paperrec starts (the HTTP server), the benches and the
tests set `PROCESS`, which also turns the tokenizers' own threads off (they warn, and can
deadlock, once a process forks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
PROCESS = {**OFFLINE, "TOKENIZERS_PARALLELISM": "false"}


def set_defaults(
    values: Mapping[str, str] = PROCESS, env: MutableMapping[str, str] | None = None
) -> MutableMapping[str, str]:
    """Set each of ``values`` in ``env`` (default ``os.environ``) unless already set there;
    returns ``env``. A value the caller chose (HF_HUB_OFFLINE=0, say) is kept."""
    env = os.environ if env is None else env
    for name, value in values.items():
        env.setdefault(name, value)
    return env
