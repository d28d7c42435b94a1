"""``paperrec serve``: the HTTP service on this install's champion models."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from paperrec.cli.app import command, console, runtime


@command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on; 0.0.0.0 for all")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 3000,
) -> None:
    """Start the HTTP service (BentoML) on the champion models; Ctrl+C stops it.

    BENTOML_HOME defaults to PAPERREC_HOME/bentoml. The API is described at http://HOST:PORT/
    and in docs/service.md.
    """
    from paperrec.errors import ModelNotTrainedError
    from paperrec.serving.holder import serve_command, serve_environment
    from paperrec.train import registry

    settings = runtime().settings
    topics = registry.champion_version(settings, registry.TOPICS_MODEL)  # no model: one clear line
    try:
        ranker = f"ranker v{registry.champion_version(settings, registry.RANKER_MODEL)}"
    except ModelNotTrainedError:
        ranker = "no ranker (/rank and /recommend answer 503 until `paperrec train ranker`)"
    args = serve_command(host, port)
    console.print(
        f"serving topics v{topics}, {ranker} from {settings.home} on http://{host}:{port}",
        highlight=False,
        soft_wrap=True,
    )
    os.execve(args[0], args, serve_environment(settings))
