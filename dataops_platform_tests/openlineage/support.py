"""Helpers for the OpenLineage export tests: rebuilding events with the client's own models, a local
OpenLineage endpoint (http.server on 127.0.0.1) that records what it receives, and a closed port.

Nothing here is mocked: the events are rebuilt with openlineage-python's attrs classes (their
validators run), and the endpoint is a real HTTP server the real transport talks to.
"""

from __future__ import annotations

import enum
import socket
import threading
import types
import typing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attr
from openlineage.client.facet_v2 import (
    BaseFacet,
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    dataset_version_dataset,
    documentation_dataset,
    error_message_run,
    job_type_job,
    lifecycle_state_change_dataset,
    schema_dataset,
)

from dataops_platform.openlineage.facets import CUSTOM_FACETS

# Facet key -> client class. A key the export uses but this table lacks fails the rebuild.
FACETS: dict[str, type[Any]] = {
    "schema": schema_dataset.SchemaDatasetFacet,
    "version": dataset_version_dataset.DatasetVersionDatasetFacet,
    "documentation": documentation_dataset.DocumentationDatasetFacet,
    "lifecycleStateChange": lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet,
    "dataQualityMetrics": data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet,
    "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    **CUSTOM_FACETS,
}


def rebuild(cls: type[Any], data: dict[str, Any]) -> Any:
    """An instance of the attrs class `cls` from its JSON form, field by field, recursively.

    Unknown keys are an error; init=False fields (schemaURL, _schemaURL) are recomputed by the
    class, so a facet filed under the wrong key re-serialises differently.
    """
    if not isinstance(data, dict):
        raise AssertionError(f"{cls.__name__} expects an object, got {data!r}")
    fields = {f.name: f for f in attr.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise AssertionError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs = {f.alias: _value(hints[name], data[name]) for name, f in fields.items() if f.init and name in data}
    return cls(**kwargs)


def _value(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _value(inner, value)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_value(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        if isinstance(item, type) and issubclass(item, BaseFacet):
            unknown = set(value) - set(FACETS)
            if unknown:
                raise AssertionError(f"facet key(s) {sorted(unknown)} are not known to the client models")
            return {key: rebuild(FACETS[key], v) for key, v in value.items()}
        return {key: _value(item, v) for key, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and attr.has(tp):
        return rebuild(tp, value)
    return value


@dataclass
class Received:
    path: str
    content_type: str | None
    body: bytes


@dataclass
class StubLineageServer:
    """An HTTP server on 127.0.0.1 (random free port) that answers every POST with `status`."""

    status: int = 201
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.received.append(Received(self.path, self.headers.get("Content-Type"), body))
                payload = b'{"error": "stub refuses"}' if stub.status >= 400 else b"{}"
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StubLineageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
