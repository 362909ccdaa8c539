"""SPEC §4 permissions: deny by default, roles per project, tenants as hard walls, every decision on a
mutating action audited.

The organisation is a dedicated two-tenant spec (see helpers.matrix_spec_text): tenant `ta` with
projects a1 and a2, tenant `tb` with b1, and one user per default role who is a member of a1 only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from dataops_platform.clock import FixedClock
from dataops_platform.errors import GateRefused, InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.authz import decide
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.actions import ACTIONS, DEFAULT_ROLES, PLATFORM_ACTIONS
from dataops_platform.store.models import IdCounter, Project, RoleAction
from dataops_platform_tests.conftest import T0
from dataops_platform_tests.helpers import (
    A1,
    A2,
    B1,
    NOBODY,
    PROJECT_TENANT,
    ROLE_USERS,
    ROOT,
    audit_after,
    audit_count,
    head_seq,
    matrix_platform,
    objects_snapshot,
    pg_scratch_database,
)

PLACEMENTS = {"own_project": A1, "same_tenant_other_project": A2, "other_tenant": B1}
MUTATING = [a for a in ACTIONS if a not in ("read", "audit.read")]


def expected_decision(role: str | None, action: str, placement: str) -> tuple[bool, bool, str | None]:
    """(allowed, hidden, role named by the decision) as SPEC §4 has it for a member of a1 only."""
    if placement == "other_tenant" or role is None:
        return False, True, None  # cross-tenant (or no tenant at all): denied and never revealed
    if placement == "same_tenant_other_project":
        return False, False, None  # visible in the tenant, but no role there: plainly forbidden
    if action in PLATFORM_ACTIONS:
        return False, False, role  # platform-wide: a project role never grants it
    return action in DEFAULT_ROLES[role], False, role


@pytest.fixture(scope="module")
def matrix_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    settings = load_settings(tmp_path_factory.mktemp("matrix") / "home")
    platform = matrix_platform(settings, FixedClock(T0))
    yield platform
    platform.close()


# ---------------------------------------------------------------------------------------------
# The decision itself: every role x action x placement (SQLite; decide is a pure read)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("placement", list(PLACEMENTS))
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", [*DEFAULT_ROLES, None], ids=[*DEFAULT_ROLES, "no_membership"])
def test_decision_matrix(matrix_sqlite: Platform, role: str | None, action: str, placement: str) -> None:
    actor = ROLE_USERS[role] if role else NOBODY
    project = PLACEMENTS[placement]
    with matrix_sqlite.store.read() as session:
        decision = decide(session, actor, action, project)
    allowed, hidden, named_role = expected_decision(role, action, placement)
    got = (decision.allowed, decision.hidden, decision.role)
    assert got == (allowed, hidden, named_role), decision.reason
    assert (decision.actor, decision.action, decision.project, decision.tenant) == (
        actor, action, project, PROJECT_TENANT[project])  # fmt: skip


def test_store_holds_the_default_matrix(matrix_sqlite: Platform) -> None:
    """The spec without `roles:` leaves exactly the SPEC §4 matrix in the store."""
    with matrix_sqlite.store.read() as session:
        granted = {(r.role, r.action) for r in session.scalars(select(RoleAction)) if r.role in DEFAULT_ROLES}
    assert granted == {(role, action) for role, actions in DEFAULT_ROLES.items() for action in actions}
    assert {a for _, acts in DEFAULT_ROLES.items() for a in acts} == set(ACTIONS)  # every action is grantable


def test_unknown_user_and_unknown_project_are_denied(matrix_sqlite: Platform) -> None:
    with matrix_sqlite.store.read() as session:
        ghost = decide(session, "ghost", "read", A1)
        missing = decide(session, ROLE_USERS["admin"], "read", "no_such_project")
    assert not ghost.allowed
    assert not missing.allowed and missing.hidden


@pytest.mark.parametrize("actor", [*ROLE_USERS.values(), NOBODY])
def test_platform_scope_needs_a_platform_membership(matrix_sqlite: Platform, actor: str) -> None:
    """Project roles never grant platform-wide actions: only the platform admin may spec.apply."""
    with matrix_sqlite.store.read() as session:
        assert not decide(session, actor, "spec.apply", None).allowed
        assert decide(session, ROOT, "spec.apply", None).allowed


@pytest.mark.parametrize("action", ["audit.read", "read"])
@pytest.mark.parametrize("role", list(DEFAULT_ROLES))
def test_reads_are_checked_not_audited(matrix_sqlite: Platform, role: str, action: str) -> None:
    actor, before = ROLE_USERS[role], audit_count(matrix_sqlite)
    if action in DEFAULT_ROLES[role]:
        with matrix_sqlite.view(actor, action, project=A1) as session:
            assert session.get(Project, A1) is not None
    else:
        with pytest.raises(PermissionDenied):
            with matrix_sqlite.view(actor, action, project=A1):
                pytest.fail("the body of a denied read must not run")
    with pytest.raises(PermissionDenied):
        with matrix_sqlite.view(actor, action, project=A2):
            pytest.fail("the body of a denied read must not run")
    with pytest.raises(NotFound) as hidden:
        with matrix_sqlite.view(actor, action, project=B1):
            pytest.fail("the body of a denied read must not run")
    assert "not found" in hidden.value.message
    assert audit_count(matrix_sqlite) == before


# ---------------------------------------------------------------------------------------------
# Platform.act: the same decisions raised and audited, on SQLite and PostgreSQL
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def matrix(settings: Settings, clock: FixedClock) -> Iterator[Platform]:
    platform = matrix_platform(settings, clock)
    yield platform
    platform.close()


def test_act_raises_and_audits_every_mutating_decision(matrix: Platform) -> None:
    """Each decision on a mutating action through Platform.act leaves exactly one audit record."""
    observed: dict[tuple, tuple] = {}
    expected: dict[tuple, tuple] = {}
    for role in [*DEFAULT_ROLES, None]:
        actor = ROLE_USERS[role] if role else NOBODY
        for action in MUTATING:
            for placement, project in PLACEMENTS.items():
                key = (actor, action, placement)
                before, ran, raised = head_seq(matrix), [], None
                try:
                    with matrix.act(actor, action, project=project, object_ref=f"probe:{action}") as op:
                        ran.append(op.decision.role)
                except (PermissionDenied, NotFound) as exc:
                    raised = type(exc).__name__
                records = [
                    (r.seq - before, r.actor, r.role, r.tenant, r.project, r.action, r.object_ref, r.outcome)
                    for r in audit_after(matrix, before)
                ]
                observed[key] = (raised, ran, records)
                allowed, hidden, named_role = expected_decision(role, action, placement)
                outcome = "allowed" if allowed else "denied"
                expected[key] = (
                    None if allowed else ("NotFound" if hidden else "PermissionDenied"),
                    [role] if allowed else [],
                    [
                        (
                            1,
                            actor,
                            named_role,
                            PROJECT_TENANT[project],
                            project,
                            action,
                            f"probe:{action}",
                            outcome,
                        )
                    ],
                )
    assert observed == expected
    with matrix.store.read() as session:
        assert audit.verify(session, matrix.anchor).ok


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One matrix organisation per backend for the tests below, which only compare before/after."""
    home = tmp_path_factory.mktemp(f"shared_{request.param}") / "home"
    with contextlib.ExitStack() as stack:
        overrides: dict[str, object] = {}
        if request.param == "postgresql":
            server = request.getfixturevalue("pg_server")
            overrides["database_url"] = stack.enter_context(pg_scratch_database(server))
        platform = matrix_platform(load_settings(home, **overrides), FixedClock(T0))
        stack.callback(platform.close)
        yield platform


def test_act_platform_scope(shared: Platform) -> None:
    """spec.apply at platform scope: only the platform admin; a project admin is forbidden, audited."""
    before = head_seq(shared)
    with pytest.raises(PermissionDenied) as err:
        with shared.act(ROLE_USERS["admin"], "spec.apply", project=None, object_ref="spec:probe"):
            pytest.fail("the body of a denied action must not run")
    assert (err.value.actor, err.value.action, err.value.project) == (ROLE_USERS["admin"], "spec.apply", None)
    with shared.act(ROOT, "spec.apply", project=None, object_ref="spec:probe") as op:
        assert op.decision.role == "admin"
    records = audit_after(shared, before)
    assert [(r.actor, r.action, r.project, r.outcome) for r in records] == [
        (ROLE_USERS["admin"], "spec.apply", None, "denied"),
        (ROOT, "spec.apply", None, "allowed"),
    ]


def test_denial_names_actor_role_action_project(shared: Platform) -> None:
    actor = ROLE_USERS["data_engineer"]
    with pytest.raises(PermissionDenied) as err:
        with shared.act(actor, "version.release", project=A1):
            pass
    assert (err.value.actor, err.value.role, err.value.action, err.value.project) == (
        actor, "data_engineer", "version.release", A1)  # fmt: skip
    for fact in (actor, "data_engineer", "version.release", A1):
        assert fact in err.value.message
    with pytest.raises(NotFound) as hidden:
        with shared.act(actor, "version.create", project=B1):
            pass
    # Not found, and worded like a project that does not exist at all.
    with pytest.raises(NotFound) as absent:
        with shared.act(actor, "version.create", project="b9"):
            pass
    assert hidden.value.message.replace(B1, "X") == absent.value.message.replace("b9", "X")
    assert hidden.value.facts == {"field": "id", "value": f"project:{B1}"}  # no role, no tenant leaked


def test_dataops_error_in_body_rolls_back_and_is_audited_as_failed(shared: Platform) -> None:
    actor = ROLE_USERS["data_engineer"]
    objects, before = objects_snapshot(shared), head_seq(shared)
    with pytest.raises(GateRefused) as err:
        with shared.act(actor, "version.create", project=A1, object_ref="probe:gate") as op:
            op.next_id("rollback_probe", "rp_")
            op.session.get(Project, A1).name = "renamed inside the refused body"
            op.session.flush()
            raise GateRefused("refused on purpose", ["first condition", "second condition"])
    assert err.value.conditions == ["first condition", "second condition"]
    assert objects_snapshot(shared) == objects
    with shared.store.read() as session:
        assert session.get(IdCounter, "rollback_probe") is None
        assert session.get(Project, A1).name == "Project A1"
    records = audit_after(shared, before)
    assert [(r.actor, r.role, r.project, r.action, r.object_ref, r.outcome) for r in records] == [
        (actor, "data_engineer", A1, "version.create", "probe:gate", "failed")
    ]
    details = json.loads(records[0].details)
    assert details["error"] == "refused"
    assert details["conditions"] == ["first condition", "second condition"]
    with shared.store.read() as session:
        assert audit.verify(session, shared.anchor).ok
    assert shared.anchor.read() == audit.ChainHead(records[0].seq, records[0].hash)


def test_invalid_input_in_body_is_audited_as_failed(shared: Platform) -> None:
    actor = ROLE_USERS["ops"]
    before = head_seq(shared)
    with pytest.raises(InvalidInput):
        with shared.act(actor, "alert.open", project=A1) as op:
            op.next_id("alert", "alert_")
            raise InvalidInput("severity 'huge' is not one of critical, high, medium, low", field="severity",
                               value="huge")  # fmt: skip
    records = audit_after(shared, before)
    assert [(r.outcome, json.loads(r.details)["field"], json.loads(r.details)["value"]) for r in records] == [
        ("failed", "severity", "huge")
    ]
    with shared.store.read() as session:
        assert session.get(IdCounter, "alert") is None


def test_unexpected_error_in_body_is_rolled_back_and_audited(shared: Platform) -> None:
    """SPEC §4: every decision on a mutating action is audited, including an allowed one whose body
    then crashes with an error that is not a DataOpsError (a bug, a driver error, ...)."""
    actor = ROLE_USERS["data_engineer"]
    objects, before = objects_snapshot(shared), head_seq(shared)
    with pytest.raises(RuntimeError):
        with shared.act(actor, "version.create", project=A1, object_ref="probe:crash") as op:
            op.next_id("crash_probe", "cp_")
            raise RuntimeError("unexpected failure inside the service body")
    assert objects_snapshot(shared) == objects  # rolled back: holds today
    records = audit_after(shared, before)
    assert [(r.actor, r.action, r.object_ref, r.outcome) for r in records] == [
        (actor, "version.create", "probe:crash", "failed")
    ], (
        "an allowed decision whose body raised a non-DataOpsError left no audit record "
        "(governance/platform.py Platform.act only catches DataOpsError)"
    )


def test_member_of_no_project_is_denied_everything(matrix_sqlite: Platform) -> None:
    """u_nobody is a declared user without memberships: every project answers as absent."""
    for action in ACTIONS:
        for project in (A1, A2, B1):
            with matrix_sqlite.store.read() as session:
                decision = decide(session, NOBODY, action, project)
            assert not decision.allowed and decision.hidden, (action, project)
        with matrix_sqlite.store.read() as session:
            assert not decide(session, NOBODY, action, None).allowed
