"""``facetrail serve``: the REST API (and, later, the web app) on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from facetrail.cli.app import app, open_context
from facetrail.cli.render import console


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes sharing the database and index files.", min=1)
    ] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Behind a reverse proxy: the proxy's addresses (comma-separated), whose "
            "X-Forwarded-For and X-Forwarded-Proto are then trusted for the client's address "
            "(rate limits) and scheme (Secure cookies). Default: trust no proxy header."
        ),
    ] = None,
) -> None:
    """Serve the REST API (OpenAPI schema at /docs and /openapi.json).

    The home and its schema are checked first: an outdated database stops the start with the
    command to run. Each worker opens its own connection pool and index cache; every search
    reconciles the index with the committed database first, so any worker sees every ingest.
    """
    import uvicorn

    with open_context() as ctx:  # no home, or an outdated/damaged one: a typed error, exit 2
        where = ctx.settings.db_url if ctx.settings.db_file is None else str(ctx.settings.home)
        per_worker = ctx.settings.rate_limit_storage.startswith("memory://")
    console.print(f"facetrail serving {where} on http://{host}:{port} ({workers} worker(s))")
    if workers > 1 and per_worker:
        console.print(
            f"note: rate limits count in each worker (up to {workers}x a limit in all); set "
            "FACETRAIL_RATE_LIMIT_STORAGE to a shared store (redis://...) to count them once"
        )
    uvicorn.run(
        "facetrail.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
    )
