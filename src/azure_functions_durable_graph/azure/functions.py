"""Building the Azure Functions (Python v2) app of a ``DurableGraphApp``.

Functions registered: one orchestrator (drives ``core/``), one activity (one task per call:
node + router together), and one HTTP trigger per route of the API's route table, each with a
durable client binding, serving the same handlers as the local server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api.dispatch import api_operations
from ..api.routes import ROUTES, RouteSpec
from .activity import activity_body
from .client_backend import DurableClientBackend
from .hosted import HostedGraphs
from .http_adapter import serve_http
from .orchestrator import orchestrate
from .protocol import ACTIVITY, ORCHESTRATOR

CLIENT_BINDING = "client"


@dataclass(frozen=True)
class FunctionNames:
    """The names of the generated functions (all carry the same prefix)."""

    prefix: str = ""

    @property
    def orchestrator(self) -> str:
        """The orchestrator function."""
        return f"{self.prefix}{ORCHESTRATOR}"

    @property
    def activity(self) -> str:
        """The execute-task activity."""
        return f"{self.prefix}{ACTIVITY}"

    def http(self, spec: RouteSpec) -> str:
        """The HTTP trigger serving ``spec``."""
        return f"{self.prefix}http_{spec.handler}"

    def as_dict(self) -> dict[str, str]:
        """The names the orchestrator schedules."""
        return {"orchestrator": self.orchestrator, "activity": self.activity}


def new_function_app(owner: HostedGraphs) -> Any:
    """A fresh ``DFApp`` with every graph function registered."""
    import azure.durable_functions as df
    import azure.functions as func

    app = df.DFApp(http_auth_level=owner.auth_level or func.AuthLevel.FUNCTION)
    register_functions(owner, app)
    return app


def add_to(owner: HostedGraphs, target: Any, *, prefix: str = "") -> Any:
    """Register the graph functions on an existing ``FunctionApp``/``DFApp``/``Blueprint``."""
    import azure.durable_functions as df

    if hasattr(target, "orchestration_trigger"):
        register_functions(owner, target, prefix=prefix)
        return target
    blueprint = df.Blueprint()
    register_functions(owner, blueprint, prefix=prefix)
    target.register_functions(blueprint)
    return target


def register_functions(owner: HostedGraphs, app: Any, *, prefix: str = "") -> FunctionNames:
    """Register orchestrator, activity and HTTP triggers on a durable app or blueprint."""
    import azure.functions as func

    names = FunctionNames(prefix)
    scheduled = names.as_dict()

    def orchestrator(context: Any) -> Any:
        return (yield from orchestrate(context, scheduled))

    app.function_name(name=names.orchestrator)(app.orchestration_trigger(context_name="context")(orchestrator))

    def execute_task(command: dict) -> dict:  # type: ignore[type-arg]  # plain types: the worker checks them
        return activity_body(owner.graphs, command, owner.emits.sink())

    app.function_name(name=names.activity)(app.activity_trigger(input_name="command")(execute_task))

    auth_level = owner.auth_level or func.AuthLevel.FUNCTION
    for spec in ROUTES:
        endpoint = _http_endpoint(owner, spec, names)
        route = spec.path.lstrip("/")
        public = func.AuthLevel.ANONYMOUS if spec.public else auth_level
        decorated = app.durable_client_input(client_name=CLIENT_BINDING)(endpoint)
        decorated = app.route(route=route, methods=[spec.method], auth_level=public)(decorated)
        app.function_name(name=names.http(spec))(decorated)
    return names


def _http_endpoint(owner: HostedGraphs, spec: RouteSpec, names: FunctionNames) -> Any:
    prefix = "/" + owner.route_prefix.strip("/") if owner.route_prefix.strip("/") else ""

    import azure.functions as func

    async def endpoint(req: Any, client: Any) -> Any:
        backend = DurableClientBackend(client, owner.graphs, orchestrator=names.orchestrator,
                                       policy=owner.compaction, emit_log=owner.emits.log)
        operation = api_operations(backend, owner, prefix=prefix or "/")[spec.handler]
        return await serve_http(operation, req, where=f"{spec.method} {spec.path}")

    endpoint.__name__ = names.http(spec)
    endpoint.__qualname__ = endpoint.__name__
    # The worker resolves annotations with typing.get_type_hints and checks each against its
    # binding (the request must be an HttpRequest, the return an HttpResponse): real types here.
    endpoint.__annotations__ = {"req": func.HttpRequest, "client": str, "return": func.HttpResponse}
    return endpoint


__all__ = ["FunctionNames", "add_to", "new_function_app", "register_functions"]
