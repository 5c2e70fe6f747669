"""The local server: the embedded engine and the HTTP app in one process (uvicorn)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from ..graph.registration import GraphRegistration
from .app import DEFAULT_MAX_BODY, create_app
from .index import index_routes

ENV_TARGET = "DURABLE_GRAPH_TARGET"
ENV_DB = "DURABLE_GRAPH_DB"
ENV_API_KEY = "DURABLE_GRAPH_API_KEY"
ENV_PREFIX = "DURABLE_GRAPH_PREFIX"
ENV_ALLOWED_HOSTS = "DURABLE_GRAPH_ALLOWED_HOSTS"  # comma-separated; unset: no Host check
ENV_DURABILITY = "DURABLE_GRAPH_DURABILITY"  # process | power (serve --durability)


def build_local_app(
    registrations: list[GraphRegistration], *, db: str | Path | None = None, api_key: str | None = None,
    prefix: str = "/api", max_body: int = DEFAULT_MAX_BODY, engine: Any = None,
    allowed_hosts: Iterable[str] | None = None, durability: str | None = None,
) -> Starlette:
    """A Starlette app whose lifespan opens a LocalEngine with ``registrations`` and closes it.

    It serves the API under ``prefix`` (with its JSON index at ``{prefix}/``) and the inspector at ``/``.
    The store of an engine made here (from ``db``) is closed at shutdown, so SQLite checkpoints
    its WAL into the file and removes ``-wal``/``-shm``; a later start opens it again. An
    ``engine`` passed in stays open: its store is the caller's to close. ``allowed_hosts``
    limits the ``Host`` names answered (see :func:`create_app`; ``serve`` on loopback passes
    the loopback names). ``durability`` is the mode of an engine made here (``"process"`` or
    ``"power"``, see docs/engine.md).
    """
    from ..local.engine import LocalEngine

    owned = engine is None
    local = engine or LocalEngine(db, durability=durability)
    for registration in registrations:
        local.register(registration)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        reopen = getattr(local.store, "reopen", None)
        if owned and reopen is not None:
            reopen()  # closed by the previous shutdown when this app is served again
        await local.open()
        app.state.engine = local
        try:
            yield
        finally:
            # Runs stay stored and resume on the next start.
            await local.close(close_store=owned)

    app = create_app(local, local, prefix=prefix, api_key=api_key, max_body=max_body, lifespan=lifespan,
                     allowed_hosts=allowed_hosts)
    # GET {prefix}/ answers with the API's index (the URL ``serve`` prints as the API).
    app.router.routes.extend(index_routes(local, prefix=prefix))
    return app


__all__ = [
    "ENV_ALLOWED_HOSTS", "ENV_API_KEY", "ENV_DB", "ENV_DURABILITY", "ENV_PREFIX", "ENV_TARGET", "build_local_app",
]
