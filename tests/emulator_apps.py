"""A small hand-written Durable Functions app (Python v2 model) for the emulator tests."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# Flipped by the non-determinism tests between episodes (what a redeploy would do).
MODE: dict[str, str] = {"drift": "a"}


# ------------------------------------------------------------------ activities

@app.activity_trigger(input_name="n")
def add_one(n: int) -> int:
    return n + 1


@app.activity_trigger(input_name="n")
async def add_one_async(n: int) -> int:
    return n + 1


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n


@app.activity_trigger(input_name="text")
def shout(text: str) -> str:
    return text.upper()


@app.activity_trigger(input_name="payload")
def echo(payload: Any) -> Any:
    return payload


@app.activity_trigger(input_name="text")
def boom(text: str) -> str:
    raise ValueError(f"boom: {text}")


@app.activity_trigger(input_name="n")
def step_a(n: int) -> str:
    return "a"


@app.activity_trigger(input_name="n")
def step_b(n: int) -> str:
    return "b"


# --------------------------------------------------------------- orchestrators

@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    start = context.get_input()
    first = yield context.call_activity("add_one", start)
    second = yield context.call_activity("add_one_async", first)
    third = yield context.call_activity(shout, "done")
    return [first, second, third]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("square", i) for i in range(count)])
    return {"results": results, "total": sum(results)}


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    left = context.wait_for_external_event("left")
    right = context.wait_for_external_event("right")
    winner = yield context.task_any([left, right])
    return {"winner": "left" if winner == left else "right", "value": winner.result}


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=60))
    after = yield context.call_activity("add_one", 1)
    return {"waited": (context.current_utc_datetime - started).total_seconds(), "after": after}


@app.orchestration_trigger(context_name="context")
def deadline(context: df.DurableOrchestrationContext):
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
    answer = context.wait_for_external_event("answer")
    winner = yield context.task_any([answer, timer])
    if winner == answer:
        timer.cancel()
        return {"answered": answer.result}
    return {"answered": None}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    decision = yield context.wait_for_external_event("approve")
    context.set_custom_status({"stage": "approved"})
    return decision


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    value = yield context.call_sub_orchestrator("child", context.get_input())
    return {"child": value, "parent_id": context.instance_id}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    value = yield context.call_activity("add_one", context.get_input())
    return {"value": value * 10, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def failing_child(context: df.DurableOrchestrationContext):
    yield context.call_activity("boom", context.get_input())
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def parent_of_failing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("failing_child", "kid")
    except Exception as exc:
        return {"caught": str(exc)}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def catches(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("boom", "bad input")
    except Exception as exc:
        return {"caught": str(exc)}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    state = context.get_input()
    if state["n"] >= 3:
        return state
    value = yield context.call_activity("add_one", state["n"])
    context.continue_as_new({"n": value, "seen": state["seen"] + [value]})


@app.orchestration_trigger(context_name="context")
def drifting(context: df.DurableOrchestrationContext):
    mode = MODE["drift"]
    if mode == "a":
        yield context.call_activity("step_a", 0)
    elif mode == "b":
        yield context.call_activity("step_b", 0)
    yield context.wait_for_external_event("go")
    return mode


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("x")
    second = yield context.wait_for_external_event("y")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def reporter(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": 1})
    yield context.call_activity("add_one", 1)
    context.set_custom_status({"stage": 2})
    yield context.wait_for_external_event("finish")
    return "ok"


# ---------------------------------------------------------------- HTTP triggers

def _json(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@app.route(route="orchestrators/{name}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"],
                                         req.route_params.get("instance_id"), payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="wait/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_and_wait(req: func.HttpRequest,
                         client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None,
                                         json.loads(body) if body else None)
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=5000, retry_interval_in_milliseconds=50)


@app.route(route="status/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await client.get_status(req.route_params["instance_id"], show_history=True,
                                    show_input=True)
    if not found:
        return _json({"found": False}, 404)
    return _json({
        "found": True,
        "runtimeStatus": found.runtime_status.value if found.runtime_status else None,
        "output": found.output,
        "input": found.input_,
        "customStatus": found.custom_status,
        "historyEvents": len(getattr(found, "historyEvents", []) or []),
    })


@app.route(route="events/{instance_id}/{event}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def send_event(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["instance_id"], req.route_params["event"],
                             req.get_json())
    return func.HttpResponse(status_code=202)


@app.route(route="control/{instance_id}/{operation}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def control(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params["instance_id"]
    operation = req.route_params["operation"]
    if operation == "terminate":
        await client.terminate(instance_id, "stopped by test")
    elif operation == "suspend":
        await client.suspend(instance_id, "paused by test")
    elif operation == "resume":
        await client.resume(instance_id, "resumed by test")
    else:
        return _json({"error": operation}, 400)
    return func.HttpResponse(status_code=202)


@app.route(route="purge/{instance_id}", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def purge(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["instance_id"])
    return _json({"deleted": result.instances_deleted})


@app.route(route="instances", methods=["GET"])
@app.durable_client_input(client_name="client")
async def list_all(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    prefix = req.params.get("prefix")
    if prefix:
        found = await client.get_status_by(instance_id_prefix=prefix)
    else:
        found = await client.get_status_all()
    return _json(sorted([s.instance_id, s.runtime_status.value] for s in found))


@app.route(route="hello/{name:alpha}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params['name']} {req.params.get('x', '')}".strip())


@app.route(route="files/{*rest}", methods=["GET", "PUT"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"rest": req.route_params.get("rest"), "method": req.method,
                  "body": req.get_body().decode()})
