"""8 concurrent clients x 250 mutating requests each over loopback: no lost or duplicated records, and
the audit chain stays one intact chain.

The mutating request is opening an alert (POST /api/v1/alerts as omar, ops in p01) on an existing
version. Every client is a thread with its own keep-alive connection to one real uvicorn server;
the clients start together at a barrier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dataops_platform.clock import FixedClock
from dataops_platform.governance import audit
from dataops_platform.governance.versions import register_version
from dataops_platform.store.models import Alert, LineageEdge
from dataops_platform_tests.api.conftest import LiveApi, backend_settings, data_file, live_server
from dataops_platform_tests.conftest import ADMIN, T0, make_platform
from dataops_platform_tests.helpers import audit_after, head_seq, tenant_counters

CLIENTS, REQUESTS = 8, 250
USER, PROJECT = "omar", "p01_retail_search"


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveApi, str]]:
    with backend_settings(request, tmp_path / "home", request.param) as settings:
        platform = make_platform(settings, FixedClock(T0))
        version = register_version(platform, "dan", PROJECT, data_file(tmp_path), change_summary=["load"]).version_id
        with live_server(platform, ADMIN) as live:
            live.token(USER)
            yield live, version
        platform.close()


@pytest.mark.slow
def test_concurrent_alert_opening_loses_and_duplicates_nothing(api: tuple[LiveApi, str]) -> None:
    live, version = api
    platform = live.platform
    with platform.store.read() as session:
        alerts_before = session.scalar(select(func.count()).select_from(Alert))
        counter_before = sum(tenant_counters(session, "alert").values())
    seq_before = head_seq(platform)
    barrier = threading.Barrier(CLIENTS)

    def client(n: int) -> list[tuple[int, str, str]]:
        live.call("GET", "versions/" + version, USER)  # open this thread's connection before the start
        barrier.wait(timeout=60)
        out = []
        for i in range(REQUESTS):
            title = f"client {n} request {i}"
            body = {"related_object": f"version:{version}", "severity": "medium", "category": "operational", "title": title}
            response = live.call("POST", "alerts", USER, json=body)
            out.append((response.status_code, title, response.json().get("alert_id", response.text)))
        return out

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for rs in pool.map(client, range(CLIENTS)) for r in rs]
    elapsed = time.perf_counter() - started
    total = CLIENTS * REQUESTS
    print(
        f"\n{total} POST /alerts from {CLIENTS} clients in {elapsed:.1f} s ({total / elapsed:.0f} req/s), "
        f"{platform.store.engine.dialect.name}"
    )

    assert [r for r in results if r[0] != 201] == []
    returned = {title: alert_id for _, title, alert_id in results}
    assert len(returned) == total and len(set(returned.values())) == total  # every request got its own alert

    with platform.store.read() as session:
        rows = session.execute(select(Alert.alert_id, Alert.title).where(Alert.title.like("client %"))).all()
        assert session.scalar(select(func.count()).select_from(Alert)) == alerts_before + total
        assert sum(tenant_counters(session, "alert").values()) == counter_before + total
        edges = session.scalar(
            select(func.count())
            .select_from(LineageEdge)
            .where(LineageEdge.edge_type == "triggered", LineageEdge.target_ref.in_([f"alert:{a}" for a in returned.values()]))
        )
        verdict = audit.verify(session, platform.anchor)
    assert {title: alert_id for alert_id, title in rows} == returned  # none lost, none duplicated, none mixed up
    assert edges == total

    records = audit_after(platform, seq_before)
    assert len(records) == total
    assert {(r.actor, r.action, r.outcome, r.project) for r in records} == {(USER, "alert.open", "allowed", PROJECT)}
    assert sorted(r.object_ref for r in records) == sorted(f"alert:{a}" for a in returned.values())
    assert [r.seq for r in records] == list(range(seq_before + 1, seq_before + total + 1))  # one chain, no gaps
    assert verdict.ok, verdict.reason
    assert verdict.head.seq == seq_before + total
    over_http = live.call("GET", "audit/verify", USER).json()
    assert (over_http["ok"], over_http["head_seq"]) == (True, seq_before + total)
