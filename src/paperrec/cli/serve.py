"""``paperrec serve``: the HTTP service on this install's champion models."""

from __future__ import annotations

import errno
import os
import socket
from typing import Annotated

import typer

from paperrec.cli.app import command, console, runtime
from paperrec.errors import InputError

# A bound that catches a typo: every worker loads the encoder and the models.
MAX_WORKERS = 64


def check_port_free(host: str, port: int) -> None:
    """InputError when ``host:port`` cannot be listened on (in use, or not an address here)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host!r} is not an address of this machine: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
            raise InputError(
                f"port {port} on {host} {reason}; stop what listens there or pick --port"
            ) from None


@command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on; 0.0.0.0 for all")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 3000,
    workers: Annotated[
        int,
        typer.Option(
            help="worker processes; they share only the store and the model registry "
            "(for more than one, PostgreSQL: docs/scaling.md)",
            min=1,
            max=MAX_WORKERS,
        ),
    ] = 1,
) -> None:
    """Start the HTTP service (BentoML) on the champion models; Ctrl+C stops it.

    BENTOML_HOME defaults to PAPERREC_HOME/bentoml. The API is described at http://HOST:PORT/
    and in docs/service.md.
    """
    from paperrec import bundles
    from paperrec.errors import ModelNotTrainedError
    from paperrec.serving.process import serve_command, serve_environment
    from paperrec.train.packaged import ensure_packaged_champion
    from paperrec.users.tokens import check_secret

    check_port_free(host, port)  # before anything loads: a port in use is one line
    settings = runtime().settings
    if settings.token_secret is not None:
        check_secret(settings.token_secret)  # the service refuses a weak one too; say it now
    packaged = ensure_packaged_champion(runtime())  # a fresh home: the packaged topic model
    if packaged.status in ("registered", "refused"):
        console.print(packaged.message, highlight=False, soft_wrap=True)
    topics = bundles.champion(settings, "topics")[1]  # no model: one clear line
    try:
        ranker = f"ranker v{bundles.champion(settings, 'ranker')[1]}"
    except ModelNotTrainedError:
        ranker = "no ranker (/rank and /recommend answer 503 until `paperrec train ranker`)"
    args = serve_command(host, port)
    plural = "s" if workers > 1 else ""
    console.print(
        f"serving topics v{topics}, {ranker} from {settings.home} on http://{host}:{port} "
        f"({workers} worker{plural})",
        highlight=False,
        soft_wrap=True,
    )
    os.execve(args[0], args, serve_environment(settings, workers=workers))
