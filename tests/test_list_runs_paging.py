"""Listing runs past one page of the Durable management API, the same on both engines.

On Azure the runs come from the host's instances query, 100 instances a page; a run with a
subgraph adds a sub-orchestration instance of its own. Both engines must list every top-level run
(and no sub-orchestration), newest first, with the same filters and cursor paging.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from http_conformance import ENGINES, HttpEngine, LocalHttpEngine
from scenarios import build_subgraph, build_wait_event

PARENTS = 110  # each also starts one sub-orchestration on Azure
WAITING = 15


@pytest.fixture(scope="module", params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[HttpEngine]:
    """An engine with PARENTS finished subgraph runs and WAITING waiting runs, started in turn."""
    with ENGINES[request.param](build_subgraph()) as served:
        if isinstance(served, LocalHttpEngine):
            served.engine.register(build_wait_event())
        else:
            served.emulator.app.owner.register_registration(build_wait_event())
        for n in range(PARENTS + WAITING):
            graph, body = ("parent", {"count": n}) if n < PARENTS else ("wait_event", {})
            response = served.client.post(f"/api/graphs/{graph}/runs", json={"input": body, "instance_id": f"r{n:04d}"})
            assert response.status_code == 202, response.text
            if isinstance(served, LocalHttpEngine):  # its clock is manual: give each run its own time
                served.clock.advance(1.0)
        for n in range(PARENTS + WAITING):
            served.settle(f"r{n:04d}")
        yield served


def _list(engine: HttpEngine, **params: Any) -> dict[str, Any]:
    response = engine.client.get("/api/runs", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(body: dict[str, Any]) -> list[str]:
    return [run["instance_id"] for run in body["runs"]]


NEWEST_FIRST = [f"r{n:04d}" for n in reversed(range(PARENTS + WAITING))]


def test_every_top_level_run_newest_first_and_no_sub_orchestration(engine: HttpEngine) -> None:
    body = _list(engine, limit=500)
    assert _ids(body) == NEWEST_FIRST and body["next_cursor"] is None
    if not isinstance(engine, LocalHttpEngine):  # the host really had more than a page
        instances = engine.emulator.list_instances()
        children = [i for i in instances if i.parent_instance_id is not None]
        assert len(instances) == PARENTS * 2 + WAITING > 200 and len(children) == PARENTS


def test_cursor_pages_cover_the_list_once(engine: HttpEngine) -> None:
    pages, cursor = [], None
    while True:
        body = _list(engine, limit=40, **({"cursor": cursor} if cursor else {}))
        pages.append(_ids(body))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [40, 40, 40, 5]
    assert [i for p in pages for i in p] == NEWEST_FIRST


def test_filters(engine: HttpEngine) -> None:
    assert _ids(_list(engine, graph="wait_event", limit=500)) == NEWEST_FIRST[:WAITING]
    assert _ids(_list(engine, status="waiting", limit=500)) == NEWEST_FIRST[:WAITING]
    assert _ids(_list(engine, status="completed", limit=500)) == NEWEST_FIRST[WAITING:]
    assert _ids(_list(engine, graph="parent", status="waiting")) == []
    runs = _list(engine, limit=500)["runs"]
    pivot = runs[60]["created_at"]
    assert _ids(_list(engine, created_before=pivot, limit=500)) == NEWEST_FIRST[61:]
    assert _ids(_list(engine, created_after=pivot, limit=500)) == NEWEST_FIRST[:61]
    assert _ids(_list(engine, limit=7)) == NEWEST_FIRST[:7]


def test_bad_list_queries_get_the_same_errors(engine: HttpEngine) -> None:
    for params, code in (({"cursor": "not-a-cursor"}, "INVALID_CURSOR"), ({"status": "nope"}, "INVALID_INPUT"),
                         ({"limit": "x"}, "INVALID_INPUT")):
        response = engine.client.get("/api/runs", params=params)
        assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text
