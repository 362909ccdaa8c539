"""A spec may override what the code provides only where the code lets it (a queue's limit, a
panel's title), and the new fields refuse hostile input with exit 2 naming the field and the fix,
leaving the store as it was. The overrides reach the artifacts of a real Dagster materialisation
and the deployment's pool limits; the platform's own description passes rules 3 and 4.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from dataops_platform import self_description
from dataops_platform.artifacts.interfaces import ENTRY_POINT_GROUP, collect_interface_tables
from dataops_platform.demo.materialize import materialize_all
from dataops_platform.settings import load_settings
from dataops_platform.spec.loader import SpecInvalid, parse_spec
from dataops_platform.stack.config import spec_queue_limits
from dataops_platform_tests.helpers import run_cli_inprocess, store_digests
from dataops_platform_tests.org.test_minimal_organisation import ADMIN, MINIMAL_SPEC, ok

OVERRIDES = """\
task_queues:
  version_ops: {limit: 5}
ui_panels:
  alerts_and_sla: {title: On call}
"""


def _spec(extra: str) -> str:
    return MINIMAL_SPEC + extra


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(SpecInvalid) as err:
        parse_spec(text, "hostile.yaml")
    assert err.value.exit_code == 2
    return [(p.path, p.message) for p in err.value.problems]


def test_overrides_reach_the_artifacts_and_the_pool_limits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec_file = tmp_path / "overrides.yaml"
    spec_file.write_text(_spec(OVERRIDES))
    validated = ok(run_cli_inprocess(home, "spec", "validate", spec_file, as_json=True)).json
    assert validated["overrides"] == ["task_queues.version_ops.limit", "ui_panels.alerts_and_sla.title"]
    ok(run_cli_inprocess(home, "init", "--admin", ADMIN, as_json=True))
    ok(run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN, as_json=True))
    settings = load_settings(home)
    outcome = materialize_all(settings, selection="group:platform_overview")
    assert outcome.success and {c.name: c.passed for c in outcome.checks} == {
        "role_permission_model_complete": True, "architecture_layers_complete": True, "api_queue_ui_present": True,
    }  # fmt: skip
    processed = settings.artifacts_dir / "processed"
    queues = {q["id"]: q for q in json.loads((processed / "task_queues.json").read_text())["queues"]}
    assert (queues["version_ops"]["limit"], queues["version_ops"]["overridden"]) == (5, ["limit"])
    assert queues["version_ops"]["assets"] == ["dataset_versions", "rollback_events"]  # the pool the assets use
    assert (queues["spec_builds"]["limit"], queues["spec_builds"]["overridden"]) == (1, [])  # the code's default
    panels = {p["id"]: p for p in json.loads((settings.artifacts_dir / "console" / "ui_panels.json").read_text())["panels"]}
    assert (panels["alerts_and_sla"]["title"], panels["alerts_and_sla"]["assets"]) == ("On call", ["alerts", "sla_report"])
    assert panels["platform_overview"]["title"] == "Platform overview"
    # What the deployment's Dagster pools get (`spec apply`, `stack up`): the code's queues, the spec's limit.
    assert spec_queue_limits(settings) == {"spec_builds": 1, "version_ops": 5, "experiment_eval": 2, "ops_monitoring": 1}

    # Applying the spec without the overrides brings the code's defaults back.
    spec_file.write_text(MINIMAL_SPEC)
    changed = ok(run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN, as_json=True)).json["changed"]
    assert {"config:task_queues", "config:ui_panels"} <= set(changed)
    assert spec_queue_limits(settings)["version_ops"] == 2


def test_the_interfaces_provide_their_real_tables() -> None:
    """The catalog's resolution reads what the CLI and the REST app declare (pyproject entry points)."""
    tables = collect_interface_tables()
    assert tables.providers == ["cli", "rest"], f"entry point group {ENTRY_POINT_GROUP}"
    assert tables.commands["version release"] == "dataops_platform.cli.version_cmds:release"
    served = {f"{r['method']} {r['path']}" for r in tables.routes}
    for api in self_description.API_CATALOG:
        assert api.command in tables.commands, api
        assert api.route in served, api


# -- hostile input for the new fields ---------------------------------------------------------------
HOSTILE = {
    "name_empty": ("organisation: {name: ''}\n", "organisation.name", "at least 1 character"),
    "name_newline": ('organisation: {name: "Acme\\nInc"}\n', "organisation.name", "U+000A"),
    "name_bidi_override": ('organisation: {name: "Acme \\u202eevil"}\n', "organisation.name", "U+202E"),
    "name_zero_width": ('organisation: {name: "Ac\\u200bme"}\n', "organisation.name", "invisible or control character"),
    "name_padded": ("organisation: {name: ' Acme '}\n", "organisation.name", "starts or ends with blanks"),
    "name_huge": (f"organisation: {{name: {'A' * 5000}}}\n", "organisation.name", "at most 200 characters"),
    "name_a_number": ("organisation: {name: 42}\n", "organisation.name", "valid string"),
    "name_a_list": ("organisation: {name: [Acme]}\n", "organisation.name", "valid string"),
    "organisation_a_string": ("organisation: Acme\n", "organisation", "valid dictionary"),
    "organisation_unknown_key": ("organisation: {name: Acme, motto: hi}\n", "organisation.motto", "allowed: name, short_name"),
    "short_name_too_long": (f"organisation: {{name: Acme, short_name: {'S' * 41}}}\n", "organisation.short_name", "at most 40"),
    "unknown_queue": ("task_queues: {gpu_farm: {limit: 4}}\n", "task_queues.gpu_farm", "override one of them or remove the key"),
    "unknown_panel": ("ui_panels: {billing: {title: Money}}\n", "ui_panels.billing", "its panels are platform_overview"),
    "queue_limit_zero": ("task_queues: {version_ops: {limit: 0}}\n", "task_queues.version_ops.limit", "equal to 1"),
    "queue_limit_text": ("task_queues: {version_ops: {limit: many}}\n", "task_queues.version_ops.limit", "valid integer"),
    "queue_title_field": ("task_queues: {version_ops: {title: X}}\n", "task_queues.version_ops.title", "allowed: limit"),
    "panel_title_control": ('ui_panels: {alerts_and_sla: {title: "a\\u0007b"}}\n', "ui_panels.alerts_and_sla.title", "U+0007"),
    "queues_as_a_list": (
        "task_queues:\n  - {id: version_ops, limit: 2, description: x}\n", "task_queues", "mapping of overrides by queue id",
    ),
    "architecture_section": (
        "architecture:\n  - {id: x, name: X, packages: [dataops_platform.cli]}\n", "architecture",
        "come from the platform's code (dataops_platform/self_description.py)",
    ),
    "apis_section": ("apis: []\n", "apis", "remove this section"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_new_fields_are_refused_naming_field_and_fix(case: str) -> None:
    extra, path, fragment = HOSTILE[case]
    problems = _problems(_spec(extra))
    assert any(p == path and fragment in message for p, message in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    """A retired section does not hide the other problems of the file."""
    text = _spec("apis: []\ntask_queues: {gpu_farm: {limit: 4}}\norganisation: {name: ''}\n")
    paths = [p for p, _ in _problems(text)]
    assert paths[0] == "apis" and "organisation.name" in paths
    text = _spec("apis: []\ntask_queues: {gpu_farm: {limit: 4}}\n")
    assert [p for p, _ in _problems(text)] == ["apis", "task_queues.gpu_farm"]


def test_an_unknown_queue_exits_2_through_the_cli_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(run_cli_inprocess(home, "init", "--admin", ADMIN, as_json=True))
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL_SPEC)
    ok(run_cli_inprocess(home, "spec", "apply", good, user=ADMIN, as_json=True))
    before = store_digests(home)
    bad = tmp_path / "bad.yaml"
    bad.write_text(_spec("task_queues: {gpu_farm: {limit: 4}}\n"))
    for command in ("validate", "apply"):
        result = run_cli_inprocess(home, "spec", command, bad, user=ADMIN)
        assert result.code == 2, (result.stdout, result.stderr)
        text = " ".join(result.error_text.split())
        assert "task_queues.gpu_farm" in text and "the platform has no queue 'gpu_farm'" in text, text
        assert "spec_builds, version_ops, experiment_eval, ops_monitoring" in text and "remove the key" in text
    assert store_digests(home) == before


def test_a_stored_override_of_a_queue_the_code_dropped_fails_rule_4(tmp_path: Path) -> None:
    """The store can hold an override the code no longer has a queue for (the spec was applied, then
    the code changed): the artifact keeps it as a queue no asset uses, and rule 4 names it."""
    from dataops_platform.artifacts.files import Artifacts
    from dataops_platform.rules import RULES

    home = tmp_path / "home"
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(MINIMAL_SPEC)
    ok(run_cli_inprocess(home, "init", "--admin", ADMIN, as_json=True))
    ok(run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN, as_json=True))
    settings = load_settings(home)
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        conn.execute(
            "UPDATE platform_config SET value = ? WHERE key = 'task_queues'",
            (json.dumps({"overrides": {"gpu_farm": {"limit": 3}}}),),
        )
    assert materialize_all(settings, selection="group:platform_overview").success is False
    rule4 = next(r for r in RULES if r.name == "api_queue_ui_present")
    result = rule4.fn(Artifacts(settings.artifacts_dir))
    assert result.violations == ["queue gpu_farm is a pool no asset uses"], result.violations


def test_yaml_safe_dump_of_a_parsed_spec_round_trips() -> None:
    """What `spec validate` accepts, its own dump (defaults written out) accepts again unchanged."""
    spec = parse_spec(_spec(OVERRIDES + "organisation: {name: Acme}\n"))
    again = parse_spec(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    assert again == spec


def test_applying_drops_the_layers_and_catalog_an_older_spec_stored(tmp_path: Path) -> None:
    """A store that applied a spec with `architecture` and `apis` (before the code described itself)
    loses those documents on the next apply, reported as changed: nothing reads them any more."""
    home = tmp_path / "home"
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(MINIMAL_SPEC)
    ok(run_cli_inprocess(home, "init", "--admin", ADMIN, as_json=True))
    ok(run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN, as_json=True))
    with sqlite3.connect(load_settings(home).home_dir / "governance.db") as conn:
        for key in ("architecture", "apis"):
            conn.execute("INSERT INTO platform_config (key, value) VALUES (?, ?)", (key, json.dumps({"items": []})))
    changed = ok(run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN, as_json=True)).json["changed"]
    assert changed == [
        "config:architecture (removed: it comes from the platform's code now)",
        "config:apis (removed: it comes from the platform's code now)",
    ]
    with sqlite3.connect(load_settings(home).home_dir / "governance.db") as conn:
        assert conn.execute("SELECT key FROM platform_config WHERE key IN ('architecture', 'apis')").fetchall() == []
