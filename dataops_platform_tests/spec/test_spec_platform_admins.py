"""Issue 12, finding 8: the spec is the source of truth for platform admins.

`platform_admins` is the complete list: applying a spec revokes admin from every user it no
longer names (reported under `changed` and audited), and no spec may leave the platform without an
admin. On SQLite and PostgreSQL (the `platform` fixture: the reference organisation, admin alice).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from dataops_platform.errors import InvalidInput, PermissionDenied
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.loader import SpecInvalid, load_spec, parse_spec
from dataops_platform.spec.models import PlatformSpec, UserSpec
from dataops_platform.store.models import PlatformMembership
from dataops_platform_tests.helpers import (
    EXAMPLE_SPEC,
    audit_after,
    head_seq,
    objects_snapshot,
    run_cli_inprocess,
    store_digests,
)

ADMIN = "alice"
NO_ADMIN = "would leave the platform without an admin"


def spec_with_admins(admins: list[str] | None) -> PlatformSpec:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    if admins is None:
        del data["platform_admins"]
    else:
        data["platform_admins"] = admins
    return parse_spec(yaml.safe_dump(data, sort_keys=False), "admins.yaml")


def admins(platform: Platform) -> list[str]:
    with platform.store.read() as session:
        return sorted(session.scalars(select(PlatformMembership.user_id)))


def may_apply(platform: Platform, user: str) -> bool:
    try:
        with platform.act(user, "spec.apply", project=None, object_ref="probe"):
            pass
    except PermissionDenied:
        return False
    return True


def test_finding8_removed_admin_is_revoked(platform: Platform) -> None:
    added = apply_spec(platform, ADMIN, spec_with_admins([ADMIN, "priya"]), "two.yaml")
    assert "platform_admin:priya" in added.created and admins(platform) == [ADMIN, "priya"]
    assert may_apply(platform, "priya")
    before = head_seq(platform)
    removed = apply_spec(platform, ADMIN, spec_with_admins([ADMIN]), "one.yaml")
    assert removed.changed == ["platform_admin:priya revoked"] and removed.created == []
    assert admins(platform) == [ADMIN]
    assert not may_apply(platform, "priya")
    (record, _probe) = audit_after(platform, before)
    assert (record.actor, record.action, record.outcome) == (ADMIN, "spec.apply", "allowed")
    assert json.loads(record.details)["changed"] == ["platform_admin:priya revoked"]
    assert apply_spec(platform, ADMIN, spec_with_admins([ADMIN]), "one.yaml").is_noop


def test_finding8_applying_user_may_hand_admin_over(platform: Platform) -> None:
    report = apply_spec(platform, ADMIN, spec_with_admins(["priya"]), "handover.yaml")
    assert report.changed == ["platform_admin:alice revoked"] and "platform_admin:priya" in report.created
    assert admins(platform) == ["priya"]
    assert not may_apply(platform, ADMIN)
    assert apply_spec(platform, "priya", spec_with_admins(["priya", ADMIN]), "back.yaml").created == ["platform_admin:alice"]


def test_finding8_last_admin_cannot_be_removed() -> None:
    """`platform_admins: []` reported "nothing to change" and every admin stayed: it now means no
    admin at all, which is refused at validate time with the fix."""
    with pytest.raises(SpecInvalid) as err:
        spec_with_admins([])
    (problem,) = err.value.problems
    assert problem.path == "platform_admins" and NO_ADMIN in problem.message
    assert "list at least one declared user" in problem.message and err.value.exit_code == 2


def test_a_spec_without_platform_admins_changes_no_admin(platform: Platform) -> None:
    """Issue 15: a spec that leaves `platform_admins` out (an organisation's minimal spec) neither
    grants nor revokes admin; the admins stay who they are."""
    apply_spec(platform, ADMIN, spec_with_admins([ADMIN, "priya"]), "two.yaml")
    report = apply_spec(platform, "priya", spec_with_admins(None), "no-admins.yaml")
    assert admins(platform) == [ADMIN, "priya"]
    assert not [ref for ref in report.created + report.changed if ref.startswith("platform_admin:")]


def test_finding8_last_admin_cli_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    platform = Platform(load_settings(home))
    initialize(platform, ADMIN)
    apply_spec(platform, ADMIN, load_spec(EXAMPLE_SPEC), str(EXAMPLE_SPEC))
    platform.close()
    spec_file = tmp_path / "no_admins.yaml"
    spec_file.write_text(EXAMPLE_SPEC.read_text().replace("platform_admins: [alice]", "platform_admins: []"))
    before = store_digests(home)
    for command in ("validate", "apply"):
        result = run_cli_inprocess(home, "spec", command, spec_file, user=ADMIN)
        assert result.code == 2, (command, result.stdout, result.stderr)
        assert "platform_admins = []" in result.error_text and NO_ADMIN in result.error_text
    assert store_digests(home) == before


def test_finding8_store_guard_rolls_back_and_audits(platform: Platform) -> None:
    """A spec built in code skips parse_spec's check; apply still refuses, writes nothing and audits."""
    spec = load_spec(EXAMPLE_SPEC)
    spec = spec.model_copy(update={"platform_admins": [], "users": [*spec.users, UserSpec(id="zed", name="Zed")]})
    objects, before = objects_snapshot(platform), head_seq(platform)
    with pytest.raises(InvalidInput) as err:
        apply_spec(platform, ADMIN, spec, "code")
    assert NO_ADMIN in err.value.message and "'alice'" in err.value.message and err.value.field == "platform_admins"
    assert objects_snapshot(platform) == objects  # zed rolled back, alice still admin
    (record,) = audit_after(platform, before)
    assert (record.actor, record.action, record.outcome) == (ADMIN, "spec.apply", "failed")
    assert NO_ADMIN in json.loads(record.details)["message"]


def test_finding8_init_admin_outside_the_spec_gives_way_to_the_spec(settings: Settings, tmp_path: Path) -> None:
    """`dataops init --admin root` makes the first admin outside the spec; the first spec that
    root applies decides who the admins are from then on."""
    platform = Platform(settings)
    try:
        initialize(platform, "root")
        report = apply_spec(platform, "root", load_spec(EXAMPLE_SPEC), "example")
        assert "platform_admin:root revoked" in report.changed and "platform_admin:alice" in report.created
        assert admins(platform) == [ADMIN]
    finally:
        platform.close()


def test_finding8_duplicate_admin_is_refused() -> None:
    with pytest.raises(SpecInvalid) as err:
        spec_with_admins([ADMIN, "priya", ADMIN])
    assert [(p.path, p.value) for p in err.value.problems] == [("platform_admins[2]", ADMIN)]


def test_finding8_cli_reports_the_revocation(tmp_path: Path) -> None:
    """The CLI reports a revocation like any other change."""
    home = tmp_path / "home"
    assert run_cli_inprocess(home, "init", "--admin", ADMIN).code == 0
    two = tmp_path / "two.yaml"
    two.write_text(EXAMPLE_SPEC.read_text().replace("platform_admins: [alice]", "platform_admins: [alice, omar]"))
    assert run_cli_inprocess(home, "spec", "apply", two, user=ADMIN).code == 0
    copy = Path(shutil.copytree(home, tmp_path / "copy"))
    result = run_cli_inprocess(copy, "spec", "apply", EXAMPLE_SPEC, user=ADMIN, as_json=True)
    assert result.code == 0, result.stderr
    assert result.json["changed"] == ["platform_admin:omar revoked"] and result.json["noop"] is False
    human = run_cli_inprocess(home, "spec", "apply", EXAMPLE_SPEC, user=ADMIN)
    assert human.code == 0 and "platform_admin:omar revoked" in human.stdout
