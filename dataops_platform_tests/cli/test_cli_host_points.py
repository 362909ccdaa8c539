"""Points a newcomer's trial found on the platform's host: a mistyped --as, a busy port, a full
audit page."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dataops_platform_tests.client.serving import NORTHWIND_SPEC, cli_in, init_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("host") / "home"
    init_home(home, NORTHWIND_SPEC, ("ana",))
    return home


def test_a_listing_as_a_user_who_does_not_exist_is_refused(home: Path) -> None:
    for args in (("version", "list"), ("alert", "list"), ("audit", "list"), ("token", "list")):
        typo = cli_in(home, *args, user="anna")
        assert typo.code == 2 and "--as 'anna': no such user" in typo.stderr, (args, typo)
    assert cli_in(home, "version", "list", user="ana").code == 0


def test_serve_on_a_busy_port_exits_1_naming_it_before_announcing(home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        served = cli_in(home, "serve", "--port", str(port))
    assert served.code == 1 and f"cannot listen on 127.0.0.1:{port}" in served.stderr, served
    assert "REST API on" not in served.stdout


def test_a_full_audit_page_says_older_records_may_match(home: Path) -> None:
    full = cli_in(home, "audit", "list", "--limit", "2", user="root")
    assert full.code == 0 and "the newest 2 records; older ones may match" in full.stdout, full
    everything = cli_in(home, "audit", "list", "--limit", "1000", user="root")
    assert "older ones may match" not in everything.stdout


def test_uploads_a_killed_server_left_are_swept_when_old(home: Path) -> None:
    import os
    import time

    from dataops_platform.api.versions import STALE_UPLOAD_SECONDS, sweep_stale_uploads
    from dataops_platform.settings import load_settings

    settings = load_settings(home)
    uploads = home / "uploads"
    old, fresh, other = uploads / "upload-old", uploads / "upload-fresh", uploads / "keep-me"
    for where in (old, fresh, other):
        where.mkdir(parents=True)
        (where / "part.jsonl").write_bytes(b"x" * 10)
    past = time.time() - STALE_UPLOAD_SECONDS - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert sweep_stale_uploads(settings) == ["upload-old"]
    assert not old.exists() and fresh.exists() and other.exists()  # a young one may be in flight; others are not ours
