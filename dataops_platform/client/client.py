"""`DataOpsClient`: the platform's REST API as Python calls, one method per CLI verb, named like the
API's operation ids (`version_register`, `alert_ack`, ...), returning the API's typed models and
raising the platform's typed errors (`dataops_platform.client.errors`).

    from dataops_platform.client import DataOpsClient

    with DataOpsClient() as platform:          # DATAOPS_SERVER / DATAOPS_TOKEN, or `dataops login`
        v = platform.version_register("p01_retail_forecast", "data/train.parquet")
        platform.version_validate(v.version_id)

Listings return every item (pages are fetched as needed). Every call may raise `Unauthenticated`
(401), `ServerUnreachable`, `ServerError`; what else each may raise is in its docstring.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from dataops_platform.client import config
from dataops_platform.client import models as m
from dataops_platform.client.errors import InvalidInput, ServerError, ServerUnreachable, from_response

API = "/api/v1"
PROBLEM = "application/problem+json"  # how the platform answers every error
INBOX = "inbox:"
SERVER_SCHEMES = ("s3://", "iceberg:", "delta:", INBOX)  # sources the server reads where they live
PAGE = 500  # the API's largest page
UPLOAD_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".parquet")
T = TypeVar("T", bound=BaseModel)


def _refused(detail: str, field: str, value: object) -> InvalidInput:
    """Input the client refuses before sending anything, as the server would (400)."""
    return InvalidInput(400, {"status": 400, "title": "invalid_input", "detail": detail, "field": field, "value": value})


def _seg(value: object) -> str:
    """One path segment: an id is quoted whole, so `a/../b` or `x?y` can never reach another route."""
    text = str(value)
    if not text.strip():
        raise _refused("an id is empty: give the id `dataops ... list` shows", "id", text)
    return quote(text, safe="")


def upload_name(path: Path) -> str:
    """The name an upload is sent under (only a label on the server): letters, digits, '.', '_'
    and '-', the suffix in lower case (`My Data.JSONL` -> `My_Data.jsonl`)."""
    stem = re.sub(r"[^\w.-]", "_", path.stem, flags=re.ASCII).strip(".") or "data"
    return f"{stem[:150]}{path.suffix.lower()}"


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class DataOpsClient:
    """A connection to one platform server as the user its token belongs to.

    `server` and `token` default to DATAOPS_SERVER / DATAOPS_TOKEN, then the credentials file
    `dataops login URL` writes. `timeout` bounds every call in seconds (registration and verify
    read the data on the server: give big datasets room). Use it as a context manager, or `close()`.
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 600.0,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not (isinstance(timeout, (int, float)) and 0 < timeout <= 86_400):
            raise _refused(f"timeout {timeout!r} is not a number of seconds from 0 to 86400", "timeout", repr(timeout)[:40])
        conn = config.resolve(server, token, environ)
        self.server, self.token_source = conn.server, conn.source
        self._http = httpx.Client(
            base_url=conn.server + API,
            headers={"Authorization": f"Bearer {conn.token}", "User-Agent": "dataops-platform-client"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,  # a redirect would carry the token elsewhere
        )
        self._token_id = config.token_id_of(conn.token)

    # -- plumbing ------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DataOpsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DataOpsClient({self.server!r})"  # never the token

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # A write whose request went out may have been carried out before the connection broke.
        unknown = "; whether this write was carried out is unknown: look before retrying (e.g. `dataops version list`)"
        unknown = "" if method == "GET" else unknown
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            why = f"{self.server}: no answer within the timeout ({type(exc).__name__}); raise the client's timeout for large data"
            raise ServerUnreachable(why + unknown, server=self.server) from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"cannot reach the platform at {self.server} ({exc}); check --server / DATAOPS_SERVER "
                f"and that `dataops serve` runs there{unknown}",
                server=self.server,
            ) from None
        self._refuse_unless_ok(response)
        return response

    def _refuse_unless_ok(self, response: httpx.Response) -> None:
        """Raise for a redirect (never followed: it would carry the token elsewhere) or an error answer;
        a streamed answer's body is read first, so its problem details can be told."""
        if response.is_redirect:
            where = response.headers.get("location", "?")
            raise ServerError(response.status_code, {"detail": f"{self.server} answered a redirect ({response.status_code}) "
                              f"to {where}: give that server's base URL as --server / DATAOPS_SERVER"})  # fmt: skip
        if response.status_code >= 400:
            response.read()
            raise self._error(response)

    def _error(self, response: httpx.Response) -> Exception:
        """The typed error of a problem-details answer; any other error page (a proxy's, another
        server's) is a ServerError that says so, whatever its status."""
        if response.headers.get("content-type", "").split(";")[0].strip() == PROBLEM:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and response.status_code == 404 and body.get("detail") == "Not Found":
                # the server's router, not a service: no route has this path
                body = body | {"detail": f"{response.request.url.path}: no such route on {self.server} (an id holding '/', "
                               "or a server URL with a path that is not the platform's)"}  # fmt: skip
            if body is not None:
                return from_response(response.status_code, body, response.text)
        start = " ".join(response.text.split())[:200]
        return ServerError(response.status_code, {"detail": f"HTTP {response.status_code} from {self.server}, not a dataops "
                           f"answer ({start!r}); is {self.server} the platform's base URL (what `dataops serve` prints, "
                           "without /api/v1), and no proxy in the way?"})  # fmt: skip

    def _call(self, model: Any, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return TypeAdapter(model).validate_python(response.json())
        except (ValueError, ValidationError) as exc:
            why = f"{method} {path}: not the platform's contract ({str(exc)[:300]}); is {self.server} a dataops server?"
            raise ServerError(response.status_code, {"detail": why}) from None

    def _all(self, model: type[T], path: str, params: dict[str, Any] | None = None) -> list[T]:
        items: list[T] = []
        offset = 0
        while True:
            page = self._call(dict[str, Any], "GET", path, params={**(params or {}), "limit": PAGE, "offset": offset})
            items += [model.model_validate(item) for item in page["items"]]
            offset += PAGE
            if offset >= page["total"] or not page["items"]:
                return items

    @staticmethod
    def _params(**values: Any) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    # -- who am I ------------------------------------------------------------------------------------
    def whoami(self) -> m.Token:
        """The token this client uses, as the server knows it (`user_id` is who you act as)."""
        mine = [t for t in self.token_list() if t.token_id == self._token_id]
        if not mine:
            raise ServerError(200, {"detail": f"{self.server} accepted the token but does not list it"})
        return mine[0]

    # -- versions ------------------------------------------------------------------------------------
    def version_list(self, project: str | None = None) -> list[m.Version]:
        """Every version you may read (of one project)."""
        return self._all(m.Version, "/versions", self._params(project=project))

    def version_show(self, version_id: str) -> m.VersionDetail:
        """One version and whether it is its project's current release. Raises NotFound."""
        return self._call(m.VersionDetail, "GET", f"/versions/{_seg(version_id)}")

    def version_register(
        self,
        project: str,
        source: str | Path,
        parent: str | None = None,
        summary: Sequence[str] | None = None,
        copy: bool | None = None,
        provenance: Mapping[str, str] | None = None,
    ) -> m.RegisteredVersion:
        """Register data as a new draft version of `project` (needs version.create).

        A local file (JSON Lines, CSV or Parquet) is uploaded and kept by the platform. Data the
        server reads where it lives is named by a URI: `s3://...`, `iceberg:...`, `delta:...`, or
        `inbox:PATH` for a file, directory, glob or Delta table under your tenant's part of the
        server's inbox ($DATAOPS_HOME/inbox/<tenant>/). A local directory or glob, or a local path
        that does not exist, is refused naming the choice (nothing is sent). Raises
        PermissionDenied, NotFound (project or parent), InvalidInput (the data), TooLarge."""
        text = str(source)
        if text.startswith(SERVER_SCHEMES):
            path = text[len(INBOX) :] if text.startswith(INBOX) else text
            body = {"project": project, "path": path, "parent": parent, "summary": list(summary or []), "copy": copy}
            if provenance:
                body["provenance"] = dict(provenance)
            return self._call(m.RegisteredVersion, "POST", "/versions", json=body)
        local = Path(text).expanduser()
        if local.is_file():
            if copy is False:
                raise _refused(f"{text}: an uploaded file has no place of its own to live, so the platform always keeps "
                               "its bytes; drop --no-copy, or put the file where the server reads it (inbox:PATH, s3://...)",
                               "copy", False)  # fmt: skip
            return self.version_upload(project, local, parent, summary, provenance)
        if local.exists():
            what = "a directory" if local.is_dir() else "not a regular file"
            why = (f"{text} is {what}: only one local file can be uploaded; upload its files one at a time, or put them "
                   "where the server reads them and name that (inbox:DIR, s3://bucket/prefix/)")
            raise _refused(why, "source", text)
        if any(ch in text for ch in "*?["):
            raise _refused(f"{text}: a glob cannot be uploaded; upload the files one at a time, or name them where the "
                           "server reads them (inbox:GLOB)", "source", text)  # fmt: skip
        raise _refused(f"{text}: no such local file; to register data in your tenant's part of the server's inbox, "
                       f"write inbox:{text}", "source", text)  # fmt: skip

    def version_upload(
        self,
        project: str,
        path: str | Path,
        parent: str | None = None,
        summary: Sequence[str] | None = None,
        provenance: Mapping[str, str] | None = None,
    ) -> m.RegisteredVersion:
        """Upload one local data file (streamed) as a new draft version; its bytes are kept."""
        path = Path(path).expanduser()
        if path.suffix.lower() not in UPLOAD_SUFFIXES:
            raise _refused(f"{path}: upload takes {', '.join(UPLOAD_SUFFIXES)} files; for a directory, glob or table "
                           "register it where the server reads it (inbox:PATH, s3://...)", "source", str(path))
        params: list[tuple[str, str]] = [("filename", upload_name(path))]
        params += [("parent", parent)] if parent else []
        params += [("summary", s) for s in summary or []]
        params += [(k, v) for k, v in (provenance or {}).items() if v is not None]

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as data:
                while block := data.read(1 << 20):
                    yield block

        try:
            size = path.stat().st_size
        except OSError as exc:
            raise _refused(f"{path}: cannot read it ({exc.strerror})", "source", str(path)) from None
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        return self._call(m.RegisteredVersion, "PUT", f"/projects/{_seg(project)}/versions/upload", params=params,
                          content=chunks(), headers=headers)  # fmt: skip

    def version_validate(self, version_id: str) -> m.Version:
        """Run the quality gate: the version comes back `validated` or `rejected` (with `quality_failures`)."""
        return self._call(m.Version, "POST", f"/versions/{_seg(version_id)}/validate")

    def version_release(self, version_id: str) -> m.Version:
        """Release through the gate. Raises GateRefused naming every failed condition."""
        return self._call(m.Version, "POST", f"/versions/{_seg(version_id)}/release")

    def version_deprecate(self, version_id: str) -> m.Version:
        return self._call(m.Version, "POST", f"/versions/{_seg(version_id)}/deprecate")

    def version_diff(self, old: str, new: str) -> m.VersionDiff:
        return self._call(m.VersionDiff, "GET", f"/versions/{_seg(old)}/diff/{_seg(new)}")

    def version_verify(self, version_id: str) -> m.VerifyResult:
        """Re-read the version's source on the server: `ok`, `drifted` or `unreadable`."""
        return self._call(m.VerifyResult, "POST", f"/versions/{_seg(version_id)}/verify")

    def version_source(self, version_id: str) -> m.VersionSource:
        return self._call(m.VersionSource, "GET", f"/versions/{_seg(version_id)}/source")

    def version_data(self, version_id: str, out: str | Path) -> Path:
        """Download the version's bytes to `out` (written aside, then renamed: never half a file)."""
        out = Path(out)
        partial = out.with_name(f".{out.name}.partial")
        try:
            with self._http.stream("GET", f"/versions/{_seg(version_id)}/data") as response:
                self._refuse_unless_ok(response)
                with partial.open("wb") as sink:
                    for block in response.iter_bytes():
                        sink.write(block)
            partial.replace(out)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ServerUnreachable(f"cannot reach the platform at {self.server} ({exc})", server=self.server) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return out

    # -- experiments and rollbacks --------------------------------------------------------------------
    def experiment_list(self, project: str | None = None) -> list[m.Experiment]:
        return self._all(m.Experiment, "/experiments", self._params(project=project))

    def experiment_sync(self) -> m.SyncReport:
        """Record the finished MLflow runs of the platform's experiments (needs experiment.log somewhere)."""
        return self._call(m.SyncReport, "POST", "/experiments/sync")

    def rollback_execute(
        self, project: str, to: str, reason: str, trigger: str | None = None, dry_run: bool = False
    ) -> m.RollbackResult:
        """Return `project`'s current release to `to` (or, `dry_run`, only show the impact). Raises GateRefused."""
        body = {"to": to, "reason": reason, "trigger": trigger, "dry_run": dry_run}
        return self._call(m.RollbackResult, "POST", f"/projects/{_seg(project)}/rollback", json=body)

    def rollback_list(self, project: str) -> list[m.Rollback]:
        return self._all(m.Rollback, f"/projects/{_seg(project)}/rollbacks")

    # -- alerts, exceptions, reviews ----------------------------------------------------------------
    def alert_list(self, project: str | None = None, status: str | None = None) -> list[m.Alert]:
        return self._all(m.Alert, "/alerts", self._params(project=project, status=status))

    def alert_open(self, related_object: str, severity: str, category: str, title: str) -> m.Alert:
        body = {"related_object": related_object, "severity": severity, "category": category, "title": title}
        return self._call(m.Alert, "POST", "/alerts", json=body)

    def alert_ack(self, alert_id: str) -> m.Alert:
        return self._call(m.Alert, "POST", f"/alerts/{_seg(alert_id)}/ack")

    def alert_resolve(self, alert_id: str, note: str) -> m.Alert:
        return self._call(m.Alert, "POST", f"/alerts/{_seg(alert_id)}/resolve", json={"note": note})

    def alert_sla(self, project: str | None = None) -> m.SlaReport:
        return self._call(m.SlaReport, "GET", "/sla", params=self._params(project=project))

    def exception_list(self, project: str | None = None) -> list[m.ExceptionRecord]:
        """Exceptions you may read, with their effective status (an expired one reads `expired`)."""
        return self._all(m.ExceptionRecord, "/exceptions", self._params(project=project))

    def exception_request(
        self, version: str, rule: str, reason: str, expires_at: datetime | str, follow_up: str | None = None
    ) -> m.ExceptionRecord:
        body = {"version": version, "rule": rule, "reason": reason, "expires_at": _iso(expires_at), "follow_up": follow_up}
        return self._call(m.ExceptionRecord, "POST", "/exceptions", json=body)

    def exception_approve(self, exception_id: str) -> m.ExceptionRecord:
        """Approve (never your own request). Raises PermissionDenied, GateRefused."""
        return self._call(m.ExceptionRecord, "POST", f"/exceptions/{_seg(exception_id)}/approve")

    def review_list(self, project: str | None = None) -> list[m.Review]:
        return self._all(m.Review, "/reviews", self._params(project=project))

    def review_add(
        self,
        related: Sequence[str],
        symptom: str,
        impact_scope: str = "",
        root_cause: str = "",
        mitigation: str = "",
        fix_items: Sequence[Mapping[str, str]] = (),
    ) -> m.Review:
        """Write an incident review of `related` refs (alert:ID, rollback:ID, version:ID); each fix item
        has `description`, `owner`, `due` (YYYY-MM-DD)."""
        body = {"related": list(related), "symptom": symptom, "impact_scope": impact_scope, "root_cause": root_cause,
                "mitigation": mitigation, "fix_items": [dict(f) for f in fix_items]}  # fmt: skip
        return self._call(m.Review, "POST", "/reviews", json=body)

    # -- lineage and audit ---------------------------------------------------------------------------
    def lineage_impact(self, ref: str, depth: int | None = None, upstream: bool = False) -> m.Impact:
        return self._call(m.Impact, "GET", "/lineage/impact", params=self._params(ref=ref, depth=depth, upstream=upstream))

    def lineage_export(self, project: str | None = None, openlineage: bool = False) -> m.LineageGraph | m.OpenLineageExport:
        params = self._params(project=project, openlineage=openlineage)
        return self._call(m.LineageGraph | m.OpenLineageExport, "GET", "/lineage/export", params=params)

    def audit_list(
        self,
        project: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
    ) -> list[m.AuditRecord]:
        """The newest `limit` audit records you may read (needs audit.read), newest first."""
        out: list[m.AuditRecord] = []
        params = self._params(project=project, actor=actor, action=action, since=_iso(since), until=_iso(until))
        while len(out) < limit:
            window = {"limit": min(PAGE, limit - len(out)), "offset": len(out)}
            page = self._call(m.AuditPage, "GET", "/audit", params=params | window)
            out += page.items
            if not page.items or len(out) >= page.total:
                break
        return out

    def audit_verify(self) -> m.AuditVerification:
        return self._call(m.AuditVerification, "GET", "/audit/verify")

    # -- tokens, spec, metrics, notifications ------------------------------------------------------------
    def token_list(self) -> list[m.Token]:
        return self._call(dict[str, list[m.Token]], "GET", "/tokens")["items"]

    def token_create(self, user: str, expires_at: datetime | str | None = None) -> m.TokenCreated:
        """A new token for `user` (yourself; anyone if you are a platform admin). Its secret is in `token`, once."""
        return self._call(m.TokenCreated, "POST", "/tokens", json={"user": user, "expires_at": _iso(expires_at)})

    def token_revoke(self, token_id: str) -> m.Token:
        return self._call(m.Token, "DELETE", f"/tokens/{_seg(token_id)}")

    def spec_validate(self, text: str) -> m.SpecValidation:
        return self._call(m.SpecValidation, "POST", "/spec/validate", content=text.encode("utf-8"),
                          headers={"Content-Type": "application/yaml"})  # fmt: skip

    def spec_apply(self, text: str) -> m.SpecApplyReport:
        """Apply a spec (platform admins); idempotent, audited."""
        return self._call(m.SpecApplyReport, "POST", "/spec/apply", content=text.encode("utf-8"),
                          headers={"Content-Type": "application/yaml"})  # fmt: skip

    def metrics(self) -> dict[str, Any]:
        """p8_metrics.json as the server's last materialisation wrote it (platform admins)."""
        return self._call(dict[str, Any], "GET", "/metrics")

    def notify_list(self, project: str | None = None, status: str | None = None, limit: int = 200) -> list[m.Delivery]:
        params = self._params(project=project, status=status, limit=limit)
        return self._call(m.DeliveryList, "GET", "/notifications/deliveries", params=params).items

    def notify_retry(self, delivery_id: int) -> m.Delivery:
        return self._call(m.Delivery, "POST", f"/notifications/deliveries/{_seg(delivery_id)}/retry")

    def notify_test(self, channel: str) -> m.Delivery:
        return self._call(m.Delivery, "POST", f"/notifications/channels/{_seg(channel)}/test")
