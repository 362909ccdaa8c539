"""Every route answers 401 (problem details, `WWW-Authenticate: Bearer`) without a token, with a
malformed one, an unknown one, an expired one and a revoked one, and changes nothing.

One live server per backend over the reference organisation (examples/platform.yaml) with p01's
objects seeded in every state, so each request would really act if it got past authentication.
The expired and revoked tokens are shown to work before they expire or are revoked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform.governance.tokens import create_token, revoke_token
from dataops_platform_tests.api.conftest import (
    BACKENDS,
    Crew,
    LiveApi,
    backend_settings,
    data_bytes,
    inbox_file,
    live_server,
    route_cases,
    seed_project,
    send,
)
from dataops_platform_tests.conftest import ADMIN, EXAMPLE_SPEC, T0, make_platform
from dataops_platform_tests.helpers import head_seq, objects_snapshot

USER = "omar"  # ops in every project of the reference organisation


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp(f"auth_{request.param}")
    clock = FixedClock(T0)
    with backend_settings(request, root / "home", request.param) as settings:
        platform = make_platform(settings, clock)
        ids = seed_project(platform, root, "p01_retail_search", Crew(de="dan", qa="quinn", pm="priya", ops="omar"))
        with live_server(platform, ADMIN) as live:
            cases = route_cases(
                ids,
                inbox_file=inbox_file(settings),
                upload=data_bytes(root),
                spec_text=EXAMPLE_SPEC.read_text(),
                expires_at=(T0 + timedelta(days=3)).isoformat(),
            )
            # Tokens that work now, then stop working: one is revoked, one expires when the clock moves.
            expiring = create_token(platform, ADMIN, USER, expires_at=T0 + timedelta(minutes=10))[1]
            revoked_row, revoked = create_token(platform, ADMIN, USER)
            for token in (expiring, revoked):
                ok = live.call("GET", "versions", headers={"Authorization": f"Bearer {token}"})
                assert ok.status_code == 200, ok.text
            revoke_token(platform, ADMIN, revoked_row.token_id)
            clock.advance(minutes=11)
            valid = live.token(USER)
            yield {"live": live, "cases": cases, "expired": expiring, "revoked": revoked, "valid": valid}
        platform.close()


def bad_credentials(api: dict[str, Any]) -> dict[str, tuple[dict[str, str], str]]:
    """kind -> (headers sent, what the problem detail must say)."""
    valid = api["valid"]
    tampered = valid[:-1] + ("A" if valid[-1] != "A" else "B")
    return {
        "missing": ({}, "missing Authorization header"),
        "empty": ({"Authorization": ""}, "missing Authorization header"),
        "basic_scheme": ({"Authorization": "Basic b21hcjpzZWNyZXQ="}, "malformed Authorization header"),
        "no_scheme": ({"Authorization": valid}, "malformed Authorization header"),
        "bearer_only": ({"Authorization": "Bearer"}, "malformed Authorization header"),
        "not_a_dop_token": ({"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJvbWFyIn0."}, "malformed"),
        "unknown": ({"Authorization": f"Bearer dop_tok_999_{os.urandom(16).hex()}"}, "unknown token"),
        "tampered": ({"Authorization": f"Bearer {tampered}"}, "unknown token"),
        "expired": ({"Authorization": f"Bearer {api['expired']}"}, "expired"),
        "revoked": ({"Authorization": f"Bearer {api['revoked']}"}, "was revoked"),
    }


def test_cases_cover_every_route(api: dict[str, Any]) -> None:
    live: LiveApi = api["live"]
    assert set(api["cases"]) == set(live.routes())
    assert len(live.routes()) >= 26


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "empty",
        "basic_scheme",
        "no_scheme",
        "bearer_only",
        "not_a_dop_token",
        "unknown",
        "tampered",
        "expired",
        "revoked",
    ],
)
def test_every_route_answers_401(api: dict[str, Any], kind: str) -> None:
    live: LiveApi = api["live"]
    headers, says = bad_credentials(api)[kind]
    objects, seq = objects_snapshot(live.platform), head_seq(live.platform)
    data_files = sorted(p.name for p in live.settings.data_dir.rglob("*"))
    answers = {}
    for (method, path), req in sorted(api["cases"].items()):
        response = send(live, req, None, headers)
        body = response.json()
        answers[f"{method} {path}"] = (
            response.status_code,
            response.headers.get("content-type"),
            response.headers.get("www-authenticate"),
            body.get("status"),
            body.get("title"),
            says in body.get("detail", ""),
        )
    expected = (401, "application/problem+json", "Bearer", 401, "unauthenticated", True)
    assert answers == {route: expected for route in answers}
    assert objects_snapshot(live.platform) == objects  # nothing acted ...
    assert head_seq(live.platform) == seq  # ... and no decision was taken, so none was audited
    assert sorted(p.name for p in live.settings.data_dir.rglob("*")) == data_files


def test_valid_token_passes_authentication_on_every_route(api: dict[str, Any]) -> None:
    """The control: the same requests with a live token are authenticated (whatever they then decide)."""
    live: LiveApi = api["live"]
    statuses = {f"{m} {p}": send(live, req, USER).status_code for (m, p), req in sorted(api["cases"].items())}
    assert not {route: s for route, s in statuses.items() if s in (401, 422) or s >= 500}
    assert statuses["GET /api/v1/versions/{version_id}"] == 200
    assert statuses["POST /api/v1/alerts"] == 201  # omar is ops in p01
    assert statuses["POST /api/v1/spec/apply"] == 403  # authenticated, but not a platform admin
