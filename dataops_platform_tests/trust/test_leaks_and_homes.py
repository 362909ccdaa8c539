"""Issue 12, findings 10 (leaks), 12 (the demo and a home it did not make) and 13 (an alert
resolved without acknowledgement)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform.errors import InvalidInput, NotFound
from dataops_platform.governance.alerts import acknowledge_alert, open_alert, resolve_alert, sla_status
from dataops_platform.governance.tokens import create_token, revoke_token
from dataops_platform.settings import load_settings
from dataops_platform_tests.api.conftest import live_server
from dataops_platform_tests.helpers import (
    OWNER_B1,
    ROLE_USERS,
    ROOT,
    audit_after,
    head_seq,
    matrix_platform,
    run_cli,
    store_digests,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def platform(tmp_path: Path):  # noqa: ANN201
    plat = matrix_platform(load_settings(tmp_path / "home"), FixedClock(T0))
    yield plat
    plat.close()


def test_finding10_metrics_are_not_shown_to_a_single_tenant_user(platform) -> None:  # noqa: ANN001
    metrics = platform.settings.artifacts_dir / "reports" / "p8_metrics.json"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text('{"tenants": 2, "dataset_versions": 7}')
    with live_server(platform, ROOT) as live:
        tenant_user = live.call("GET", "metrics", OWNER_B1)
        admin = live.call("GET", "metrics", ROOT)
    assert tenant_user.status_code == 403
    assert "dataset_versions" not in tenant_user.text
    assert admin.status_code == 200 and admin.json()["tenants"] == 2


def test_finding10_revoking_someone_elses_token_answers_like_a_missing_one(platform) -> None:  # noqa: ANN001
    token, _ = create_token(platform, ROOT, ROLE_USERS["ops"])
    seq = head_seq(platform)
    with pytest.raises(NotFound) as other:
        revoke_token(platform, OWNER_B1, token.token_id)
    with pytest.raises(NotFound) as missing:
        revoke_token(platform, OWNER_B1, "tok_999")
    assert type(other.value) is type(missing.value) and other.value.exit_code == missing.value.exit_code == 2
    assert other.value.message.replace(token.token_id, "X") == missing.value.message.replace("tok_999", "X")
    assert ROLE_USERS["ops"] not in other.value.message
    assert [(r.action, r.outcome) for r in audit_after(platform, seq)] == [("token.revoke", "denied")] * 2


def test_finding10_inbox_errors_name_no_server_path(platform) -> None:  # noqa: ANN001
    with live_server(platform, ROOT) as live:
        response = live.call("POST", "versions", ROLE_USERS["data_engineer"], json={"project": "a1", "path": "../../etc/passwd"})
    assert response.status_code == 400
    assert str(platform.settings.home_dir) not in response.text


def test_finding12_demo_refuses_a_home_it_did_not_make(platform) -> None:  # noqa: ANN001
    home = platform.settings.home_dir
    before = store_digests(home)
    result = run_cli(home, "demo")
    assert result.code == 2, result.stderr
    assert str(home) in result.error_text and "--force" in result.error_text
    assert store_digests(home) == before


def test_finding12_demo_home_marker(tmp_path: Path) -> None:
    from dataops_platform.demo.scenario import DEMO_MARKER, refuse_foreign_home

    home = tmp_path / "demo_home"
    home.mkdir()
    refuse_foreign_home(home)  # empty: fine
    (home / "governance.db").write_text("x")
    with pytest.raises(InvalidInput):
        refuse_foreign_home(home)
    (home / DEMO_MARKER).write_text("")
    refuse_foreign_home(home)  # made by the demo: may be replaced


def test_finding13_resolve_from_open_stays_unacknowledged(platform) -> None:  # noqa: ANN001
    clock: FixedClock = platform.clock  # type: ignore[assignment]
    ops = ROLE_USERS["ops"]
    quick = open_alert(platform, ops, "project:a1", "critical", "operational", "acked then resolved")
    clock.advance(minutes=5)
    acknowledge_alert(platform, ops, quick.alert_id)
    silent = open_alert(platform, ops, "project:a1", "critical", "operational", "resolved without ack")
    clock.advance(minutes=40)
    resolved = resolve_alert(platform, ops, silent.alert_id, "went away")
    assert resolved.acknowledged_at is None and resolved.acknowledged_by is None
    report = sla_status(platform, ops, "a1")
    assert report["mean_time_to_acknowledge_minutes"] == 5.0  # not flattered by a 0-minute "ack" at resolve
    assert report["acknowledged_count"] == 1 and report["resolved_unacknowledged_count"] == 1
    # 40 minutes without a response breaches the 15-minute acknowledge target of a critical alert
    breached = {b["alert_id"]: b["problems"] for b in report["breaches"]}
    assert any(p.startswith("acknowledge 40.0") for p in breached[silent.alert_id])


def test_finding11_rest_audit_total_is_the_real_total(platform) -> None:  # noqa: ANN001
    """`total` is every matching record, not min(total, limit + offset)."""
    for i in range(7):
        open_alert(platform, ROLE_USERS["ops"], "project:a1", "low", "operational", f"alert {i}")
    with live_server(platform, ROOT) as live:
        pages = [live.call("GET", "audit", ROLE_USERS["ops"], params={"project": "a1", "limit": 2, "offset": o}) for o in (0, 4)]
        everything = live.call("GET", "audit", ROLE_USERS["ops"], params={"project": "a1", "limit": 500})
    real = everything.json()["total"]
    assert real == len(everything.json()["items"]) >= 7
    assert [p.json()["total"] for p in pages] == [real, real]
    assert [len(p.json()["items"]) for p in pages] == [2, 2]
    assert pages[0].json()["items"][0]["seq"] > pages[1].json()["items"][0]["seq"]  # newest first, paged


def test_finding10_ids_are_numbered_per_tenant(platform, tmp_path: Path) -> None:  # noqa: ANN001
    """Tenant A registering five versions leaves no gap in tenant B's numbers."""
    from dataops_platform.demo.sample_data import sample_records, write_records
    from dataops_platform.governance.versions import register_version
    from dataops_platform_tests.helpers import A1, B1

    def register(actor: str, project: str, seed: int) -> str:
        path = write_records(sample_records(12, seed), tmp_path / f"v{seed}.jsonl")
        return register_version(platform, actor, project, path).version_id

    from dataops_platform.governance.spec_apply import apply_spec
    from dataops_platform.spec.loader import parse_spec
    from dataops_platform_tests.helpers import matrix_spec_text

    spec = matrix_spec_text().replace(f"{OWNER_B1}: admin", f"{OWNER_B1}: data_engineer")  # b1 gets a data engineer
    apply_spec(platform, ROOT, parse_spec(spec, "matrix.yaml"), "matrix.yaml")
    first_b = register(OWNER_B1, B1, 1)
    ids_a = [register(ROLE_USERS["data_engineer"], A1, seed) for seed in range(2, 7)]
    second_b = register(OWNER_B1, B1, 7)
    assert ids_a == [f"ta.ds_v{n:03d}" for n in range(1, 6)]
    assert (first_b, second_b) == ("tb.ds_v001", "tb.ds_v002")
