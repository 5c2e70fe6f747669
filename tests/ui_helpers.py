"""Helpers of the web inspector's browser tests: a ``durable-graph serve`` subprocess, Chromium
through Playwright, and the documentation screenshots.

The browser is the system Chromium (``/usr/bin/chromium``); Playwright's own browser downloads
are never used. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES_APP = REPO / "examples" / "function_app.py"
SCREENSHOTS_DIR = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_SECONDS = 20.0
STOP_SECONDS = 10.0
UI_TIMEOUT_MS = 6000  # every Playwright wait and expectation
LAUNCH_TIMEOUT_MS = 30000


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A running ``durable-graph serve`` process."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path, api_key: str | None) -> None:
        self.process = process
        self.base = base
        self.log = log
        self.api_key = api_key

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API directly (JSON in and out); raises for an error status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("x-functions-key", self.api_key)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def wait_for_status(self, instance_id: str, statuses: set[str], seconds: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            run: dict[str, Any] = self.call("GET", f"/runs/{instance_id}")
            if run["status"] in statuses or time.monotonic() > deadline:
                return run
            time.sleep(0.05)


@contextmanager
def serve(target: Path, workdir: Path, *, api_key: str | None = None) -> Iterator[Served]:
    """Start ``durable-graph serve TARGET`` on a free loopback port; stop it afterwards."""
    port = free_port()
    db = workdir / f"inspector-{port}.db"
    log = workdir / f"serve-{port}.log"
    args = [sys.executable, "-m", "azure_functions_durable_graph.cli", "serve", str(target),
            "--port", str(port), "--db", str(db)]
    if api_key:
        args += ["--api-key", api_key]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    served = Served(process, f"http://127.0.0.1:{port}", log, api_key)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{served.output()}")
            try:
                with urllib.request.urlopen(f"{served.base}/api/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not answer within {STARTUP_SECONDS} s:\n{served.output()}")
            time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless system Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=LAUNCH_TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, *, width: int = 1200, height: int = 900) -> Any:
    """A page in a fresh context (its own sessionStorage) with bounded waits."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(UI_TIMEOUT_MS * 2)
    page = context.new_page()
    page.js_errors = []  # collected for the tests to assert on
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    # HTTP error answers (400, 401) are part of the scenarios: only script errors count
    page.on("console", lambda message: page.js_errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    return page


def start_support_run(page: Any, base: str, ticket: str) -> str:
    """Start a support_agent run from the form and return its instance id (page on the run)."""
    page.goto(f"{base}/#/graphs/support_agent/start")
    page.get_by_label("Ticket").fill(ticket)
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/#/runs/*")
    return page.url.rsplit("/", 1)[-1]


def write_screenshots(out_dir: Path = SCREENSHOTS_DIR, workdir: Path | None = None) -> list[Path]:
    """Serve the examples and save the documentation screenshots (PNG) into ``out_dir``."""
    import tempfile

    from playwright.sync_api import expect

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        work = workdir or Path(scratch)
        with serve(EXAMPLES_APP, work) as served, chromium() as browser:
            page = new_page(browser, width=1100, height=900)
            served.call("POST", "/graphs/content_classifier/runs", {"input": {"text": "Buy cheap pills now"}})
            page.goto(f"{served.base}/#/graphs")
            expect(page.locator(".graph.card").first).to_be_visible()
            path = out_dir / "graphs.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)

            start_support_run(page, served.base, "My order has not arrived")
            expect(page.locator(".banner-waiting")).to_be_visible()
            page.get_by_label("Reviewer").fill("ana")
            page.evaluate("document.activeElement && document.activeElement.blur()")
            path = out_dir / "run-waiting.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)

            page.get_by_label("Approved").check()
            page.get_by_role("button", name="Send approval").click()
            expect(page.locator("#run-status")).to_have_text("completed")
            page.locator(".timeline > li").nth(1).locator("summary").first.click()
            page.evaluate("document.activeElement && document.activeElement.blur()")
            path = out_dir / "run-completed.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)

            served.call("POST", "/graphs/support_agent/runs", {"input": {"ticket": "Where is my refund?"}})
            page.goto(f"{served.base}/#/runs")
            expect(page.get_by_text("waiting for approval at draft_reply")).to_be_visible()
            expect(page.locator(".runs-table tbody tr").first).to_be_visible()
            path = out_dir / "runs.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
            page.context.close()
    return written


if __name__ == "__main__":
    reason = browser_missing()
    if reason:
        sys.exit(f"cannot take screenshots: {reason}")
    for written_path in write_screenshots():
        print(written_path.relative_to(REPO))
