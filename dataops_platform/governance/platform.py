"""The service context and the one mutation path: authorize -> do -> audit, in one transaction.

CLI, REST, sensors and the demo all reach the store through `Platform.act` (mutations) and
`Platform.view` (reads). A denial is audited and raised; a refused or failed operation is
rolled back whole, then audited as `failed` in a transaction of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from dataops_platform.clock import Clock, SystemClock, iso
from dataops_platform.errors import AuditIntegrityError, DataOpsError, NotFound, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.authz import Decision, decide
from dataops_platform.settings import Settings
from dataops_platform.store.engine import Store
from dataops_platform.store.models import IdCounter

ProjectRef = str | None | Callable[[Session], str | None]


@dataclass
class Operation:
    """What a service body sees inside `Platform.act`."""

    session: Session
    decision: Decision
    now: datetime
    object_ref: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return self.decision.actor

    @property
    def project(self) -> str | None:
        return self.decision.project

    def next_number(self, kind: str) -> int:
        """The next number of a per-kind counter; safe because writers are serialised."""
        counter = self.session.get(IdCounter, kind)
        if counter is None:
            counter = IdCounter(kind=kind, last=0)
            self.session.add(counter)
        counter.last += 1
        return counter.last

    def emit(
        self,
        event_type: str,
        subject_ref: str | None,
        project: str | None,
        payload: dict[str, Any],
        *,
        keep_on_rollback: bool = False,
    ) -> None:
        """Put a notification event in the outbox, in this operation's transaction (SPEC §6): it is
        delivered only if the action commits. `keep_on_rollback` is for an event that announces the
        refusal itself (it survives the body's rollback). With no routes configured nothing is written."""
        from dataops_platform.notify.outbox import enqueue

        enqueue(
            self.session, self.now, event_type, subject_ref, project, payload, actor=self.actor, keep_on_rollback=keep_on_rollback
        )

    def next_id(self, kind: str, prefix: str, width: int = 3) -> str:
        """The next readable id of a kind, numbered per tenant: `<tenant>.ds_v001`, `<tenant>.exp_007`.

        One platform-wide counter would show every tenant the gaps the others make (a tenant's
        second version would be ds_v006); each tenant counts its own objects instead, and the
        tenant's tag keeps the ids unique across the platform. Actions outside a project (none
        allocate ids today) keep one platform counter."""
        tenant = self.decision.tenant
        if tenant is None:
            return f"{prefix}{self.next_number(kind):0{width}d}"
        return f"{tenant_tag(tenant)}.{prefix}{self.next_number(tenant_counter(kind, tenant)):0{width}d}"


def tenant_tag(tenant: str) -> str:
    """The tenant part of an id: the tenant id itself, or for a long one a short, still unique form
    (ids are at most 64 characters in the store)."""
    return tenant if len(tenant) <= 24 else f"{tenant[:15]}-{hashlib.sha256(tenant.encode()).hexdigest()[:8]}"


def tenant_counter(kind: str, tenant: str) -> str:
    """The id counter of `kind` in one tenant (the counter key column holds 32 characters)."""
    return f"{kind}@{hashlib.sha256(tenant.encode()).hexdigest()[:12]}"


@dataclass
class Reanchoring:
    """What `Platform.write_reanchoring` yields; `head` and `unwritten` are set after the commit."""

    session: Session
    head: audit.ChainHead | None = None
    unwritten: list[str] = field(default_factory=list)  # anchor locations that could not be written


class Platform:
    """Settings, store, clock and audit anchor: everything a service needs, opened once."""

    def __init__(self, settings: Settings, clock: Clock | None = None, store: Store | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.store = store or Store(settings.store_url)
        self.anchor = audit.AuditAnchor(settings.audit_anchor_path, settings.audit_anchor_copies)

    # -- writes ---------------------------------------------------------------------------
    @contextmanager
    def write(self, *, first_anchor: bool = False, attempt: dict[str, Any] | None = None) -> Iterator[Session]:
        """A serialised write transaction; the audit anchors follow the chain head after commit.

        Before the body runs -- under the write lock, so no other writer can move the head -- the
        chain is held against every anchor location (`audit.guard_tail`: the anchor files and
        one indexed lookup at most). A chain shorter than an anchor, another hash at an anchored
        seq, or a missing anchor refuses the write with AuditIntegrityError (nothing is written,
        the anchors are not touched) and records an alarm outside the store. `first_anchor` is
        for `dataops init` alone: an empty store without any anchor may take its first records,
        and only then is the first anchor created. `attempt` (actor, action...) goes into an alarm.
        """
        refusal: AuditIntegrityError | None = None
        try:
            with self.store.write() as session:
                refusal = audit.guard_tail(session, self.anchor, first_anchor=first_anchor)
                if refusal is not None:
                    raise refusal
                yield session
                head = audit.read_head(session)
        except AuditIntegrityError as exc:
            if exc is refusal:  # the alarm is written after the rollback, without holding the lock
                self.anchor.raise_alarm(
                    "audit.write_refused", exc.message, attempt=attempt, anchor_seq=exc.facts.get("anchor_seq"),
                    head_seq=exc.facts.get("head_seq"), problems=exc.facts.get("problems"),
                )  # fmt: skip
            raise
        if head.seq > 0:  # an empty chain gets no anchor: only records are witnessed
            self.anchor.advance(head, create=first_anchor)

    @contextmanager
    def write_reanchoring(self) -> Iterator[Reanchoring]:
        """The one write without the tail guard, for `audit_service.reanchor` alone (a platform
        admin, a reason, audited in the body): after commit every anchor location is overwritten
        with the new head, whatever it witnessed before -- the only way an anchor moves to a head
        that is not ahead of it."""
        with self.store.write() as session:
            work = Reanchoring(session)
            yield work
            head = audit.read_head(session)
        work.head = head
        work.unwritten = self.anchor.reanchor(head)

    def record(self, entries: list[audit.AuditEntry]) -> audit.ChainHead:
        attempt = {"actor": entries[0].actor, "action": entries[0].action, "outcome": entries[0].outcome} if entries else None
        with self.write(attempt=attempt) as session:
            return audit.append(session, entries)

    def _entry(self, decision: Decision, now: datetime, object_ref: str | None, outcome: str, details: dict) -> audit.AuditEntry:
        return audit.AuditEntry(
            at=iso(now),
            actor=decision.actor,
            role=decision.role,
            tenant=decision.tenant,
            project=decision.project,
            action=decision.action,
            object_ref=object_ref,
            outcome=outcome,
            details=details,
        )

    @contextmanager
    def act(self, actor: str, action: str, *, project: ProjectRef, object_ref: str | None = None) -> Iterator[Operation]:
        """Authorize `actor` for `action` in `project`, run the body, audit, commit: all or nothing.

        `project` may be a callable resolving the project from the store (for actions on an
        existing object); when it finds nothing the caller gets NotFound, never a hint.
        """
        now = self.clock.now()
        failure: DataOpsError | None = None
        crash: Exception | None = None
        with self.write() as session:
            project_id = project(session) if callable(project) else project
            if project_id is None and callable(project):
                decision = Decision(False, actor, action, None, None, None, "object not found", hidden=True)
            else:
                decision = decide(session, actor, action, project_id)
            if not decision.allowed:
                audit.append(session, [self._entry(decision, now, object_ref, "denied", {"reason": decision.reason})])
            else:
                op = Operation(session, decision, now, object_ref)
                savepoint = session.begin_nested()
                try:
                    yield op
                    savepoint.commit()
                except DataOpsError as exc:
                    # Roll back the body's changes only; the failure itself is audited in this transaction.
                    savepoint.rollback()
                    failure = exc
                    details = {"error": exc.kind, "message": exc.message, **_jsonable(exc.facts)}
                    audit.append(session, [self._entry(decision, now, op.object_ref, "failed", details)])
                except Exception as exc:
                    # A bug, not a refusal: still a decision that was taken, so it is audited too.
                    savepoint.rollback()
                    crash = exc
                    details = {"error": "internal", "message": f"{type(exc).__name__}: {exc}"[:2000]}
                    audit.append(session, [self._entry(decision, now, op.object_ref, "failed", details)])
                else:
                    audit.append(session, [self._entry(decision, now, op.object_ref, "allowed", op.details)])
        if failure is not None:
            raise failure
        if crash is not None:
            raise crash
        if not decision.allowed:
            raise _denial(decision, object_ref)

    def refuse(
        self, actor: str, action: str, *, project: ProjectRef, error: DataOpsError, object_ref: str | None = None
    ) -> NoReturn:
        """Bad input found before the transaction (so the lock is not held while a file is read):
        decided and audited like any other attempt. A permission denial takes precedence."""
        with self.act(actor, action, project=project, object_ref=object_ref):
            raise error
        raise error  # unreachable: act re-raises the body's error after auditing it

    # -- reads ----------------------------------------------------------------------------
    @contextmanager
    def view(self, actor: str, action: str = "read", *, project: ProjectRef, object_ref: str | None = None) -> Iterator[Session]:
        """A read session after a permission check; reads are checked but not audited."""
        with self.store.read() as session:
            project_id = project(session) if callable(project) else project
            if project_id is None and callable(project):
                raise _not_found(object_ref or "object", actor)
            decision = decide(session, actor, action, project_id)
            if not decision.allowed:
                raise _denial(decision, object_ref)
            yield session

    def close(self) -> None:
        self.store.dispose()


def _denial(decision: Decision, object_ref: str | None) -> DataOpsError:
    if decision.hidden:
        return _not_found(object_ref or f"project:{decision.project}", decision.actor)
    return PermissionDenied(decision.actor, decision.role, decision.action, decision.project, decision.reason)


def _not_found(what: str, actor: str) -> NotFound:
    # One wording for "absent" and "in another tenant", so existence never leaks.
    return NotFound(f"{what} not found (or not visible to {actor!r})", field="id", value=what)


def _jsonable(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else str(v) for k, v in facts.items()}
