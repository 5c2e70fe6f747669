"""Regenerate the inspector screenshots in docs/screenshots/ (only with UPDATE_SCREENSHOTS=1).

    UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/test_ui_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ui_helpers import SCREENSHOTS_DIR, browser_missing, write_screenshots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(os.environ.get("UPDATE_SCREENSHOTS") != "1", reason="set UPDATE_SCREENSHOTS=1 to rewrite docs/screenshots")
def test_write_screenshots(tmp_path: Path) -> None:
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    written = write_screenshots(SCREENSHOTS_DIR, workdir=tmp_path)
    assert [p.name for p in written] == ["graphs.png", "run-waiting.png", "run-completed.png", "runs.png"]
    for path in written:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
