"""S3 end to end on a real S3 HTTP server (moto on loopback): register, verify, change the object,
verify again -> drifted (and data_drift on a released version); bad S3 sources exit 2 naming the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance import alerts, versions
from dataops_platform.governance.platform import Platform
from dataops_platform_tests.services.steps import audit_count, last_audit

PROJECT = "p02_legal_sft"


def configure(platform: Platform, s3) -> None:  # noqa: ANN001
    for key, value in vars(s3.settings()).items():
        setattr(platform.settings, key, value)


def cli_env(s3, **extra: str) -> dict[str, str]:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"DATAOPS_S3_ENDPOINT_URL": s3.endpoint, "DATAOPS_S3_REGION": "us-east-1", "DATAOPS_SOURCE_TIMEOUT_SECONDS": "3"}
    env |= {"DATAOPS_S3_ACCESS_KEY_ID": "testing", "DATAOPS_S3_SECRET_ACCESS_KEY": "testing"}
    return env | extra


def cli(platform: Platform, env: dict[str, str], actor: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dataops_platform.cli.app", "--home", str(platform.settings.home_dir), "--as", actor, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )


def test_register_verify_change_verify_again(sqlite_platform: Platform, s3_server, tmp_path: Path) -> None:  # noqa: ANN001
    bucket = s3_server.bucket()
    local = write_records(sample_records(60, seed=51), tmp_path / "data.parquet")
    s3_server.client.put_object(Bucket=bucket, Key="legal/data.parquet", Body=local.read_bytes())
    env = cli_env(s3_server)
    registered = cli(sqlite_platform, env, "lena", "--json", "version", "register", PROJECT, f"s3://{bucket}/legal/data.parquet")
    assert registered.returncode == 0, registered.stderr
    version = json.loads(registered.stdout)
    assert version["source_kind"] == "s3" and version["copy_location"] is None
    pinned = version["source_pin"]["objects"][0]
    assert pinned["etag"] and pinned["version_id"]
    assert version["content_digest"] == versions.profile_file(
        __import__("dataops_platform.sources", fromlist=["open_source"]).open_source(str(local)), versions.ReadLimits.default()
    ).digest
    vid = version["version_id"]
    versions.validate_version(sqlite_platform, "quinn", vid)
    versions.release_version(sqlite_platform, "priya", vid)
    ok = cli(sqlite_platform, env, "quinn", "--json", "version", "verify", vid)
    assert ok.returncode == 0, ok.stderr
    changed = sample_records(60, seed=51)
    changed[0]["content_or_payload"] = "rewritten"
    s3_server.client.put_object(
        Bucket=bucket, Key="legal/data.parquet", Body=write_records(changed, tmp_path / "b.parquet").read_bytes()
    )
    drifted = cli(sqlite_platform, env, "quinn", "--json", "version", "verify", vid)
    assert drifted.returncode == 4, drifted.stderr
    report = json.loads(drifted.stdout)
    assert report["status"] == "drifted"
    assert any("ETag" in c and "VersionId" in c for c in report["pin_changes"])
    # The version still reads its pinned object version: a diff against itself changes nothing.
    configure(sqlite_platform, s3_server)
    same = versions.diff_versions(sqlite_platform, "lena", vid, vid)
    assert (same["rows_added"], same["rows_removed"], same["rows_changed"]) == (0, 0, 0)
    assert [a.category for a in alerts.list_alerts(sqlite_platform, "omar") if a.related_object == f"version:{vid}"] == [
        "data_drift"
    ]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_credentials", "no S3 credentials; set AWS_ACCESS_KEY_ID"),
        ("unreachable", "the S3 endpoint cannot be reached"),
        ("no_such_object", "no such bucket or object"),
        ("empty_prefix", "matches no JSONL, CSV or Parquet object"),
        ("bad_uri", "name an object or prefix"),
    ],
)
def test_bad_s3_sources_exit_2_naming_the_source_and_the_fix(
    sqlite_platform: Platform,
    s3_server,  # noqa: ANN001
    tmp_path: Path,
    case: str,
    expected: str,
) -> None:
    bucket = s3_server.bucket()
    env = cli_env(s3_server)
    uri = f"s3://{bucket}/nothing-here.parquet"
    if case == "missing_credentials":
        env = {k: v for k, v in env.items() if "ACCESS_KEY" not in k} | {"AWS_CONFIG_FILE": "/nonexistent"}
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    elif case == "unreachable":
        env["DATAOPS_S3_ENDPOINT_URL"] = "http://127.0.0.1:9"
    elif case == "empty_prefix":
        uri = f"s3://{bucket}/empty/"
    elif case == "bad_uri":
        uri = f"s3://{bucket}"
    before = audit_count(sqlite_platform)
    started = time.monotonic()
    result = cli(sqlite_platform, env, "lena", "version", "register", PROJECT, uri)
    assert time.monotonic() - started < 60
    message = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in message and bucket in message
    assert audit_count(sqlite_platform) == before + 1
    record = last_audit(sqlite_platform)
    assert (record.actor, record.action, record.outcome) == ("lena", "version.create", "failed")
