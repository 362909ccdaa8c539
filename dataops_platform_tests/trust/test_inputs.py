"""Issue 12, findings 4 and 6 (interfaces): bad text is refused on every field and interface, the
caller is authenticated and authorised before the body is read, and body limits hold on the stream."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from dataops_platform.clock import FixedClock
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.versions import register_version
from dataops_platform.settings import load_settings
from dataops_platform.store.models import Alert
from dataops_platform_tests.api.conftest import LiveApi, live_server
from dataops_platform_tests.helpers import (
    A1,
    B1,
    OWNER_B1,
    ROLE_USERS,
    ROOT,
    audit_after,
    head_seq,
    matrix_platform,
    objects_snapshot,
    run_cli,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BAD_BYTE = b"caf\xff".decode("utf-8", "surrogateescape")  # how Python hands invalid UTF-8 in argv to us


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    home = tmp_path_factory.mktemp("inputs") / "home"
    platform = matrix_platform(load_settings(home), FixedClock(T0))
    data = write_records(sample_records(20, 5), home / "inbox" / "good.jsonl")
    register_version(platform, ROLE_USERS["data_engineer"], A1, data)
    with live_server(platform, ROOT) as server:
        yield server
    platform.close()


# -- finding 4: text --------------------------------------------------------------------------
def test_finding4_surrogate_summary_over_rest_is_refused_and_listings_survive(live: LiveApi) -> None:
    live.token(ROLE_USERS["data_engineer"])
    before, seq = objects_snapshot(live.platform), head_seq(live.platform)
    response = live.call("POST", "versions", ROLE_USERS["data_engineer"],
                         data=b'{"project": "a1", "path": "good.jsonl", "summary": ["\\ud800"]}',
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400, response.text
    assert "summary" in response.json()["detail"]
    assert objects_snapshot(live.platform) == before and head_seq(live.platform) == seq
    listing = live.call("GET", "versions", ROLE_USERS["data_engineer"])
    assert listing.status_code == 200 and listing.json()["total"] >= 1


@pytest.mark.parametrize("field", ["title", "related_object", "category"])
def test_finding4_surrogate_in_any_json_field(live: LiveApi, field: str) -> None:
    body = {"related_object": "project:a1", "severity": "low", "category": "operational", "title": "t"}
    raw = requests.models.complexjson.dumps(body).replace(f'"{body[field]}"', '"x\\udfff"')
    response = live.call("POST", "alerts", ROLE_USERS["ops"], data=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


def test_finding4_store_refuses_bad_text_from_any_caller(tmp_path: Path) -> None:
    """The store's flush guard: a service called directly (a sensor, a script) cannot store it either,
    and the refusal is audited as failed like every other."""
    platform = matrix_platform(load_settings(tmp_path / "home"), FixedClock(T0))
    seq = head_seq(platform)
    with pytest.raises(InvalidInput) as caught:
        open_alert(platform, ROLE_USERS["ops"], "project:a1", "low", "operational", "broken \ud800 title")
    assert "alerts.title" in caught.value.message
    with platform.store.read() as session:
        assert session.query(Alert).count() == 0
    assert [(r.action, r.outcome) for r in audit_after(platform, seq)] == [("alert.open", "failed")]
    platform.close()


@pytest.mark.parametrize(
    "args",
    [
        ("alert", "open", "project:a1", "--severity", "low", "--category", "operational", "--title", BAD_BYTE),
        ("alert", "resolve", "alert_001", "--note", BAD_BYTE),
        ("version", "register", "a1", "x.jsonl", "--summary", BAD_BYTE),
        ("rollback", "a1", "--to", "ds_v001", "--reason", BAD_BYTE),
    ],
    ids=["title", "note", "summary", "reason"],
)
def test_finding4_invalid_utf8_arguments_exit_2_naming_the_option(tmp_path: Path, args: tuple[str, ...]) -> None:
    option = args[-2]
    result = run_cli(tmp_path / "nohome", *args, user="u_ops")
    assert result.code == 2, result.stderr
    assert f"{option} is not valid UTF-8" in result.error_text and "Traceback" not in result.stderr


def test_finding4_invalid_utf8_actor(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "nohome", "version", "list", user=BAD_BYTE)
    assert result.code == 2 and "--as is not valid UTF-8" in result.error_text


# -- finding 6: work before permission, limits on the stream ------------------------------------
def test_finding6_malformed_json_without_token_is_401(live: LiveApi) -> None:
    response = live.call("POST", "alerts", None, data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(sep) and bool(lengths) and len(body) >= lengths[0]


def test_finding6_chunked_body_over_the_limit_is_cut_and_not_echoed(live: LiveApi) -> None:
    """A chunked JSON body (no Content-Length) of up to 200 MB: the server answers 413 as soon as
    the stream passes 1 MiB, long before the client has sent it all, and echoes nothing."""
    host, port = live.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (f"POST /api/v1/alerts HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {live.token(ROLE_USERS['ops'])}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    sock.sendall(head.encode())
    chunk = b"x" * (1 << 20)
    sent = 0
    try:
        while sent < 200 << 20 and not select.select([sock], [], [], 0)[0]:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            select.select([sock], [], [], 0.05)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection after answering
    answer = b""
    while not _complete(answer) and (data := sock.recv(65536)):
        answer += data
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert sent < 50 << 20
    assert len(answer) < 2000 and b"xxxx" not in answer  # the body is never echoed back


def test_finding6_upload_denied_before_the_body_is_read(live: LiveApi, tmp_path: Path) -> None:
    """qa may not create versions: 403 straight away, the denial audited, nothing written under home."""
    live.token(ROLE_USERS["qa"])
    seq = head_seq(live.platform)
    uploads = live.settings.home_dir / "uploads"
    payload = b"x" * (60 << 20)
    started = time.monotonic()
    response = live.call("PUT", "projects/a1/versions/upload", ROLE_USERS["qa"], params={"filename": "big.parquet"}, data=payload)
    assert response.status_code == 403, response.text
    assert time.monotonic() - started < 30
    assert [(r.actor, r.action, r.outcome) for r in audit_after(live.platform, seq)] == [
        (ROLE_USERS["qa"], "version.create", "denied")
    ]
    assert not uploads.exists() or not any(uploads.rglob("big.parquet"))


def test_finding6_upload_into_another_tenant_is_404(live: LiveApi) -> None:
    response = live.call("PUT", f"projects/{B1}/versions/upload", ROLE_USERS["data_engineer"],
                         params={"filename": "a.jsonl"}, data=b"{}")  # fmt: skip
    assert response.status_code == 404, response.text
    assert OWNER_B1 not in response.text


def test_finding6_validation_error_is_400_problem_without_input(live: LiveApi) -> None:
    secret = "s3cr3t-" + "y" * 5000
    response = live.call("POST", "alerts", ROLE_USERS["ops"], json={"related_object": "project:a1", "severity": "low",
                                                                    "category": "operational", "title": secret})  # fmt: skip
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400 and body["errors"][0]["loc"] == ["body", "title"]
    assert "s3cr3t" not in response.text


def test_finding4_text_stored_before_the_rule_cannot_break_a_listing(tmp_path: Path) -> None:
    """A store written before the text rule may hold a lone surrogate (JSON columns keep the
    escape): REST listings and the CLI still answer, the character escaped."""
    from sqlalchemy import text

    platform = matrix_platform(load_settings(tmp_path / "home"), FixedClock(T0))
    data = write_records(sample_records(20, 6), tmp_path / "v.jsonl")
    version = register_version(platform, ROLE_USERS["data_engineer"], A1, data).version_id
    with platform.store.engine.begin() as conn:  # what an older release let through
        conn.execute(text("UPDATE dataset_versions SET change_summary = :v WHERE version_id = :id"),
                     {"v": '["broken \\\\ud800 summary"]', "id": version})  # fmt: skip
    with live_server(platform, ROOT) as server:
        listing = server.call("GET", "versions", ROLE_USERS["data_engineer"])
        one = server.call("GET", f"versions/{version}", ROLE_USERS["data_engineer"])
    assert listing.status_code == 200 and one.status_code == 200, (listing.text, one.text)
    result = run_cli(platform.settings.home_dir, "version", "show", version, user=ROLE_USERS["data_engineer"], as_json=True)
    assert result.code == 0, result.stderr
    platform.close()


def test_finding5_spec_apply_decided_before_parsing(live: LiveApi) -> None:
    """A caller without spec.apply gets 403 and an audited denial, whatever the body holds."""
    live.token(ROLE_USERS["ops"])
    seq = head_seq(live.platform)
    response = live.call("POST", "spec/apply", ROLE_USERS["ops"], data=b"a: &a [*a, *a]\n" * 1000,
                         headers={"Content-Type": "text/plain"})  # fmt: skip
    assert response.status_code == 403, response.text
    assert [(r.action, r.outcome) for r in audit_after(live.platform, seq)] == [("spec.apply", "denied")]
