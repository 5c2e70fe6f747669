"""The Durable extension's HTTP API: RPC (``/durabletask/``) and webhooks.

``DurableOrchestrationClient`` talks to ``rpcBaseUrl``; check-status URLs point at
``/runtime/webhooks/durabletask``. Both serve the same routes, status codes and bodies as
the extension's ``HttpApiHandler``: ``orchestrators/{name}/{id?}``, ``instances/`` (list,
purge by filter), ``instances/{id}`` (status, purge), ``instances/{id}/{operation}`` and
``instances/{id}/raiseEvent/{event}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import history as h
from . import paging
from .client_binding import management_payload
from .errors import (
    EmulatorTimeoutError,
    FunctionNotFoundError,
    InstanceStateError,
    InvalidInstanceIdError,
)
from .instances import FAILED, Instance
from .status import status_payload

if TYPE_CHECKING:
    from .served import ServedEmulator

_RUNNING_CODES = {"Running": 202, "Pending": 202, "ContinuedAsNew": 202, "Suspended": 202}


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None or value.strip().lower() not in ("true", "false"):
        return default  # like .NET bool.TryParse: anything else keeps the default
    return value.strip().lower() == "true"


def _time(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return h.parse_timestamp(value)
    except (ValueError, OverflowError):
        return None


def _error(status: int, message: str, exception: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"Message": message}
    if exception is not None:  # the SDK reads ExceptionMessage from 400s of start_new
        body.update({"ExceptionMessage": exception, "ExceptionType": "System.ArgumentException"})
    return JSONResponse(body, status_code=status)


def check_status_response(emu: ServedEmulator, request: Request, instance_id: str) -> Response:
    """202 with the management payload and a ``Location`` header, as the extension answers."""
    payload = management_payload(str(request.base_url), emu.task_hub, instance_id)
    return JSONResponse(payload, status_code=202, headers={
        "Location": payload["statusQueryGetUri"], "Retry-After": "10"})


def _request_uri(request: Request) -> str:
    """The request's URI as it came on the wire (the extension's ``Location`` is
    ``request.RequestUri``, written escaped); ``request.url`` holds the decoded path, and a
    header must be Latin-1."""
    raw = request.scope.get("raw_path")
    if not raw:
        return str(request.url)
    query = request.scope.get("query_string") or b""
    target = raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    return f"{request.url.scheme}://{request.url.netloc}{target}"


def _status_response(request: Request, inst: Instance) -> Response:
    code = _RUNNING_CODES.get(inst.runtime_status, 200)
    if inst.runtime_status == FAILED and _flag(request, "returnInternalServerErrorOnFailure", False):
        code = 500
    body = status_payload(inst, show_input=_flag(request, "showInput", True),
                          show_history=_flag(request, "showHistory", False),
                          show_history_output=_flag(request, "showHistoryOutput", False))
    headers = {"Location": _request_uri(request), "Retry-After": "5"} if code == 202 else None
    return JSONResponse(body, status_code=code, headers=headers)


async def handle(emu: ServedEmulator, request: Request, path: str) -> Response:
    """Serve one request whose path (after the RPC/webhook prefix) is ``path``."""
    segments = path.strip("/").split("/") if path.strip("/") else []
    method = request.method.upper()
    if len(segments) in (2, 3) and segments[0] == "orchestrators":
        if method != "POST":
            return Response(status_code=404)
        return await _start(emu, request, segments[1], segments[2] if len(segments) == 3 else None)
    if not segments or segments[0] != "instances":
        return Response(status_code=404)
    if len(segments) == 4 and segments[2] == "raiseEvent":
        if method != "POST":
            return Response(status_code=404)
        return await _raise_event(emu, request, segments[1], segments[3])
    if len(segments) == 1:
        if method == "GET":
            return _list(emu, request)
        if method == "DELETE":
            return await _purge_by(emu, request)
        return Response(status_code=404)
    if len(segments) == 2:
        if method == "GET":
            inst = emu.instance_record(segments[1])
            return Response(status_code=404) if inst is None else _status_response(request, inst)
        if method == "DELETE":
            return await _purge(emu, segments[1])
        return Response(status_code=404)
    if len(segments) == 3 and method == "POST":
        return await _operation(emu, request, segments[1], segments[2].lower())
    return Response(status_code=404)


async def _start(emu: ServedEmulator, request: Request, name: str,
                 instance_id: str | None) -> Response:
    text = (await request.body()).decode("utf-8")
    input_json = text if text.strip() else None
    if input_json is not None:
        try:
            json.loads(input_json)
        except ValueError:
            return _error(400, "Invalid JSON content")
    try:
        new_id = await emu.start_from_json(name, instance_id or None, input_json)
    except FunctionNotFoundError as err:
        return _error(400, err.message, err.message)
    except InvalidInstanceIdError as err:  # HttpApiHandler's catch of an ArgumentException
        return _error(400, "One or more of the arguments submitted is incorrect", err.message)
    except InstanceStateError as err:
        return _error(409, err.message)
    timeout = request.query_params.get("timeout")
    interval = request.query_params.get("pollingInterval")
    if timeout and interval:
        try:
            state = await emu.wait_for(new_id, timeout=float(timeout))
        except (EmulatorTimeoutError, ValueError):
            state = None
        if state is not None and state.runtime_status == "Completed":
            inst = emu.instance_record(new_id)
            return Response(inst.output_json if inst and inst.output_json else "null",
                            status_code=200, media_type="application/json")
        inst = emu.instance_record(new_id)
        if state is not None and inst is not None:
            return _status_response(request, inst)
    return check_status_response(emu, request, new_id)


def _list(emu: ServedEmulator, request: Request) -> Response:
    statuses = [s for s in request.query_params.get("runtimeStatus", "").split(",") if s]
    found = emu.query(created_from=_time(request, "createdTimeFrom"),
                      created_to=_time(request, "createdTimeTo"), statuses=statuses or None,
                      prefix=request.query_params.get("instanceIdPrefix"))
    try:  # paged as the extension pages (see paging.py)
        chosen, token = paging.page(found, size=paging.page_size(request.query_params.get("top")),
                                    token=request.headers.get(paging.TOKEN_HEADER))
    except paging.PagingError as err:
        return _error(400, "One or more of the arguments submitted is incorrect", str(err))
    show_input = _flag(request, "showInput", True)
    return JSONResponse([status_payload(i, show_input=show_input) for i in chosen],
                        headers={paging.TOKEN_HEADER: token})


async def _purge(emu: ServedEmulator, instance_id: str) -> Response:
    inst = emu.instance_record(instance_id)
    if inst is None:
        return Response(status_code=404)
    try:
        await emu.purge(instance_id)
    except InstanceStateError as err:
        return JSONResponse(err.message, status_code=412)
    return JSONResponse({"instancesDeleted": 1})


async def _purge_by(emu: ServedEmulator, request: Request) -> Response:
    created_from = _time(request, "createdTimeFrom")
    if created_from is None:
        return JSONResponse("Please provide value for 'createdTimeFrom' parameter.", status_code=400)
    created_to = _time(request, "createdTimeTo")
    statuses = [s for s in request.query_params.get("runtimeStatus", "").split(",") if s]
    deleted = await emu.purge_by(created_from=created_from,
                                 created_to=created_to if created_to is not None else emu.clock.now(),
                                 statuses=statuses or None)
    if deleted == 0:
        return Response(status_code=404)
    return JSONResponse({"instancesDeleted": deleted})


async def _operation(emu: ServedEmulator, request: Request, instance_id: str,
                     operation: str) -> Response:
    inst = emu.instance_record(instance_id)
    reason = request.query_params.get("reason")
    if operation == "restart":
        if inst is None:
            return _error(400, "InstanceId does not match a valid orchestration instance.")
        fresh = _flag(request, "restartWithNewInstanceId", True)
        try:
            new_id = await emu.restart(instance_id, new_instance_id=fresh)
        except InstanceStateError as err:
            return _error(409, err.message)
        return check_status_response(emu, request, new_id)
    if operation == "rewind":
        if inst is None:
            return JSONResponse(f'No orchestration with instance ID "{instance_id}" found.',
                                status_code=404)
        if inst.runtime_status != FAILED:
            return JSONResponse(
                f"This orchestration has status {inst.runtime_status}, but only orchestrations "
                'in the "Failed" state can be rewound.', status_code=412)
        return _error(501, "Rewind is not supported by the underlying storage provider.")
    actions = {"terminate": emu.terminate, "suspend": emu.suspend, "resume": emu.resume}
    if operation not in actions:
        return Response(status_code=404)
    if inst is None:
        return Response(status_code=404)
    if inst.is_finished:
        return Response(status_code=410)
    await actions[operation](instance_id, reason)
    return Response(status_code=202)


async def _raise_event(emu: ServedEmulator, request: Request, instance_id: str,
                       event_name: str) -> Response:
    inst = emu.instance_record(instance_id)
    if inst is None:
        return Response(status_code=404)
    if inst.is_finished:
        return Response(status_code=410)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        return _error(400, "Only application/json request content is supported")
    text = (await request.body()).decode("utf-8")
    try:
        token = json.loads(text) if text.strip() else None
    except ValueError:
        return _error(400, "Invalid JSON content")
    # The extension parses the body once and stores the token re-serialised: a JSON string
    # body (what the Python client posts) stays a string for the orchestrator.
    await emu.raise_event_json(instance_id, event_name, json.dumps(token) if text.strip() else None)
    return Response(status_code=202)


__all__ = ["check_status_response", "handle"]
