"""The only module that imports Ray: runs the bulk batch function (`paperrec.bulk.batch`)
with Ray Data, Ray's batch-inference pattern: the batches become a dataset,
``map_batches`` hands them to a pool of actors that each build one `BatchModel` (the
encoder and the topic model load once per actor), and the results stream back to the
driver, which writes them (by shard) and loads them into the store.

Ray is an optional extra (``pip install 'paperrec[ray]'``); without it ``--ray`` says so.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from paperrec.bulk.batch import Batch, BatchModel, ModelSpec
from paperrec.errors import InputError, NetworkError, PaperrecError

if TYPE_CHECKING:
    from paperrec.topics.model import TopicModel

# Ray's words for "find the cluster yourself" (``ray.init``'s address argument).
RAY_KEYWORDS = ("auto", "local")
ADDRESS_FORMS = (
    "ray://HEAD:10001 (Ray Client), HEAD:6379 (from a node of the cluster), auto or local"
)
INSTALL_HINT = "--ray needs Ray, which is not installed here: pip install 'paperrec[ray]'"


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the extra installs both; a bare `ray` lacks Data)
    except ImportError:
        raise PaperrecError(INSTALL_HINT) from None
    return ray


@contextmanager
def cluster(address: str | None) -> Iterator[int]:
    """Connected to Ray for the block; yields the cluster's CPU count.

    ``address``: a cluster (``ray://HEAD:10001``, ``HOST:6379``, ``auto``); None: ``RAY_ADDRESS``
    when set, else a Ray started here on this machine's cores and stopped afterwards. A
    Ray this process already started (a test, a notebook) is used as it is and left running.
    """
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        if address is None:
            check_address(os.environ.get("RAY_ADDRESS") or None, given_as="RAY_ADDRESS")
        else:
            check_address(address)
        try:
            ray.init(address=address, logging_level="WARNING", include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "RAY_ADDRESS or a new local Ray"
            raise NetworkError(f"cannot start or reach Ray ({where}): {exc}") from None
        started = True
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if started:
            ray.shutdown()


def check_address(address: str | None, given_as: str = "--ray", timeout: float = 5.0) -> None:
    """InputError when ``address`` (``given_as``: where it came from) is not a Ray address;
    NetworkError at once when the head it names does not answer (``ray.init`` would retry
    for minutes). None, ``auto`` and ``local`` name no host to check."""
    if address is None or address in RAY_KEYWORDS:
        return
    host, port = _host_and_port(address)
    if host is None:
        raise InputError(f"{given_as} {address!r} is not a Ray address; give {ADDRESS_FORMS}")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise NetworkError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def _host_and_port(address: str) -> tuple[str | None, int]:
    """(host, port) of ``ray://HOST[:PORT]`` (port 10001 by default) or ``HOST:PORT``
    (HOST may be ``[IPv6]``); (None, 0) for anything else."""
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://")
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]")
        if port and not port.startswith(":"):
            return None, 0
        port = port.removeprefix(":")
    else:
        host, _, port = rest.partition(":")
    if client and not port:
        port = "10001"
    if not host or any(c.isspace() or c in "/?#@[]" for c in host):
        return None, 0
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        return None, 0
    return host, int(port)


def map_batches(
    batches: Iterable[Batch],
    spec: ModelSpec,
    topic_model: TopicModel | None,
    *,
    batch_size: int,
    actors: int,
) -> Iterator[Batch]:
    """Results of `BatchModel` (built from ``spec`` and ``topic_model`` in each of
    ``actors`` actors, one CPU each) for every row of ``batches``, as the actors finish
    them: in no fixed order, so the rows carry their own keys (shard, row). Ray ships the
    topic model to the actors from this process."""
    ray = require_ray()
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI draws its own
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    batches = list(batches)
    # A small job still reaches every actor: blocks of at most an even share each.
    size = max(1, min(batch_size, -(-sum(map(_rows, batches)) // actors)))
    tables = [_table(batch, start, start + size)
              for batch in batches for start in range(0, _rows(batch), size)]  # fmt: skip
    if not tables:
        return
    # One block per encoder batch, and one batch at a time per actor, so every actor gets
    # work from the start: by default Ray Data queues several batches on the first actor
    # that is ready, and on a small job the others never get any (measured: two 500-paper
    # batches on one actor, one after the other, while the second actor sat idle).
    dataset = ray.data.from_arrow(tables).map_batches(
        BatchModel,
        fn_constructor_kwargs={"spec": spec, "topic_model": topic_model},
        batch_size=size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
        num_cpus=1,
    )
    yield from dataset.iter_batches(batch_size=None, batch_format="numpy")


def _rows(batch: Batch) -> int:
    return len(next(iter(batch.values())))


def _table(batch: Batch, start: int, end: int):
    """Rows ``start:end`` of ``batch`` as an Arrow table (text columns as Arrow strings)."""
    import pyarrow as pa

    return pa.table(
        {
            key: list(value[start:end]) if value.dtype == object else value[start:end]
            for key, value in batch.items()
        }
    )
