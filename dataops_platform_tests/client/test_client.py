"""`dataops_platform.client` against a real `dataops serve`: typed answers, typed errors (also the
builtins they fit), configuration from the environment or the credentials file `dataops login`
writes, and what a careless or hostile caller sends."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops_platform import errors
from dataops_platform.client import (
    DataOpsClient,
    GateRefused,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServerUnreachable,
    Unauthenticated,
)
from dataops_platform.client import models as m
from dataops_platform.client.config import resolve
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform_tests.client.serving import NORTHWIND_SPEC, Server, cli_in, init_home, serve

USERS = ("root", "ana", "quentin", "paula", "oscar", "zed")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("client")
    tokens = init_home(root / "home", NORTHWIND_SPEC, USERS)
    data = root / "data"
    write_records(sample_records(40, 3, id_prefix="k"), data / "good.jsonl")
    with serve(root / "home") as server:
        yield server, tokens, data


def client(server: Server, token: str) -> DataOpsClient:
    return DataOpsClient(server.url, token, environ={})


def test_a_version_lives_its_life_through_typed_calls(served) -> None:  # noqa: ANN001
    server, tokens, data = served
    with client(server, tokens["ana"]) as ana, client(server, tokens["quentin"]) as qa, client(server, tokens["paula"]) as pm:
        made = ana.version_register("churn_model", data / "good.jsonl", summary=["typed client"])
        assert isinstance(made, m.RegisteredVersion) and made.status == "draft" and made.row_count == 40
        assert made.change_summary == ["typed client"] and made.copy_location  # an upload is kept
        with pytest.raises(GateRefused) as refused:
            pm.version_release(made.version_id)
        assert any("validated" in c for c in refused.value.conditions), refused.value.conditions
        assert isinstance(refused.value, errors.GateRefused) and refused.value.exit_code == 4
        assert qa.version_validate(made.version_id).status == "validated"
        released = pm.version_release(made.version_id)
        assert released.status == "released" and released.released_at.tzinfo is not None
        shown = ana.version_show(made.version_id)
        assert shown.is_current_release and shown.content_digest == made.content_digest
        assert [v.version_id for v in ana.version_list("churn_model")].count(made.version_id) == 1
        impact = ana.lineage_impact(f"version:{made.version_id}")
        assert isinstance(impact, m.Impact)


def test_errors_are_the_platform_s_and_the_builtins_they_fit(served) -> None:  # noqa: ANN001
    server, tokens, data = served
    with client(server, tokens["ana"]) as ana, client(server, tokens["zed"]) as zed:
        made = ana.version_register("churn_model", data / "good.jsonl")
        with pytest.raises(NotFound) as missing:
            ana.version_show("nw_sales.ds_v999")
        assert isinstance(missing.value, LookupError) and isinstance(missing.value, errors.NotFound)
        assert missing.value.status == 404 and missing.value.exit_code == 2
        with pytest.raises(NotFound) as other_tenant:  # another tenant's id reads like a missing one
            zed.version_show(made.version_id)
        as_missing = str(missing.value).replace("nw_sales.ds_v999", "X").replace("'ana'", "'zed'")
        assert str(other_tenant.value).replace(made.version_id, "X") == as_missing
        with pytest.raises(PermissionDenied) as denied:
            ana.version_release(made.version_id)
        assert isinstance(denied.value, PermissionError) and denied.value.action == "version.release"
        assert denied.value.actor == "ana" and denied.value.exit_code == 3
    with client(server, tokens["oscar"]) as ops, pytest.raises(InvalidInput) as bad:
        ops.alert_open(f"version:{made.version_id}", "apocalyptic", "quality_gate", "x")
    assert isinstance(bad.value, ValueError) and bad.value.field == "severity", bad.value.problem
    with client(server, tokens["ana"]) as ana:
        for hostile in ("../tokens", "a/b", "x?limit=1", "%2e%2e", "\u0000", "é" * 70):
            with pytest.raises((NotFound, InvalidInput)):
                ana.version_show(hostile)


def test_a_bad_token_and_an_unreachable_server_are_told_apart(served) -> None:  # noqa: ANN001
    server, tokens, _ = served
    with pytest.raises(Unauthenticated) as bad, client(server, tokens["ana"][:-3] + "zzz") as c:
        c.version_list()
    assert isinstance(bad.value, PermissionError) and bad.value.exit_code == 3
    nowhere = Server("http://127.0.0.1:9", server.home, server.process)
    with pytest.raises(ServerUnreachable) as down, client(nowhere, tokens["ana"]) as c:
        c.version_list()
    assert "http://127.0.0.1:9" in str(down.value) and isinstance(down.value, ConnectionError)


def test_configuration_comes_from_arguments_then_the_environment_then_the_file(tmp_path: Path, served) -> None:  # noqa: ANN001
    server, tokens, _ = served
    creds = tmp_path / "conf" / "credentials.json"
    env = {"DATAOPS_CREDENTIALS": str(creds)}
    with pytest.raises(errors.InvalidInput, match="no platform server"):
        resolve(environ=env)
    with pytest.raises(errors.InvalidInput, match=f"no token for {server.url}") as no_token:
        resolve(environ=env | {"DATAOPS_SERVER": server.url + "/api/v1/"})
    assert no_token.value.field == "token"
    assert resolve(environ=env | {"DATAOPS_SERVER": server.url, "DATAOPS_TOKEN": tokens["ana"]}).source == "DATAOPS_TOKEN"
    # `dataops login` verifies the token, then keeps it 0600 and makes the server the default.
    login = cli_in(None, "login", server.url, as_json=True, env=env | {"DATAOPS_TOKEN": tokens["oscar"]})
    assert login.code == 0, login
    assert json.loads(login.stdout)["user"] == "oscar"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600 and stat.S_IMODE(creds.parent.stat().st_mode) == 0o700
    assert tokens["oscar"] in creds.read_text()
    with DataOpsClient(environ=env) as from_file:
        assert from_file.whoami().user_id == "oscar" and from_file.token_source == str(creds)
        assert tokens["oscar"] not in repr(from_file)
    remote = cli_in(None, "--server", server.url, "alert", "list", "--json", env=env)  # the CLI finds the token too
    assert remote.code == 0 and json.loads(remote.stdout) == [], remote
    os.chmod(creds, 0o644)  # readable by others: refused, naming the fix
    with pytest.raises(errors.InvalidInput, match="chmod 600"):
        DataOpsClient(environ=env)
    os.chmod(creds, 0o600)
    assert cli_in(None, "logout", server.url, env=env).code == 0
    with pytest.raises(errors.InvalidInput, match="no token for"):
        DataOpsClient(server.url, environ=env)


def test_login_refuses_a_bad_token_and_writes_nothing(tmp_path: Path, served) -> None:  # noqa: ANN001
    server, tokens, _ = served
    creds = tmp_path / "credentials.json"
    env = {"DATAOPS_CREDENTIALS": str(creds)}
    wrong = cli_in(None, "login", server.url, env=env | {"DATAOPS_TOKEN": tokens["ana"][:-2] + "xx"})
    assert wrong.code == 3 and not creds.exists(), wrong
    for junk in ("not-a-token", "dop_ a b", "dop_" + "x" * 300):
        refused = cli_in(None, "login", server.url, env=env | {"DATAOPS_TOKEN": junk})
        assert refused.code == 2 and not creds.exists() and junk not in refused.stderr, (junk, refused)
    with pytest.raises(errors.InvalidInput, match="token") as nul:  # a NUL cannot travel in the environment
        DataOpsClient(server.url, "dop_x\u0000y", environ={})
    assert nul.value.value is None  # a secret is never quoted
    creds.write_text("{not json")
    os.chmod(creds, 0o600)
    broken = cli_in(None, "--server", server.url, "version", "list", env=env)
    assert broken.code == 2 and "credentials file" in broken.stderr and "log" in broken.stderr, broken


def test_uploads_refuse_what_cannot_be_uploaded_before_sending(tmp_path: Path, served) -> None:  # noqa: ANN001
    server, tokens, data = served
    (tmp_path / "notes.txt").write_text("hello")
    with client(server, tokens["ana"]) as ana:
        with pytest.raises(InvalidInput, match="upload takes"):
            ana.version_upload("churn_model", tmp_path / "notes.txt")
        with pytest.raises(InvalidInput, match="always keeps"):
            ana.version_register("churn_model", data / "good.jsonl", copy=False)
        with pytest.raises(InvalidInput, match="write inbox:nowhere/at/all.csv"):  # no silent fallback to the server
            ana.version_register("churn_model", "nowhere/at/all.csv")
        with pytest.raises(InvalidInput, match="inbox/nw_sales/nowhere/at/all.csv' does not exist"):
            ana.version_register("churn_model", "inbox:nowhere/at/all.csv")


def test_the_mlflow_helper_asks_the_platform_for_the_digest_and_source(served) -> None:  # noqa: ANN001
    from dataops_platform.mlflow.target import run_target

    server, tokens, data = served
    with client(server, tokens["ana"]) as ana:
        made = ana.version_register("churn_model", data / "good.jsonl")
    env = {"DATAOPS_SERVER": server.url, "DATAOPS_TOKEN": tokens["ana"]}
    target = run_target("churn_model", made.version_id, environ=env)
    assert (target.digest, target.source) == (made.content_digest, made.source_uri)
    assert target.tags()["dataops.dataset_digest"] == made.content_digest
    with pytest.raises(NotFound):  # the helper: a version the token cannot read is an error before any run
        run_target("churn_model", made.version_id, environ=env | {"DATAOPS_TOKEN": tokens["zed"]})
    lenient = run_target("churn_model", made.version_id, environ=env | {"DATAOPS_SERVER": "http://127.0.0.1:9"}, strict=False)
    assert (lenient.digest, lenient.source) == (None, None)  # the plugin: the run keeps its tags
    given = run_target("churn_model", made.version_id, environ=env | {"DATAOPS_DATASET_DIGEST": "a" * 64,
                                                                      "DATAOPS_DATASET_SOURCE": "s3://b/k"})  # fmt: skip
    assert given.digest == "a" * 64  # what the team set wins; the platform is not asked


def test_an_uploaded_version_verifies_and_diffs_against_its_kept_copy(served) -> None:  # noqa: ANN001
    """An upload's own file is gone after the request: the version's source is the kept copy, so
    verify finds it intact (no false data_drift alert on a release) and a child diffs against it."""
    server, tokens, data = served
    write_records(sample_records(50, 3, id_prefix="k"), data / "more.csv")
    with client(server, tokens["ana"]) as ana, client(server, tokens["quentin"]) as qa, client(server, tokens["paula"]) as pm:
        first = ana.version_register("churn_model", data / "good.jsonl")
        assert "/uploads/" not in first.source_uri and "/objects/" in first.source_uri, first.source_uri
        qa.version_validate(first.version_id)
        pm.version_release(first.version_id)
        checked = ana.version_verify(first.version_id)
        assert (checked.status, checked.pin_changes, checked.alert_id) == ("ok", [], None), checked
        child = ana.version_register("churn_model", data / "more.csv", parent=first.version_id)
        assert child.parent_diff is not None and child.parent_diff["rows_added"] == 10, child.parent_diff
        assert ana.version_diff(first.version_id, child.version_id).rows_added == 10
        assert ana.alert_list("churn_model", "open") == []


def test_local_sources_that_cannot_be_uploaded_are_refused_before_sending(tmp_path: Path, served) -> None:  # noqa: ANN001
    server, tokens, data = served
    (tmp_path / "parts").mkdir()
    write_records(sample_records(20, 4, id_prefix="p"), tmp_path / "parts" / "a.jsonl")
    with client(server, tokens["ana"]) as ana:
        before = len(ana.version_list("churn_model"))
        for source, says in [
            (tmp_path / "parts", "is a directory"),
            (str(tmp_path / "parts" / "*.jsonl"), "a glob cannot be uploaded"),
            (tmp_path / "typo.jsonl", "inbox:"),
            ("/dev/null", "not a regular file"),
        ]:
            with pytest.raises(InvalidInput, match=says) as refused:
                ana.version_register("churn_model", source)
            assert refused.value.field == "source"
        (server.home / "inbox" / "nw_sales").mkdir(parents=True, exist_ok=True)
        write_records(sample_records(30, 5, id_prefix="i"), server.home / "inbox" / "nw_sales" / "on_server.jsonl")
        in_place = ana.version_register("churn_model", "inbox:on_server.jsonl")
        assert in_place.source_uri == "inbox:nw_sales/on_server.jsonl" and in_place.row_count == 30
        odd = tmp_path / "My Data #1.JSONL"
        write_records(sample_records(20, 6, id_prefix="o"), tmp_path / "odd.jsonl")
        (tmp_path / "odd.jsonl").rename(odd)
        uploaded = ana.version_register("churn_model", odd)  # the name is only a label: made acceptable
        assert uploaded.row_count == 20 and uploaded.source_pin["files"][0]["name"] == "My_Data__1.jsonl"
        assert len(ana.version_list("churn_model")) == before + 2


def test_answers_that_are_not_the_platform_s_are_server_errors(tmp_path: Path, served) -> None:  # noqa: ANN001
    """Another server, a proxy's error page, a redirect: exit 1 saying so, never read as the
    platform's 404 / 403 / 401 (which would mean 'not found' or 'denied')."""
    import http.server
    import threading

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "https://elsewhere.example/")
                self.end_headers()
                return
            code = {"/s403": 403, "/s401": 401}.get(self.path.split("/api")[0], 404)
            self.send_response(code)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>Proxy says no</body></html>")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _, tokens, _ = served
    try:
        for prefix, status in (("", 404), ("/s403", 403), ("/s401", 401), ("/redirect", 302)):
            with DataOpsClient(base + prefix, tokens["ana"], environ={}) as c, pytest.raises(errors.DataOpsError) as err:
                c.version_list()
            assert type(err.value).__name__ == "ServerError" and err.value.exit_code == 1, (prefix, err.value)
            assert err.value.status == status
            assert ("redirect" in str(err.value)) if status == 302 else ("not a dataops answer" in str(err.value))
        remote = cli_in(None, "--server", base, "version", "list", env={"DATAOPS_TOKEN": tokens["ana"]})
        assert remote.code == 1 and "not a dataops answer" in remote.stderr, remote
    finally:
        httpd.shutdown()


def test_notifications_list_remotely(served) -> None:  # noqa: ANN001
    server, tokens, _ = served
    with client(server, tokens["root"]) as admin:
        assert admin.notify_list() == []
    remote = cli_in(None, "--server", server.url, "notify", "list", "--json", env={"DATAOPS_TOKEN": tokens["root"]})
    assert remote.code == 0 and json.loads(remote.stdout) == [], remote


def test_empty_and_slashed_ids_read_as_not_found_or_invalid(served) -> None:  # noqa: ANN001
    server, tokens, _ = served
    with client(server, tokens["ana"]) as ana:
        with pytest.raises(InvalidInput, match="empty"):
            ana.version_show("")
        with pytest.raises(NotFound, match="no such route"):
            ana.version_show("nw_sales.ds_v001/../../tokens")


def test_login_takes_no_acting_user(tmp_path: Path, served) -> None:  # noqa: ANN001
    server, tokens, _ = served
    env = {"DATAOPS_CREDENTIALS": str(tmp_path / "c.json"), "DATAOPS_TOKEN": tokens["ana"]}
    refused = cli_in(None, "login", server.url, user="root", env=env)
    assert refused.code == 2 and "takes no --as" in refused.stderr and not (tmp_path / "c.json").exists(), refused
