"""The Functions host's half of the worker protocol, for driving ``azure-functions-runtime``.

The Functions host talks to a language worker over gRPC with the messages of the public
Functions RPC protocol (``FunctionRpc.proto`` of azure-functions-language-worker-protobuf). On
Python 3.13+ the worker process is a thin proxy: it receives each ``StreamingMessage``, wraps it
in a ``WorkerRequest`` (the message, plus on init the generated ``protos`` module) and hands it to
the ``azure_functions_runtime`` library, which indexes ``function_app.py``, loads functions,
converts bindings and calls user code, and builds its answers with ``protos.<Message>(...)``.

This module is that ``protos`` module cut down to the messages and fields the library reads and
builds, as plain dataclasses: field and enum names are the protocol's (snake case, as protobuf
spells them in Python), and the two oneofs the library asks about answer ``WhichOneof`` as
protobuf messages do. :class:`TypedData` checks the Python type of the one value it carries, as a
protobuf message would refuse a dict for a ``string`` field. :class:`WorkerHost` plays the host:
it sends the init, metadata, load and invocation requests in the host's order, on one event loop
that lives as long as the "worker".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

# -- shared behaviour ----------------------------------------------------------------------------


class _Message:
    """What the messages share: protobuf's ``WhichOneof`` over the class's oneof groups."""

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {}

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - protobuf's spelling
        """The name of the field set in oneof ``group``, or None when none is."""
        try:
            names = self._oneofs[group]
        except KeyError:
            raise ValueError(f"{type(self).__name__} has no oneof '{group}'") from None
        return next((name for name in names if getattr(self, name) is not None), None)


# -- data ------------------------------------------------------------------------------------------


@dataclass
class RpcHttp(_Message):
    """An HTTP request (host to worker) or response (worker to host)."""

    method: str = ""
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: TypedData | None = None
    params: dict[str, str] = field(default_factory=dict)  # route parameters
    query: dict[str, str] = field(default_factory=dict)
    status_code: str = ""
    cookies: list[Any] | None = None
    enable_content_negotiation: bool = False

    def __post_init__(self) -> None:
        for name in ("headers", "params", "query"):
            mapping = getattr(self, name)
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
                raise TypeError(f"RpcHttp.{name} is a map<string, string>, got {mapping!r}")


# The oneof ``data`` of TypedData, with the Python type protobuf accepts for each field used.
_TYPED_DATA_FIELDS: dict[str, type | tuple[type, ...]] = {
    "string": str, "json": str, "bytes": bytes, "http": RpcHttp, "int": int, "double": float,
}


@dataclass
class TypedData(_Message):
    """One value crossing the protocol; exactly one field of the ``data`` oneof is set."""

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {"data": tuple(_TYPED_DATA_FIELDS)}

    string: str | None = None
    json: str | None = None
    bytes: bytes | None = None
    http: RpcHttp | None = None
    int: int | None = None
    double: float | None = None

    def __post_init__(self) -> None:
        set_fields = [name for name in _TYPED_DATA_FIELDS if getattr(self, name) is not None]
        if len(set_fields) > 1:
            raise TypeError(f"TypedData sets one field of its oneof, got {set_fields}")
        for name in set_fields:
            value = getattr(self, name)
            if not isinstance(value, _TYPED_DATA_FIELDS[name]) or (
                    name == "int" and isinstance(value, bool)):
                raise TypeError(f"TypedData.{name} cannot hold {type(value).__name__}: {value!r}")

    def value(self) -> Any:
        """The value carried (None when no field is set)."""
        which = self.WhichOneof("data")
        return None if which is None else getattr(self, which)


@dataclass
class ParameterBinding(_Message):
    """A named binding value: an invocation's input, or an output the function set."""

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {"rpc_data": ("data",)}

    name: str = ""
    data: TypedData | None = None


# -- results and metadata --------------------------------------------------------------------------


@dataclass
class RpcException(_Message):
    """A failure the worker reports."""

    message: str = ""
    stack_trace: str = ""
    source: str = ""


@dataclass
class StatusResult(_Message):
    """The outcome of a request; ``status`` is one of the class constants."""

    Failure: ClassVar[int] = 0
    Success: ClassVar[int] = 1
    Cancelled: ClassVar[int] = 2

    status: int = Failure
    exception: RpcException | None = None


class _BindingInfoEnums:
    """``BindingInfo.Direction`` and ``BindingInfo.DataType`` values, as protobuf exposes them
    on the message class (``in`` is a Python keyword, so it is reached with ``getattr``)."""

    out: ClassVar[int] = 1
    inout: ClassVar[int] = 2
    undefined: ClassVar[int] = 0
    string: ClassVar[int] = 1
    binary: ClassVar[int] = 2
    stream: ClassVar[int] = 3


@dataclass
class BindingInfo(_BindingInfoEnums, _Message):
    """One binding of a function as the worker reports it."""

    type: str = ""
    data_type: int | None = None
    direction: int = 0


setattr(BindingInfo, "in", 0)  # noqa: B010 - ``in`` cannot be written as an attribute


@dataclass
class RpcFunctionMetadata(_Message):
    """What the worker's indexing says about one function."""

    name: str = ""
    function_id: str = ""
    directory: str = ""
    script_file: str = ""
    entry_point: str = ""
    language: str = ""
    bindings: dict[str, BindingInfo] = field(default_factory=dict)
    raw_bindings: list[str] = field(default_factory=list)
    retry_options: Any = None
    properties: dict[str, str] = field(default_factory=dict)
    is_proxy: bool = False
    managed_dependency_enabled: bool = False


@dataclass
class WorkerMetadata(_Message):
    """Who the worker is (sent with the init response)."""

    runtime_name: str = ""
    runtime_version: str = ""
    worker_version: str = ""
    worker_bitness: str = ""
    custom_properties: dict[str, str] = field(default_factory=dict)


# -- requests (host to worker) ---------------------------------------------------------------------


@dataclass
class WorkerInitRequest(_Message):
    """The first request: the host's capabilities and the app's folder."""

    host_version: str = ""
    capabilities: dict[str, str] = field(default_factory=dict)
    worker_directory: str = ""
    function_app_directory: str = ""


@dataclass
class FunctionsMetadataRequest(_Message):
    """The host asks which functions the worker indexed."""

    function_app_directory: str = ""


@dataclass
class FunctionLoadRequest(_Message):
    """The host asks the worker to load one indexed function."""

    function_id: str = ""
    metadata: RpcFunctionMetadata | None = None
    managed_dependency_enabled: bool = False


@dataclass
class RpcTraceContext(_Message):
    """W3C trace context of an invocation."""

    trace_parent: str = ""
    trace_state: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class RetryContext(_Message):
    """Retry state of an invocation."""

    retry_count: int = 0
    max_retry_count: int = 0
    exception: RpcException | None = None


@dataclass
class InvocationRequest(_Message):
    """The host asks the worker to run a loaded function with these binding values."""

    invocation_id: str = ""
    function_id: str = ""
    input_data: list[ParameterBinding] = field(default_factory=list)
    trigger_metadata: dict[str, TypedData] = field(default_factory=dict)
    trace_context: RpcTraceContext = field(default_factory=RpcTraceContext)
    retry_context: RetryContext = field(default_factory=RetryContext)


@dataclass
class StreamingMessage(_Message):
    """The envelope of every message on the stream; one ``content`` field is set."""

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {"content": (
        "worker_init_request", "functions_metadata_request", "function_load_request",
        "invocation_request")}

    request_id: str = ""
    worker_init_request: WorkerInitRequest | None = None
    functions_metadata_request: FunctionsMetadataRequest | None = None
    function_load_request: FunctionLoadRequest | None = None
    invocation_request: InvocationRequest | None = None


# -- responses (worker to host) --------------------------------------------------------------------


@dataclass
class WorkerInitResponse(_Message):
    """The worker's answer to init: its capabilities and whether indexing succeeded."""

    capabilities: dict[str, str] = field(default_factory=dict)
    worker_metadata: WorkerMetadata | None = None
    result: StatusResult | None = None
    worker_version: str = ""


@dataclass
class FunctionMetadataResponse(_Message):
    """The indexed functions."""

    function_metadata_results: list[RpcFunctionMetadata] | None = None
    result: StatusResult | None = None
    use_default_metadata_indexing: bool = False


@dataclass
class FunctionLoadResponse(_Message):
    """The answer to a load request."""

    function_id: str = ""
    result: StatusResult | None = None
    is_dependency_downloaded: bool = False


@dataclass
class InvocationResponse(_Message):
    """The outcome of one invocation: the return value and the outputs set."""

    invocation_id: str = ""
    output_data: list[ParameterBinding] = field(default_factory=list)
    return_value: TypedData | None = None
    result: StatusResult | None = None


# -- the proxy worker's envelope, and the host -----------------------------------------------------


@dataclass
class WorkerRequest:
    """What the proxy worker passes to the library: the message, and (on init) ``protos``."""

    name: str
    request: StreamingMessage
    properties: dict[str, Any] = field(default_factory=dict)


class WorkerError(AssertionError):
    """The worker answered a request with a failure status."""


def _check(what: str, result: StatusResult | None) -> None:
    if result is None or result.status != StatusResult.Success:
        exception = result.exception if result is not None else None
        detail = f"{exception.message}\n{exception.stack_trace}" if exception else "no result"
        raise WorkerError(f"{what} failed: {detail}")


SCRIPT_MODULE = "function_app"  # the library imports PYTHON_SCRIPT_FILE_NAME's stem (default)
# The host's capabilities sent in init; of these the library reads only FunctionDataCache
# (the shared-memory cache, off unless enabled), so none is sent.
HOST_CAPABILITIES: dict[str, str] = {}


class WorkerHost:
    """Plays the Functions host against the in-process ``azure_functions_runtime`` library.

    Open it as a context manager for one app folder: the worker's event loop and thread pool
    live until it closes. The folder goes in front of ``sys.path``, as the worker process has
    the script root on its path when the host starts it. A worker is a fresh process, and the
    library imports the app as the module ``function_app``: so an earlier ``function_app`` is
    set aside while the host is open, and the modules imported from the app folder are
    dropped when it closes (a module imported before it opened is kept).
    """

    protos: ClassVar[ModuleType] = sys.modules[__name__]

    def __init__(self, app_directory: Path) -> None:
        import azure_functions_runtime

        self.runtime = azure_functions_runtime
        self.app_directory = Path(app_directory)
        self._runner = asyncio.Runner()
        self._ids = itertools.count(1)
        self._set_aside: ModuleType | None = None
        self._modules_before: set[str] = set()
        self.metadata: dict[str, RpcFunctionMetadata] = {}

    def __enter__(self) -> WorkerHost:
        self._set_aside = sys.modules.pop(SCRIPT_MODULE, None)
        self._modules_before = set(sys.modules)
        sys.path.insert(0, str(self.app_directory))
        self._runner.__enter__()
        self.runtime.start_threadpool_executor()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.runtime.stop_threadpool_executor()
            self._runner.__exit__(None, None, None)
        finally:
            sys.path.remove(str(self.app_directory))
            folder = self.app_directory.resolve()
            for name in set(sys.modules) - self._modules_before:
                path = getattr(sys.modules[name], "__file__", None)
                if path and Path(path).resolve().is_relative_to(folder):
                    del sys.modules[name]
            if self._set_aside is not None:
                sys.modules[SCRIPT_MODULE] = self._set_aside

    @property
    def script_module(self) -> ModuleType:
        """The app module the worker imported (after :meth:`init`)."""
        return sys.modules[SCRIPT_MODULE]

    def _send(self, handler: Any, name: str, message: StreamingMessage,
              properties: dict[str, Any] | None = None) -> Any:
        return self._runner.run(handler(WorkerRequest(name, message, properties or {})))

    def init(self) -> WorkerInitResponse:
        """``WorkerInitRequest``: the library indexes ``function_app.py`` here."""
        request = WorkerInitRequest(
            host_version="4.0.0", capabilities=dict(HOST_CAPABILITIES),
            worker_directory=os.path.dirname(self.runtime.__file__),
            function_app_directory=str(self.app_directory))
        response: WorkerInitResponse = self._send(
            self.runtime.worker_init_request, "WorkerInitRequest",
            StreamingMessage(request_id=self._id(), worker_init_request=request),
            {"protos": self.protos, "host": "127.0.0.1"})
        _check("WorkerInitRequest", response.result)
        return response

    def index(self) -> dict[str, RpcFunctionMetadata]:
        """``FunctionsMetadataRequest``: the indexed functions by name."""
        request = FunctionsMetadataRequest(function_app_directory=str(self.app_directory))
        response: FunctionMetadataResponse = self._send(
            self.runtime.functions_metadata_request, "FunctionsMetadataRequest",
            StreamingMessage(request_id=self._id(), functions_metadata_request=request))
        _check("FunctionsMetadataRequest", response.result)
        if response.use_default_metadata_indexing or not response.function_metadata_results:
            raise WorkerError("the worker indexed no functions (it asks for host indexing)")
        self.metadata = {m.name: m for m in response.function_metadata_results}
        return self.metadata

    def load(self, name: str) -> FunctionLoadResponse:
        """``FunctionLoadRequest`` for one indexed function, with the metadata the host keeps."""
        metadata = self.metadata[name]
        request = FunctionLoadRequest(function_id=metadata.function_id, metadata=metadata)
        response: FunctionLoadResponse = self._send(
            self.runtime.function_load_request, "FunctionLoadRequest",
            StreamingMessage(request_id=self._id(), function_load_request=request))
        _check(f"FunctionLoadRequest({name})", response.result)
        return response

    def invoke(self, name: str, inputs: dict[str, TypedData],
               trigger_metadata: dict[str, TypedData] | None = None) -> InvocationResponse:
        """``InvocationRequest``: run function ``name`` with these binding values."""
        request = InvocationRequest(
            invocation_id=f"invocation-{next(self._ids)}",
            function_id=self.metadata[name].function_id,
            input_data=[ParameterBinding(name=k, data=v) for k, v in inputs.items()],
            trigger_metadata=dict(trigger_metadata or {}))
        response: InvocationResponse = self._send(
            self.runtime.invocation_request, "InvocationRequest",
            StreamingMessage(request_id=self._id(), invocation_request=request))
        _check(f"InvocationRequest({name})", response.result)
        return response

    def _id(self) -> str:
        return f"request-{next(self._ids)}"


def http_request(method: str, url: str, *, headers: dict[str, str] | None = None,
                 body: bytes = b"", query: dict[str, str] | None = None,
                 route_params: dict[str, str] | None = None) -> TypedData:
    """An HTTP trigger's value as the host sends it (raw body bytes, as the worker asked)."""
    return TypedData(http=RpcHttp(
        method=method, url=url, headers=dict(headers or {}),
        body=TypedData(bytes=body) if body else TypedData(),
        params=dict(route_params or {}), query=dict(query or {})))


def json_text(value: Any) -> TypedData:
    """A JSON value as the text the Durable extension hands the worker."""
    return TypedData(string=json.dumps(value))


__all__ = [
    "BindingInfo",
    "FunctionLoadRequest",
    "FunctionLoadResponse",
    "FunctionMetadataResponse",
    "FunctionsMetadataRequest",
    "InvocationRequest",
    "InvocationResponse",
    "ParameterBinding",
    "RetryContext",
    "RpcException",
    "RpcFunctionMetadata",
    "RpcHttp",
    "RpcTraceContext",
    "StatusResult",
    "StreamingMessage",
    "TypedData",
    "WorkerError",
    "WorkerHost",
    "WorkerInitRequest",
    "WorkerInitResponse",
    "WorkerMetadata",
    "WorkerRequest",
    "http_request",
    "json_text",
]
