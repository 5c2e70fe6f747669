"""docs/web-frontend.md's browser script is valid JavaScript (``node --check``), and calls the
routes and event names the API has."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from azure_functions_durable_graph.api.routes import ROUTES
from doc_blocks import extract

PAGE = "docs/web-frontend.md"


def _script() -> str:
    [block] = [b for b in extract(PAGE) if b.lang == "javascript"]
    return block.text


def test_the_page_script_parses(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make install needs it for npm ci)")
    script = tmp_path / "follow.js"
    script.write_text(_script(), encoding="utf-8")
    checked = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def test_the_page_script_uses_routes_that_exist() -> None:
    script = _script()
    paths = {spec.path for spec in ROUTES}
    assert {"/graphs/{graph}/runs", "/runs/{instance_id}", "/runs/{instance_id}/stream",
            "/runs/{instance_id}/events/{event}"} <= paths
    for used in ("'/graphs/support_agent/runs'", "'/stream'", "'/events/approval'", "'x-event-id'"):
        assert used in script
