"""`materialize_all(settings)` runs on the settings it is given, not on what the home alone would give.

A team embedding the platform builds `Settings` in code (their store elsewhere than the home's
default SQLite file). Every step of the run must open that store: before, the steps re-read the
settings from the home and the environment, so they materialised another (here: no) store.
"""

from __future__ import annotations

import json
from pathlib import Path

from dataops_platform.demo.materialize import materialize_all
from dataops_platform.settings import load_settings
from dataops_platform_tests.helpers import run_cli_inprocess
from dataops_platform_tests.org.test_minimal_organisation import ADMIN, MINIMAL_SPEC, ok


def test_a_store_given_in_code_is_the_one_materialised(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere" / "governance.db"
    elsewhere.parent.mkdir()
    url = f"sqlite:///{elsewhere}"
    spec_file = tmp_path / "org.yaml"
    spec_file.write_text(MINIMAL_SPEC)
    env = {"DATAOPS_DATABASE_URL": url}
    ok(run_cli_inprocess(home, "init", "--admin", ADMIN, as_json=True, env=env))
    ok(run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN, as_json=True, env=env))
    settings = load_settings(home, database_url=url)  # given in code: the environment of this process has no URL
    assert not (home / "governance.db").exists()

    outcome = materialize_all(settings, selection="group:platform_overview")

    assert outcome.success, outcome.failed_steps
    assert not (home / "governance.db").exists()  # no step opened (and created) the home's default store
    scope = json.loads((settings.artifacts_dir / "processed" / "platform_scope.json").read_text())
    assert [p["id"] for p in scope["projects"]] == [p["id"] for p in _spec_projects()]


def _spec_projects() -> list[dict]:
    import yaml

    return yaml.safe_load(MINIMAL_SPEC)["projects"]


def test_settings_given_in_code_never_reach_dagsters_storage(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Only a key travels in the resource's config: neither a value from the environment nor one
    given in code (a password in a database URL) is written into the run's job snapshot."""
    import zlib

    from dataops_platform.defs.resources import default_resources

    secret = "postgresql+psycopg://app:s3cret@127.0.0.1:1/db"
    monkeypatch.setenv("DATAOPS_DATABASE_URL", secret)
    from_env = default_resources(load_settings(tmp_path / "home"))["governance"]
    assert from_env.settings_key == "" and from_env.settings().database_url == secret  # read again from the environment
    monkeypatch.delenv("DATAOPS_DATABASE_URL")
    given = load_settings(tmp_path / "home", database_url=secret.replace("s3cret", "c0de-s3cret"))
    in_code = default_resources(given)["governance"]
    assert in_code.settings_key and "s3cret" not in repr(in_code.model_dump())
    assert in_code.settings() is given

    home, elsewhere = tmp_path / "h2", tmp_path / "c0de-s3cret" / "governance.db"  # the URL's own text is the marker
    elsewhere.parent.mkdir()
    url = f"sqlite:///{elsewhere}"
    spec_file = tmp_path / "org.yaml"
    spec_file.write_text(MINIMAL_SPEC)
    ok(run_cli_inprocess(home, "init", "--admin", ADMIN, as_json=True, env={"DATAOPS_DATABASE_URL": url}))
    ok(run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN, as_json=True, env={"DATAOPS_DATABASE_URL": url}))
    assert materialize_all(load_settings(home, database_url=url), selection="group:platform_overview").success
    stored = b""
    for path in (home / "dagster").rglob("*.db"):
        raw = path.read_bytes()
        stored += raw
        for start in range(len(raw)):  # the snapshots are zlib-compressed rows
            if raw[start : start + 2] in (b"x\x9c", b"x\x01", b"x\xda"):
                try:
                    stored += zlib.decompressobj().decompress(raw[start:])
                except zlib.error:
                    pass
    assert str(home).encode() in stored, "the resource's config is readable here (its home): a secret beside it would be too"
    assert b"c0de-s3cret" not in stored


def test_a_tracking_uri_with_a_password_is_not_resource_config(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from dataops_platform.defs.resources import default_resources
    from dataops_platform.tracking.client import Tracking

    uri = "postgresql+psycopg://mlflow:tr4ck-s3cret@127.0.0.1:1/mlflow"
    monkeypatch.setenv("DATAOPS_MLFLOW_TRACKING_URI", uri)
    for given in (tmp_path / "home", load_settings(tmp_path / "home", max_dataset_rows=7)):
        resource = default_resources(given)["mlflow"]
        assert "tr4ck-s3cret" not in repr(resource.model_dump())
        assert resource.tracking().tracking_uri == uri  # read when a step asks
    assert Tracking(uri).shown_uri == "postgresql+psycopg://mlflow:***@127.0.0.1:1/mlflow"
    assert Tracking("http://127.0.0.1:5000").shown_uri == "http://127.0.0.1:5000"
    assert Tracking("https://u:p@ss@host/x?y=1").shown_uri == "https://u:***@host/x?y=1"
