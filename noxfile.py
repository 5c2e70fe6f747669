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


@nox.session(python=["3.10", "3.13"])
def tests(session: nox.Session) -> None:
    """pytest on one interpreter."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)
