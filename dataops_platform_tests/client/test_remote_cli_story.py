"""The CLI's main story run twice: once on the platform's host (`--as`), once through `--server`
against a real `dataops serve` (a child process) with each user's own token. Same outputs (tables
and --json, up to timestamps and where the data was read from) and the same exit codes.

The organisation is not the example's: Northwind, two tenants, its own users and projects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform_tests.client.serving import NORTHWIND_SPEC, Server, cli_in, init_home, serve

USERS = ("root", "ana", "quentin", "paula", "oscar", "zed")
# (user, arguments). The story: register two versions, a gate refusal, validate, release both, an
# alert opened / acknowledged / resolved, a rollback (previewed, then done), then the audit log.
STORY: list[tuple[str, tuple[str, ...]]] = [
    ("ana", ("version", "register", "churn_model", "v1.jsonl", "--copy", "--summary", "first cut")),
    ("paula", ("version", "release", "nw_sales.ds_v001")),  # refused: not validated (exit 4)
    ("quentin", ("version", "validate", "nw_sales.ds_v001")),
    ("paula", ("version", "release", "nw_sales.ds_v001")),
    ("ana", ("version", "register", "churn_model", "v2.csv", "--copy", "--parent", "nw_sales.ds_v001", "--summary", "more rows")),
    ("quentin", ("version", "validate", "nw_sales.ds_v002")),
    ("paula", ("version", "release", "nw_sales.ds_v002")),
    ("ana", ("version", "diff", "nw_sales.ds_v001", "nw_sales.ds_v002")),
    ("ana", ("version", "show", "nw_sales.ds_v002")),
    ("ana", ("version", "list", "--project", "churn_model")),
    ("ana", ("version", "release", "nw_sales.ds_v002")),  # permission denied (exit 3)
    ("ana", ("version", "show", "nw_sales.ds_v999")),  # not found (exit 2)
    ("oscar", ("alert", "open", "version:nw_sales.ds_v002", "--severity", "high", "--category", "quality_gate",
               "--title", "churn labels look off")),  # fmt: skip
    ("oscar", ("alert", "ack", "nw_sales.alert_001")),
    ("oscar", ("alert", "resolve", "nw_sales.alert_001", "--note", "rolled back")),
    ("oscar", ("alert", "list", "--project", "churn_model")),
    ("paula", ("rollback", "churn_model", "--to", "nw_sales.ds_v001", "--reason", "labels off", "--dry-run")),
    ("paula", ("rollback", "churn_model", "--to", "nw_sales.ds_v001", "--reason", "labels off")),
    ("paula", ("lineage", "impact", "version:nw_sales.ds_v001")),
    ("oscar", ("audit", "list", "--project", "churn_model", "--limit", "50")),
    ("oscar", ("audit", "verify",)),
    ("root", ("audit", "verify",)),
    ("zed", ("version", "show", "nw_sales.ds_v001")),  # another tenant: reads like a missing id
]
EXPECTED_CODES = {1: 4, 10: 3, 11: 2, 22: 2}  # story index -> exit code (everything else 0)

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?")
# Where the data was read from differs by nature: a path on this host, or the upload's copy there.
WHERE_KEYS = ("source_uri", "data_location", "details", "hash", "prev_hash", "source_pin")


def _normalise(text: str) -> str:
    """Timestamps out; in JSON, the keys that say where data was read from (or hash them) out."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if data is not None:
        text = json.dumps(_drop(data), indent=1, sort_keys=True)
    text = INSTANT.sub("<t>", text)
    return re.sub(r"\s+", " ", text).strip()


def _drop(value: object) -> object:
    if isinstance(value, dict):
        return {k: ("<where>" if k in WHERE_KEYS else _drop(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop(v) for v in value]
    return value


def _table_lines(text: str) -> str:
    """A human table without the rows that say where the data was read from (a path on this host,
    or the upload's file on the server: `version show` prints them; --json compares the rest)."""
    kept = [line for line in text.splitlines() if not any(f" {key} " in line for key in WHERE_KEYS)]
    return _normalise("\n".join(kept))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("northwind_data")
    write_records(sample_records(60, 1, source="crm", id_prefix="c"), where / "v1.jsonl")
    write_records(sample_records(90, 1, source="crm", id_prefix="c"), where / "v2.csv")
    return where


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server, dict[str, str]]]:
    """A local home and a served home, set up alike: Northwind applied, one token per user in both
    (so both audit logs hold the same records before the story)."""
    root = tmp_path_factory.mktemp("remote_story")
    local, served = root / "local", root / "served"
    tokens: dict[str, str] = {}
    for home in (local, served):
        made = init_home(home, NORTHWIND_SPEC, USERS)
        if home == served:
            tokens = made
    with serve(served) as server:
        yield local, server, tokens


def _run_story(homes: tuple[Path, Server, dict[str, str]], data_dir: Path, monkeypatch: pytest.MonkeyPatch, *,
               remote: bool, as_json: bool) -> list[tuple[int, str, str]]:  # fmt: skip
    local, server, tokens = homes
    monkeypatch.chdir(data_dir)  # `v1.jsonl` as typed: the same label in both modes
    out = []
    for user, args in STORY:
        if remote:
            result = cli_in(None, "--server", server.url, *args, as_json=as_json, env={"DATAOPS_TOKEN": tokens[user]})
        else:
            result = cli_in(local, *args, user=user, as_json=as_json)
        out.append((result.code, result.stdout, result.stderr))
    return out


@pytest.fixture(scope="module")
def both_runs(homes, data_dir, request) -> dict[str, list[tuple[int, str, str]]]:  # noqa: ANN001
    mp = pytest.MonkeyPatch()
    try:
        runs = {
            "local": _run_story(homes, data_dir, mp, remote=False, as_json=False),
            "remote": _run_story(homes, data_dir, mp, remote=True, as_json=False),
        }
    finally:
        mp.undo()
    return runs


def test_the_story_exits_alike_and_as_expected(both_runs) -> None:  # noqa: ANN001
    for i, ((user, args), local, remote) in enumerate(zip(STORY, both_runs["local"], both_runs["remote"], strict=True)):
        expected = EXPECTED_CODES.get(i, 0)
        assert local[0] == expected, (i, user, args, local)
        assert remote[0] == expected, (i, user, args, remote)


def test_the_story_prints_the_same_tables(both_runs) -> None:  # noqa: ANN001
    for (user, args), local, remote in zip(STORY, both_runs["local"], both_runs["remote"], strict=True):
        assert _table_lines(remote[1]) == _table_lines(local[1]), (user, args)
        assert _normalise(remote[2]) == _normalise(local[2]), (user, args)


def test_the_refusals_name_the_same_facts_remotely(both_runs) -> None:  # noqa: ANN001
    gate = both_runs["remote"][1][2]
    assert "nw_sales.ds_v001" in gate and "validated" in gate, gate
    denied = both_runs["remote"][10][2]
    assert "permission denied" in denied and "'ana'" in denied and "version.release" in denied, denied
    other_tenant = both_runs["remote"][22][2]
    missing = both_runs["remote"][11][2].replace("ds_v999", "ds_v001").replace("'ana'", "'zed'")
    assert other_tenant == missing, (other_tenant, missing)


def test_json_output_is_the_same_in_both_modes(homes, data_dir, tmp_path_factory) -> None:  # noqa: ANN001
    """Read-only commands with --json over the state the story left: identical data."""
    local, server, tokens = homes
    reads = [
        ("ana", ("version", "list")),
        ("ana", ("version", "show", "nw_sales.ds_v001")),
        ("ana", ("version", "diff", "nw_sales.ds_v001", "nw_sales.ds_v002")),
        ("oscar", ("alert", "list")),
        ("paula", ("lineage", "impact", "version:nw_sales.ds_v001")),
        ("paula", ("lineage", "export", "--project", "churn_model")),
        ("oscar", ("audit", "list", "--project", "churn_model", "--limit", "50")),
        ("oscar", ("audit", "verify")),
        ("ana", ("exception", "list")),
        ("ana", ("review", "list")),
        ("ana", ("experiment", "list")),
        ("root", ("token", "list")),
    ]
    for user, args in reads:
        here = cli_in(local, *args, user=user, as_json=True)
        there = cli_in(None, "--server", server.url, *args, as_json=True, env={"DATAOPS_TOKEN": tokens[user]})
        assert (here.code, there.code) == (0, 0), (args, here, there)
        assert _normalise(there.stdout) == _normalise(here.stdout), args


def test_as_is_refused_remotely_and_host_commands_name_the_fix(homes) -> None:  # noqa: ANN001
    _, server, tokens = homes
    env = {"DATAOPS_TOKEN": tokens["ana"]}
    acting = cli_in(None, "--server", server.url, "version", "list", user="root", env=env)
    assert acting.code == 2 and "--as 'root' is refused with --server" in acting.stderr, acting
    via_env = cli_in(None, "version", "list", user="root", env=env | {"DATAOPS_SERVER": server.url})
    assert via_env.code == 2 and "--as" in via_env.stderr, via_env
    for args in (("materialize",), ("init", "--admin", "x"), ("audit", "reanchor", "--reason", "x"), ("stack", "status")):
        host = cli_in(None, "--server", server.url, *args, env=env)
        assert host.code == 2 and "runs on the platform's host" in host.stderr, (args, host)


def test_a_bad_or_missing_token_is_refused_with_the_fix(homes, tmp_path) -> None:  # noqa: ANN001
    _, server, tokens = homes
    none = cli_in(None, "--server", server.url, "version", "list", env={"DATAOPS_CREDENTIALS": str(tmp_path / "none.json")})
    assert none.code == 2 and "no token for" in none.stderr and "dataops login" in none.stderr, none
    bad = cli_in(None, "--server", server.url, "version", "list", env={"DATAOPS_TOKEN": tokens["ana"][:-4] + "xxxx"})
    assert bad.code == 3, bad
    unreachable = cli_in(None, "--server", "http://127.0.0.1:9", "version", "list", env={"DATAOPS_TOKEN": tokens["ana"]})
    assert unreachable.code == 1 and "cannot reach the platform at http://127.0.0.1:9" in unreachable.stderr, unreachable
    for url in ("ftp://x", "http://user:pw@127.0.0.1:1", "not a url", "http://127.0.0.1:99999"):
        refused = cli_in(None, "--server", url, "version", "list", env={"DATAOPS_TOKEN": tokens["ana"]})
        assert refused.code == 2 and "--server" in refused.stderr, (url, refused)


def test_source_download_and_rollbacks_alike_in_both_modes(homes, tmp_path: Path) -> None:  # noqa: ANN001
    local, server, tokens = homes
    for user, args in (("ana", ("version", "source", "nw_sales.ds_v002")), ("ana", ("rollbacks", "churn_model"))):
        here = cli_in(local, *args, user=user, as_json=True)
        there = cli_in(None, "--server", server.url, *args, as_json=True, env={"DATAOPS_TOKEN": tokens[user]})
        assert (here.code, there.code) == (0, 0), (args, here, there)
        assert _normalise(there.stdout) == _normalise(here.stdout), args
    here = cli_in(local, "version", "download", "nw_sales.ds_v002", "--out", tmp_path / "here.csv", user="ana")
    there = cli_in(None, "--server", server.url, "version", "download", "nw_sales.ds_v002", "--out", tmp_path / "there.csv",
                   env={"DATAOPS_TOKEN": tokens["ana"]})  # fmt: skip
    assert (here.code, there.code) == (0, 0), (here, there)
    assert (tmp_path / "here.csv").read_bytes() == (tmp_path / "there.csv").read_bytes()  # the registered bytes, both ways
    denied = cli_in(None, "--server", server.url, "version", "download", "nw_sales.ds_v002", "--out", tmp_path / "z.csv",
                    env={"DATAOPS_TOKEN": tokens["zed"]})  # fmt: skip
    assert denied.code == 2 and not (tmp_path / "z.csv").exists() and not list(tmp_path.glob(".z.csv*")), denied
