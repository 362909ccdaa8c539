"""Issue 12, finding 9 (the spec's side): which MLflow users are which platform users.

SPEC §9 counts a run only when its MLflow user maps to a platform user holding `experiment.log`
in the run's project, "by id, or a mapping in the spec". `users[].mlflow_users` is that mapping;
`spec apply` stores the explicit names as the platform config document `mlflow_users`
({mlflow user name: platform user id}); the identity mapping by id is implicit and never stored.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from dataops_platform.errors import InvalidInput
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import config_document
from dataops_platform.governance.spec_apply import MLFLOW_USERS_KEY, apply_spec
from dataops_platform.spec.loader import SpecInvalid, mlflow_user_map, parse_spec
from dataops_platform.spec.models import PlatformSpec
from dataops_platform_tests.helpers import EXAMPLE_SPEC, audit_after, head_seq, objects_snapshot

ADMIN = "alice"


def spec_with(mlflow_users: dict[str, list[str]], extra_users: tuple[dict[str, Any], ...] = ()) -> PlatformSpec:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    data["users"] += list(extra_users)
    for user in data["users"]:
        if user["id"] in mlflow_users:
            user["mlflow_users"] = mlflow_users[user["id"]]
    return parse_spec(yaml.safe_dump(data, sort_keys=False), "mlflow.yaml")


def stored_map(platform: Platform) -> dict[str, str] | None:
    with platform.store.read() as session:
        return config_document(session, MLFLOW_USERS_KEY)


def refused(mlflow_users: dict[str, list[str]]) -> list[tuple[str, Any, str]]:
    with pytest.raises(SpecInvalid) as err:
        spec_with(mlflow_users)
    return [(p.path, p.value, p.message) for p in err.value.problems]


def test_finding9_mlflow_users_stored_as_config_document(platform: Platform) -> None:
    assert stored_map(platform) == {}  # the example names no aliases: only the implicit id mapping
    spec = spec_with({"dan": ["dsmith", "svc-retail-train"], "lena": ["LAPTOP\\lena k"], "alice": ["alice"]})
    assert mlflow_user_map(spec) == {"dsmith": "dan", "svc-retail-train": "dan", "LAPTOP\\lena k": "lena"}
    report = apply_spec(platform, ADMIN, spec, "mlflow.yaml")
    assert report.changed == [f"config:{MLFLOW_USERS_KEY}"] and report.created == []
    assert stored_map(platform) == {"dsmith": "dan", "svc-retail-train": "dan", "LAPTOP\\lena k": "lena"}
    assert apply_spec(platform, ADMIN, spec, "mlflow.yaml").is_noop  # idempotent
    cleared = apply_spec(platform, ADMIN, spec_with({}), "none.yaml")
    assert cleared.changed == [f"config:{MLFLOW_USERS_KEY}"] and stored_map(platform) == {}


def test_finding9_mlflow_user_claimed_by_two_users_is_refused() -> None:
    problems = refused({"dan": ["shared-ci"], "lena": ["shared-ci"]})
    assert problems == [
        ("users[5].mlflow_users[0]", "shared-ci", "already claimed by user 'dan'; an MLflow user maps to one platform user")
    ]
    problems = refused({"dan": ["dsmith", "dsmith"]})
    assert [(p, v) for p, v, _ in problems] == [("users[4].mlflow_users[1]", "dsmith")] and "listed twice" in problems[0][2]


@pytest.mark.parametrize("name", ["lena", "dataops-system"])
def test_finding9_mlflow_user_that_is_another_actors_id_is_refused(name: str) -> None:
    """dan may not claim lena's runs (or the system actor's) by naming her id as his MLflow user."""
    ((path, value, message),) = refused({"dan": [name]})
    assert (path, value) == ("users[4].mlflow_users[0]", name) and f"platform actor {name!r}" in message


@pytest.mark.parametrize("name", ["", " dsmith", "dsmith ", "d\nsmith", "x" * 257, "d\x7fsmith"])
def test_finding9_malformed_mlflow_user_names_are_refused(name: str) -> None:
    problems = refused({"dan": ["ok", name]})
    assert [p for p, _, _ in problems] == ["users[4].mlflow_users[1]"]


def test_finding9_mlflow_user_that_is_a_stored_users_id_is_refused_at_apply(platform: Platform) -> None:
    """A user the store holds but this file does not declare (an earlier spec's) is checked at apply:
    refused, rolled back, audited."""
    apply_spec(platform, ADMIN, spec_with({}, ({"id": "zoe", "name": "Zoe"},)), "with-zoe.yaml")
    spec = spec_with({"dan": ["dsmith", "zoe"]})
    objects, before = objects_snapshot(platform), head_seq(platform)
    with pytest.raises(InvalidInput) as err:
        apply_spec(platform, ADMIN, spec, "claims-zoe.yaml")
    assert err.value.field == "users[4].mlflow_users[1]" and err.value.value == "zoe"
    assert "platform user 'zoe'" in err.value.message
    assert objects_snapshot(platform) == objects and stored_map(platform) == {}
    (record,) = audit_after(platform, before)
    assert (record.action, record.outcome) == ("spec.apply", "failed")
    assert json.loads(record.details)["field"] == "users[4].mlflow_users[1]"
