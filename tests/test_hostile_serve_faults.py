"""Issue 13, items 4, 8 and 10: ``durable-graph serve`` under faults, on real server processes.

- Stopped by SIGTERM or SIGINT, the server closes its store: SQLite checkpoints the WAL into
  the database file and removes ``-wal``/``-shm``, so a copy of the ``.db`` file alone holds
  every run.
- Read deadlines: half a request head, or half a body, is answered 408 and closed within the
  bound; a body the route never reads cannot hold the connection either.
- Startup failures (the file in use by another engine, a file that is not a database) are one
  line on stderr and exit code 2; 401 names its scheme; a client leaving mid-body logs no
  traceback; ``runs list``/``runs show`` read a database they may not write.

Servers run on loopback ports; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from azure_functions_durable_graph.api.app import AUTH_CHALLENGE
from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.cli import main
from azure_functions_durable_graph.graph.errors import StoreError
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore
from graph_helpers import EXAMPLES_DIR, load_example

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals and POSIX permissions")

QUICK = str(EXAMPLES_DIR / "quick_example.py")
STARTUP_SECONDS = 30.0
EXIT_SECONDS = 20.0
SLACK_SECONDS = 3.0  # how much later than its deadline a connection may be closed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "azure_functions_durable_graph.cli", *args]


@contextmanager
def serving(tmp_path: Path, *options: str, db: Path | None = None) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A ``serve`` process of the quick example (killed if a test leaves it running)."""
    port = _free_port()
    db = db or tmp_path / "runs.db"
    with open(tmp_path / "serve.out", "wb") as out, open(tmp_path / "serve.err", "wb") as err:
        process = subprocess.Popen(
            _command("serve", QUICK, "--port", str(port), "--db", str(db), *options),
            cwd=tmp_path, env=_env(), stdout=out, stderr=err,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}:\n{_log(tmp_path)}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1.0).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"serve did not start:\n{_log(tmp_path)}") from None
                time.sleep(0.1)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _log(tmp_path: Path) -> str:
    return "".join((tmp_path / name).read_text(errors="replace") for name in ("serve.out", "serve.err")
                   if (tmp_path / name).exists())


def _stop(process: subprocess.Popen[bytes], signum: int) -> int:
    process.send_signal(signum)
    return process.wait(timeout=EXIT_SECONDS)


def _exchange(port: int, payload: bytes, pause: float = 0.0, rest: bytes = b"") -> tuple[bytes, float]:
    """Send ``payload`` (then ``rest`` after ``pause`` s); everything read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.settimeout(30.0)  # far above every deadline under test: a hang fails, not blocks
        started = time.monotonic()
        sock.sendall(payload)
        if rest:
            time.sleep(pause)
            sock.sendall(rest)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if rest and b"\r\n\r\n" in received:  # a complete exchange: no need to wait for close
                break
        return received, time.monotonic() - started


def _error_code(answer: bytes) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in head.lower(), answer
    return str(json.loads(body)["error"]["code"])


# --- item 4: SIGTERM/SIGINT leave every run in the database file ------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_server_leaves_every_run_in_the_db_file_alone(tmp_path: Path, signum: int) -> None:
    db = tmp_path / "runs.db"
    with serving(tmp_path) as (process, port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            started = []
            for i in range(12):
                response = client.post("/api/graphs/my_graph/runs?wait=5",
                                       json={"input": {"message": f"m{i}"}, "instance_id": f"r{i}"})
                assert response.status_code in (200, 201, 202), response.text
                started.append(response.json()["instance_id"])
        _stop(process, signum)
    assert not (tmp_path / "runs.db-wal").exists(), "the WAL was not checkpointed away"
    assert not (tmp_path / "runs.db-shm").exists()
    copy = tmp_path / "elsewhere" / "copy.db"
    copy.parent.mkdir()
    shutil.copyfile(db, copy)  # the database file only
    with sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True) as conn:
        rows = dict(conn.execute("SELECT instance_id, status FROM runs").fetchall())
    assert rows == {instance_id: "completed" for instance_id in started}


def test_an_app_object_still_serves_twice_and_its_store_is_closed_between(tmp_path: Path) -> None:
    registration = load_example("quick_example").runtime.get("my_graph")
    app = build_local_app([registration], db=tmp_path / "twice.db")
    with TestClient(app) as client:
        first = client.post("/api/graphs/my_graph/runs?wait=5", json={"input": {"message": "a"}}).json()
    assert not (tmp_path / "twice.db-wal").exists()
    with TestClient(app) as client:
        assert client.get(f"/api/runs/{first['instance_id']}").json()["status"] == "completed"


# --- item 8: read deadlines -------------------------------------------------------------------

HEAD = b"POST /api/graphs/my_graph/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def test_half_a_head_is_answered_408_and_closed_within_the_header_timeout(tmp_path: Path) -> None:
    with serving(tmp_path, "--header-timeout", "1", "--body-timeout", "20") as (_process, port):
        answer, took = _exchange(port, HEAD + b"Content-Ty")
        assert _error_code(answer) == "REQUEST_TIMEOUT"
        assert 0.8 <= took <= 1 + SLACK_SECONDS, took
        # A connection that sends nothing at all is bounded the same way.
        answer, took = _exchange(port, b"")
        assert _error_code(answer) == "REQUEST_TIMEOUT" and took <= 1 + SLACK_SECONDS


def test_half_a_body_is_answered_408_and_closed_within_the_body_timeout(tmp_path: Path) -> None:
    with serving(tmp_path, "--header-timeout", "20", "--body-timeout", "1") as (_process, port):
        head = HEAD + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        answer, took = _exchange(port, head + b'{"input": {"mess')
        assert _error_code(answer) == "REQUEST_TIMEOUT"
        assert b"body" in answer
        assert 0.8 <= took <= 1 + SLACK_SECONDS, took
        # A declared body the route never reads: answered at once, then the connection closes.
        answer, took = _exchange(port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{")
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert took <= 1 + SLACK_SECONDS, took
        assert "Traceback" not in _log(tmp_path)


def test_a_request_arriving_in_pieces_within_the_bounds_is_served(tmp_path: Path) -> None:
    with serving(tmp_path, "--header-timeout", "3", "--body-timeout", "3") as (_process, port):
        body = b'{"input": {"message": "slow but in time"}}'
        head = HEAD + b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
        answer, _took = _exchange(port, head, pause=0.5, rest=b"\r\n\r\n" + body)
        assert answer.startswith(b"HTTP/1.1 202 "), answer


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_deadline_flags_must_be_positive_seconds(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", QUICK, "--header-timeout", value]) == 2
    assert main(["serve", QUICK, "--body-timeout", value]) == 2
    err = capsys.readouterr().err
    assert err.count(f"'{value}' ") == 2 and "seconds" in err, err


# --- item 10: startup failures, 401, disconnects, read-only databases ---------------------------


def _serve_once(tmp_path: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command("serve", QUICK, "--port", str(_free_port()), "--db", str(db)),
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)


def _assert_one_line(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"durable-graph: error: [{code}] "), result.stderr
    assert result.stdout == ""  # no banner for a server that does not start


def test_a_second_serve_on_the_same_file_fails_in_one_line(tmp_path: Path) -> None:
    with serving(tmp_path) as (process, _port):
        second = tmp_path / "second"
        second.mkdir()
        result = _serve_once(second, tmp_path / "runs.db")
        _assert_one_line(result, "STORE_IN_USE")
        assert process.poll() is None  # the first one is untouched


@pytest.mark.parametrize("content", [b"these are my notes\n", b"SQLite format 3\x00" + b"\x07" * 4000],
                         ids=["text", "broken-sqlite"])
def test_a_file_that_is_not_a_database_fails_serve_in_one_line(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(content)
    _assert_one_line(_serve_once(tmp_path, db), "STORE_ERROR")
    assert db.read_bytes() == content


def test_a_taken_port_fails_serve_with_exit_code_2(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(_command("serve", QUICK, "--port", str(port), "--db", str(tmp_path / "r.db")),
                                cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


def test_401_names_the_scheme_it_accepts() -> None:
    registration = load_example("quick_example").runtime.get("my_graph")
    app = build_local_app([registration], engine=LocalEngine(MemoryRunStore()), api_key="k")
    with TestClient(app) as client:
        refused = client.get("/api/graphs")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == AUTH_CHALLENGE
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
        assert client.get("/api/graphs", headers={"Authorization": "Bearer k"}).status_code == 200


def test_a_client_leaving_mid_body_logs_no_traceback(tmp_path: Path) -> None:
    with serving(tmp_path) as (process, port):
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
                sock.sendall(HEAD + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"in")
                time.sleep(0.2)  # the server is reading the body when the client goes
        # The server is still fine, and has had time to notice the clients leave.
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5.0).status_code == 200
        _stop(process, signal.SIGINT)
    log = _log(tmp_path)
    assert "Traceback" not in log and "ClientDisconnect" not in log and "ERROR" not in log, log


def _make_runs(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("ro-1", "ro-2"):
        assert main(["run", QUICK, "--db", str(db), "--input", '{"message": "m"}', "--instance-id", name]) == 0
    capsys.readouterr()


def _as_unprivileged(argv: list[str]) -> list[str]:
    """``argv`` run so that file permissions apply (root ignores them unless its DAC caps go)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be made to apply")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *argv]


def test_runs_list_and_show_read_a_database_they_may_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "runs.db"
    _make_runs(db, capsys)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert "runs.db-wal" not in before and "runs.db-shm" not in before, before  # a clean close
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        # The permissions do apply to the command (a write attempt fails), so the test can fail.
        probe = subprocess.run(_as_unprivileged([sys.executable, "-c", f"open({str(db)!r}, 'ab')"]),
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe
        listing = subprocess.run(_as_unprivileged(_command("runs", "list", "--db", str(db))),
                                 capture_output=True, text=True, timeout=60, env=_env())
        assert listing.returncode == 0, listing.stderr
        assert [line.split()[0] for line in listing.stdout.splitlines()] == ["ro-2", "ro-1"]
        shown = subprocess.run(_as_unprivileged(_command("runs", "show", "ro-1", "--db", str(db), "--json")),
                               capture_output=True, text=True, timeout=60, env=_env())
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["run"]["status"] == "completed"
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_the_read_only_store_refuses_writes_and_leaves_the_file_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    _make_runs(db, capsys)
    content = db.read_bytes()
    store = SqliteRunStore(db, read_only=True)
    try:
        assert store.get_run("ro-1").status == "completed"
        with pytest.raises(StoreError, match="readonly"):
            store.put_manifest("h" * 64, "g", "{}")
    finally:
        store.close()
    assert db.read_bytes() == content
    assert stat.S_IMODE(db.stat().st_mode) & 0o200  # writable: only the opening mode refused


def test_runs_list_of_a_missing_file_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--db", str(tmp_path / "none" / "runs.db")]) == 0
    assert capsys.readouterr().out == "no runs\n"
    assert not (tmp_path / "none").exists()
