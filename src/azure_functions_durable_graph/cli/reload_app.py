"""The app factory ``durable-graph serve --reload`` hands to uvicorn (``--factory``).

The reloading server imports the user's graphs afresh in each worker, so the factory reads
what ``serve`` parsed from environment variables. It lives in ``cli/`` because loading a TARGET
is the command line's job; ``api/`` only builds the app from registrations.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from ..api.server import (
    ENV_ALLOWED_HOSTS,
    ENV_API_KEY,
    ENV_DB,
    ENV_DURABILITY,
    ENV_PREFIX,
    ENV_TARGET,
    build_local_app,
)
from .engine_session import valid_registrations

FACTORY = f"{__name__}:app_from_environment"
"""The import string uvicorn is given."""


def app_from_environment() -> Starlette:
    """The local app for the TARGET, database, key, prefix, hosts and durability ``serve`` put in the environment."""
    return build_local_app(
        valid_registrations(os.environ.get(ENV_TARGET) or None), db=os.environ.get(ENV_DB) or None,
        api_key=os.environ.get(ENV_API_KEY) or None, prefix=os.environ.get(ENV_PREFIX, "/api"),
        allowed_hosts=hosts.split(",") if (hosts := os.environ.get(ENV_ALLOWED_HOSTS)) else None,
        durability=os.environ.get(ENV_DURABILITY) or None,
    )


__all__ = ["FACTORY", "app_from_environment"]
