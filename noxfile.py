"""Runs the test suite on the oldest and newest supported Pythons (3.10 and 3.13)."""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
# pyenv shims refuse a version that is not selected; select every installed one for nox.
os.environ.setdefault("PYENV_VERSION", "3.10:3.11:3.12:3.13")
# Use the installed interpreters only; never download one.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


# The LangGraph versions from_langgraph is tested on: the newest release (the langgraph extra)
# on 3.13, the oldest supported one on 3.10.
LANGGRAPH_OLDEST = ("langgraph==1.0.0", "langgraph-prebuilt==1.0.0")  # a newer prebuilt needs a newer langgraph


@nox.session(python=["3.10", "3.13"])
def tests(session: nox.Session) -> None:
    """pytest on one interpreter."""
    if session.python == "3.13":
        session.install("-e", ".[dev,langgraph]")
    else:
        session.install("-e", ".[dev]", *LANGGRAPH_OLDEST)
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)
