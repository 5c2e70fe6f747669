"""The local engine under store faults and aliased paths.

- A full disk for a while (a store that raises SQLite's "database or disk is full" for a window
  of calls, in front of the real SQLite or memory store) ends neither the timer loop nor a run's
  drive: once the disk has space, a deadline due during the fault fires, a node result finished
  during it is applied once, an event accepted around it is applied without another event, and
  each streak of failures is logged once, naming the run.
- One engine per database file whatever the path says: a symlink, a relative path or a ``..``
  path to a file in use is refused with STORE_IN_USE naming the file.

Virtual time (ManualClock) drives deadlines and the retry backoff; real time only bounds how
long a test waits for the engine's threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, RouteDecision, reducers
from azure_functions_durable_graph.errors import StoreError
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store import MemoryRunStore
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore
from faulty_store import DISK_FULL, FaultyStore
from graph_helpers import EXAMPLES_DIR

BOUND_SECONDS = 10.0  # real time a test waits at most for the engine's threads
PACKAGE_LOGGER = "azure_functions_durable_graph"


class FaultState(BaseModel):
    count: Annotated[int, reducers.add] = 0
    log: Annotated[list[str], reducers.append] = []


class Gate:
    """Holds the ``work`` node until the test releases it (bounded)."""

    def __init__(self, released: bool) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        if released:
            self.release.set()

    def work(self, state: FaultState) -> dict[str, Any]:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(BOUND_SECONDS), "the test never released the node"
        return {"count": 1, "log": "work"}


def build(gate: Gate) -> GraphRegistration:
    """work -> wait for 'go' (an hour at most) -> resume; the deadline runs 'late'."""
    wait = RouteDecision.wait_for_event("go", "resume", timeout=3600, on_timeout="late")
    b = ManifestBuilder(graph_name="faults", state_model=FaultState)
    b.set_entrypoint("work")
    b.add_node("work", gate.work, route=lambda s: wait, route_targets=[wait])
    b.add_node("resume", lambda s: {"log": "resume"}, terminal=True)
    b.add_node("late", lambda s: {"log": "late"}, terminal=True)
    b.add_event_handler("go", lambda s, p: {"count": p["n"]})
    return b.build()


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    inner = SqliteRunStore(tmp_path / "runs.db") if request.param == "sqlite" else MemoryRunStore()
    return FaultyStore(inner)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=PACKAGE_LOGGER)
    return caplog


@asynccontextmanager
async def engine_on(store: Any, gate: Gate) -> AsyncIterator[tuple[LocalEngine, ManualClock]]:
    clock = ManualClock(auto_advance=False)
    async with LocalEngine(store, clock=clock) as engine:
        engine.register(build(gate))
        yield engine, clock


async def advance_until(clock: ManualClock, done: Callable[[], bool], what: str) -> None:
    """Move virtual time a second at a time (retries back off on it) until ``done()``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND_SECONDS
    while not done():
        assert loop.time() < deadline, f"not {what} within {BOUND_SECONDS} s"
        clock.advance(1.0)
        await asyncio.sleep(0.01)  # the engine's threads act on the new time


def status_of(store: Any, instance_id: str) -> str:
    """The stored status, read behind the fault (the test's reads do not use up the window)."""
    return str(store.inner.get_run(instance_id).status)


def store_warnings(logs: pytest.LogCaptureFixture, needle: str) -> list[logging.LogRecord]:
    return [r for r in logs.records if r.levelno == logging.WARNING and needle in r.getMessage()]


def assert_one_streak_logged(logs: pytest.LogCaptureFixture, needle: str) -> None:
    warnings = store_warnings(logs, needle)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].name.startswith(PACKAGE_LOGGER + ".")
    assert DISK_FULL in warnings[0].getMessage()
    recovered = [r for r in logs.records if needle in r.getMessage() and "usable again" in r.getMessage()]
    assert len(recovered) == 1 and recovered[0].levelno == logging.INFO


def test_a_deadline_due_during_the_fault_fires_once_the_disk_has_space(store: Any, logs: Any) -> None:
    async def scenario() -> None:
        async with engine_on(store, Gate(released=True)) as (engine, clock):
            run = await engine.start("faults", {}, instance_id="deadline")
            assert (await engine.wait(run.instance_id, timeout=BOUND_SECONDS)).status == "waiting"
            store.fail()  # every call, until healed
            clock.advance(3601)  # the deadline is due while nothing can be read
            await store.wait_failures(1)
            await advance_until(clock, lambda: store.failures >= 4, "retried")
            assert status_of(store, "deadline") == "waiting"
            store.heal()
            await advance_until(clock, lambda: status_of(store, "deadline") == "completed", "completed")
            record = store.inner.get_run("deadline")
            assert record.snapshot["state"]["log"] == ["work", "late"]
            assert [row["node"] for row in await engine.history("deadline")].count("late") == 1
        assert_one_streak_logged(logs, "timer loop")

    asyncio.run(scenario())


def test_a_result_finished_during_the_fault_is_applied_once_after(store: Any, logs: Any) -> None:
    async def scenario() -> None:
        gate = Gate(released=False)
        async with engine_on(store, gate) as (engine, clock):
            run = await engine.start("faults", {}, instance_id="result")
            assert await asyncio.to_thread(gate.entered.wait, BOUND_SECONDS)
            store.fail(methods={"commit_transition"})
            gate.release.set()  # the node's result is ready while no commit succeeds
            await store.wait_failures(1)
            await advance_until(clock, lambda: store.failures >= 4, "retried")
            assert status_of(store, "result") == "running"
            assert store.inner.history("result") == []  # nothing of the result is written yet
            store.heal()
            await advance_until(clock, lambda: status_of(store, "result") == "waiting", "parked")
            await engine.raise_event(run.instance_id, "go", {"n": 10})
            status = await engine.wait(run.instance_id, timeout=BOUND_SECONDS)
            assert status.status == "completed"
            assert status.output["state"] == {"count": 11, "log": ["work", "resume"]}  # once each
            assert gate.calls == 1  # the node did not run again
            work_rows = [row for row in await engine.history("result") if row["node"] == "work"]
            assert len(work_rows) == 1 and work_rows[0]["ok"]
        assert_one_streak_logged(logs, "run 'result'")

    asyncio.run(scenario())


def test_an_event_accepted_just_before_the_fault_is_applied_without_another(store: Any, logs: Any) -> None:
    async def scenario() -> None:
        async with engine_on(store, Gate(released=True)) as (engine, clock):
            run = await engine.start("faults", {}, instance_id="parked")
            assert (await engine.wait(run.instance_id, timeout=BOUND_SECONDS)).status == "waiting"
            # The event is stored; the drive that would deliver it cannot read the run.
            store.fail(count=3, after="enqueue_event")
            await engine.raise_event(run.instance_id, "go", {"n": 5})
            await store.wait_failures(1)
            await advance_until(clock, lambda: status_of(store, "parked") == "completed", "completed")
            state = store.inner.get_run("parked").snapshot["state"]
            assert state == {"count": 6, "log": ["work", "resume"]}
        assert "get_run" in store.failed_calls
        assert_one_streak_logged(logs, "run 'parked'")

    asyncio.run(scenario())


def test_an_event_accepted_during_the_fault_is_applied_without_another(store: Any, logs: Any) -> None:
    async def scenario() -> None:
        gate = Gate(released=False)
        async with engine_on(store, gate) as (engine, clock):
            run = await engine.start("faults", {}, instance_id="busy")
            assert await asyncio.to_thread(gate.entered.wait, BOUND_SECONDS)
            store.fail(methods={"commit_transition"})  # the inbox still takes events
            await engine.raise_event(run.instance_id, "go", {"n": 7})
            gate.release.set()
            await store.wait_failures(1)
            await advance_until(clock, lambda: store.failures >= 3, "retried")
            store.heal()
            await advance_until(clock, lambda: status_of(store, "busy") == "completed", "completed")
            state = store.inner.get_run("busy").snapshot["state"]
            assert state == {"count": 8, "log": ["work", "resume"]}
            assert store.inner.pending_events("busy") == []
        assert_one_streak_logged(logs, "run 'busy'")

    asyncio.run(scenario())


def test_an_error_that_is_not_transient_is_logged_and_not_retried(store: Any, logs: Any) -> None:
    async def scenario() -> None:
        async with engine_on(store, Gate(released=True)) as (engine, clock):
            store.fail(methods={"commit_transition"}, error=ValueError("a bug, not a full disk"))
            await engine.start("faults", {}, instance_id="bug")
            await advance_until(clock, lambda: bool(errors()), "logged")
            assert len(errors()) == 1 and errors()[0].exc_info is not None
            assert store.failures == 1  # not retried: the drive stopped at once
            assert (await engine.get_status("bug")).status == "running"  # left as stored
            store.heal()

    def errors() -> list[logging.LogRecord]:
        return [r for r in logs.records if r.levelno == logging.ERROR and "run 'bug'" in r.getMessage()]

    asyncio.run(scenario())


# -- one engine per file, however the path is spelled -------------------------------------------

def _refused(path: Path | str, real: Path) -> StoreError:
    async def scenario() -> StoreError:
        async with LocalEngine(real):
            second = LocalEngine(path)
            try:
                with pytest.raises(StoreError) as refused:
                    await second.open()
            finally:
                second.store.close()
            return refused.value

    return asyncio.run(scenario())


@pytest.fixture
def real_db(tmp_path: Path) -> Path:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    return tmp_path / "data" / "runs.db"


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks")
@pytest.mark.parametrize("spelling", ["file symlink", "folder symlink", "relative", "dot-dot"])
def test_a_second_engine_on_another_spelling_of_the_file_is_refused(
    spelling: str, real_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqliteRunStore(real_db).close()
    if spelling == "file symlink":
        path: Path = tmp_path / "link.db"
        path.symlink_to(real_db)
    elif spelling == "folder symlink":
        (tmp_path / "linked").symlink_to(real_db.parent, target_is_directory=True)
        path = tmp_path / "linked" / "runs.db"
    elif spelling == "relative":
        monkeypatch.chdir(real_db.parent / "sub")
        path = Path("..") / "runs.db"
    else:
        path = real_db.parent / "sub" / ".." / "runs.db"
    error = _refused(path, real_db)
    assert error.code == "STORE_IN_USE"
    assert f"'{path}'" in error.message and str(real_db.resolve()) in error.message
    assert str(os.getpid()) in error.message


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks")
def test_serve_on_a_symlink_to_a_file_in_use_is_refused(real_db: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.db"
    link.symlink_to(real_db)

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with LocalEngine(real_db):
            command = [sys.executable, "-m", "azure_functions_durable_graph.cli", "serve",
                       str(EXAMPLES_DIR / "quick_example.py"), "--port", "0", "--db", str(link)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}
            return await asyncio.to_thread(subprocess.run, command, cwd=tmp_path, env=env,
                                           capture_output=True, text=True, timeout=30)

    result = asyncio.run(scenario())
    assert result.returncode == 2, result
    assert result.stderr.startswith("durable-graph: error: [STORE_IN_USE] "), result.stderr
    assert str(real_db.resolve()) in result.stderr


class CountingStore(MemoryRunStore):
    """The memory store, counting the timer loop's passes (each asks for the next timer)."""

    def __init__(self) -> None:
        super().__init__()
        self.timer_looks = 0

    def next_timer_at(self) -> float | None:
        self.timer_looks += 1
        return super().next_timer_at()


class Nothing(BaseModel):
    """A state with no fields."""


def _deadline_graph() -> GraphRegistration:
    wait = RouteDecision.wait_for_event("answer", "done", timeout=60, on_timeout="done")
    builder = ManifestBuilder(graph_name="deadline", state_model=Nothing)
    builder.set_entrypoint("ask")
    builder.add_node("ask", lambda s: None, route=lambda s: wait, route_targets=[wait, "done"])
    builder.add_node("done", lambda s: None, terminal=True)
    builder.add_event_handler("answer")
    return builder.build()


def test_a_due_timer_no_engine_here_can_act_on_does_not_spin_the_timer_loop() -> None:
    # A run whose graph this engine does not register has a due deadline: the loop cannot wake
    # it, and used to look again at once, pass after pass, holding a core. It now looks again
    # after STUCK_POLL_SECONDS (or a nudge), so a few hundred turns of the event loop see at
    # most a couple of passes.
    store, clock = CountingStore(), ManualClock(auto_advance=False)

    async def scenario() -> tuple[int, str]:
        engine = LocalEngine(store, clock=clock)
        await engine.open()
        engine.register(_deadline_graph())
        run = await engine.start("deadline", {})
        assert (await engine.wait(run.instance_id, timeout=10)).status == "waiting"
        await engine.close(close_store=False)  # the store stays open for the next engine
        clock.advance(61)  # due now, for an engine that has no code for it
        async with LocalEngine(store, clock=clock) as bare:
            before = store.timer_looks
            for _ in range(300):
                await asyncio.sleep(0)
            passes = store.timer_looks - before
            status = (await bare.get_status(run.instance_id)).status
        return passes, status

    passes, status = asyncio.run(scenario())
    assert status == "waiting"  # nothing could act on it, and nothing was lost
    assert passes <= 2, passes
