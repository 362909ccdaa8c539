"""Issue 12, finding 5: the one YAML loader of platform specs.

Every hostile text (an alias explosion, a structure that contains itself, deep nesting, huge
numbers, duplicate keys, non-finite numbers, text that is not UTF-8) is a `SpecInvalid` (exit 2,
HTTP 400) naming the problem, in milliseconds; none of them can validate and then fail to apply.
The command line is exercised on the same files through `dataops spec validate|apply`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from dataops_platform.errors import InvalidInput, TooLarge
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec import loader
from dataops_platform.spec.actions import DEFAULT_ROLES
from dataops_platform.spec.loader import MAX_SPEC_BYTES, SpecInvalid, SpecTooLarge, load_spec, parse_spec
from dataops_platform.spec.models import INT32_MAX
from dataops_platform.store.models import Tenant
from dataops_platform_tests.helpers import EXAMPLE_SPEC, run_cli, run_cli_inprocess, store_digests

ADMIN = "alice"
# The example spec with some of its defaults written out, so hostile values have a field to land in.
DEFAULTS_WRITTEN_OUT = """\
separation_of_duties:
  creator_cannot_release: true
  requester_cannot_approve: true

governance_policy:
  sla:
    critical: {acknowledge_minutes: 15, resolve_minutes: 60}
    high: {acknowledge_minutes: 30, resolve_minutes: 120}
    medium: {acknowledge_minutes: 120, resolve_minutes: 480}
    low: {acknowledge_minutes: 480, resolve_minutes: 2880}
  exceptions:
    max_days: 14
    waivable_rules: [experiment_status]
"""
EXAMPLE = EXAMPLE_SPEC.read_text().replace("governance_policy:\n", DEFAULTS_WRITTEN_OUT, 1)
SOD_LINE = EXAMPLE.split("\nseparation_of_duties:")[0].count("\n") + 2
ALICE_LINE = EXAMPLE.split("Alice Admin")[0].count("\n") + 1
FAST = 1.0  # seconds: every refusal here is far quicker; the margin is for a loaded CI machine

SOD_OFF = "separation_of_duties: {creator_cannot_release: false, requester_cannot_approve: false}\n"


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level is nine aliases of the one before (9**9 strings from ~400 bytes)."""
    names = "abcdefghijklmnop"[:levels]
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip(names, names[1:], strict=False):
        lines.append(f"{cur}: &{cur} [{','.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def deep(levels: int, key: str = "tenants") -> str:
    return f"{key}: " + "[" * levels + "]" * levels + "\n"


def example_with(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


QUOTA = "{max_projects: 3, max_dataset_versions: 50}"

# case -> (spec text, texts the message must contain). Each is refused by parse_spec, fast.
HOSTILE: dict[str, tuple[str, list[str]]] = {
    "duplicate_separation_of_duties": (EXAMPLE + SOD_OFF, ["separation_of_duties", "duplicate key", f"first at line {SOD_LINE}"]),
    "billion_laughs": (billion_laughs(), ["alias *", "aliases repeat more than"]),
    "billion_laughs_in_a_spec": (
        EXAMPLE + billion_laughs().replace("a: &a", "x_lol: &a", 1),
        ["aliases repeat more than"],
    ),
    "recursive_alias": ("tenants: &t [*t]\n", ["tenants[0]", "alias *t", "inside the value it names"]),
    "recursive_mapping": ("tenants: &t\n  - quota: *t\n", ["alias *t", "inside the value it names"]),
    "nesting_20000_deep": (deep(20_000), ["nested more than 50 levels deep"]),
    "nesting_60_deep": (deep(60), ["nested more than 50 levels deep"]),
    "nesting_block_and_flow": ("tenants:\n  - " + "{a: " * 60 + "1" + "}" * 60 + "\n", ["nested more than 50 levels deep"]),
    "integer_5000_digits": (f"version: {'9' * 5000}\n", ["version", "5000 digits", "64 bits"]),
    "integer_5000_digits_quoted_for_a_number": (
        example_with(f"quota: {QUOTA}", f"quota: {{max_projects: '{'9' * 5000}', max_dataset_versions: 50}}"),
        ["tenants[0].quota.max_projects", "(5002 characters)", "integer"],
    ),
    "quota_over_64_bits": (
        example_with(f"quota: {QUOTA}", "quota: {max_projects: 99999999999999999999, max_dataset_versions: 50}"),
        ["tenants[0].quota.max_projects", "'99999999999999999999'", "64-bit"],
    ),
    "quota_over_int32": (
        example_with(f"quota: {QUOTA}", f"quota: {{max_projects: {INT32_MAX + 1}, max_dataset_versions: 50}}"),
        ["tenants[0].quota.max_projects", f"= {INT32_MAX + 1}", "less than or equal to 2147483647"],
    ),
    "hex_integer_over_64_bits": (
        example_with(f"quota: {QUOTA}", "quota: {max_projects: 0xFFFFFFFFFFFFFFFFFF, max_dataset_versions: 50}"),
        ["tenants[0].quota.max_projects", "64-bit"],
    ),
    "nan_tolerance": (
        example_with("tolerance: 0.02", "tolerance: .nan"),
        ["governance_policy.regression.p01_retail_search.tolerance", "not finite"],
    ),
    "nan_tolerance_as_text": (
        example_with("tolerance: 0.02", "tolerance: 'NaN'"),
        ["governance_policy.regression.p01_retail_search.tolerance", "finite number"],
    ),
    "infinite_guard": (
        example_with("latency_ms: {max: 800}", "latency_ms: {max: .inf}"),
        ["governance_policy.regression.p01_retail_search.guards.latency_ms.max", "not finite"],
    ),
    "overflowing_float": (
        example_with("critical: {acknowledge_minutes: 15", "critical: {acknowledge_minutes: 1.0e+400"),
        ["governance_policy.sla.critical.acknowledge_minutes", "not finite"],
    ),
    "infinite_rate_as_text": (
        example_with("max_null_rate: 0.02", "max_null_rate: '-inf'"),
        ["governance_policy.quality_gate.max_null_rate", "finite number"],
    ),
    "sla_beyond_a_datetime": (
        example_with("critical: {acknowledge_minutes: 15", "critical: {acknowledge_minutes: 1.0e+300"),
        ["governance_policy.sla.critical.acknowledge_minutes", "less than or equal to 525600"],
    ),
    "exception_days_beyond_a_datetime": (
        example_with("max_days: 14", "max_days: 999999999"),
        ["governance_policy.exceptions.max_days", "less than or equal to 3650"],
    ),
    "nul_escape": (example_with("Alice Admin", '"Alice\\0Admin"'), ["users[0].name", "NUL"]),
    "nul_in_text": (EXAMPLE.replace("Alice Admin", "Alice\x00Admin"), [f"line {ALICE_LINE}", "NUL"]),
    "surrogate_in_text": (EXAMPLE.replace("Alice Admin", "Alice\udcffAdmin"), [f"line {ALICE_LINE}", "not valid UTF-8"]),
    "surrogate_escape": (example_with("Alice Admin", '"Alice\\ud800Admin"'), [f"line {ALICE_LINE}", "malformed YAML"]),
    "name_wider_than_its_column": (example_with("Alice Admin", "A" * 201), ["users[0].name", "at most 200 characters"]),
    "role_name_wider_than_its_column": (
        example_with("# roles: omitted", "roles: {" + "r" * 70 + ": {actions: [read]}}\n#"),
        ["roles." + "r" * 70, "should match pattern"],
    ),
    "merge_key": ("tenants:\n  - <<: {id: t1}\n    name: x\n", ["tenants[0]", "merge key"]),
    "python_tag": ("tenants: !!python/object/apply:os.system [echo]\n", ["tenants", "not allowed"]),
    "binary_tag": ("version: !!binary AAAA\n", ["version", "not allowed"]),
    "local_tag": ("version: !custom 1\n", ["version", "not allowed"]),
    "impossible_timestamp": (
        example_with('start: "2026-12-20T00:00:00+00:00"', "start: 0000-12-20T00:00:00+00:00"),
        ["governance_policy.freeze_windows[0].start", "not a valid timestamp"],
    ),
    "two_documents": (EXAMPLE + "---\nversion: 1\n", ["second YAML document"]),
    "list_as_key": ("? [a, b]\n: 1\n", ["keys must be plain text"]),
    "undefined_alias": ("tenants: *nowhere\n", ["alias *nowhere", "names no anchor"]),
    "anchor_defined_twice": ("a: &x 1\nb: &x 2\n", ["anchor &x", "defined twice"]),
    "too_many_values": ("tenants: [" + ",".join(["1"] * 100_001) + "]\n", ["more than 100000 values"]),
}


def refusal(text: str) -> tuple[SpecInvalid, float]:
    started = time.perf_counter()
    with pytest.raises(SpecInvalid) as err:
        parse_spec(text, "hostile.yaml")
    return err.value, time.perf_counter() - started


@pytest.mark.parametrize("case", list(HOSTILE))
def test_finding5_hostile_text_is_refused_fast_naming_the_problem(case: str) -> None:
    text, expected = HOSTILE[case]
    error, elapsed = refusal(text)
    assert elapsed < FAST, f"{case}: {elapsed:.3f}s"
    assert isinstance(error, InvalidInput) and error.exit_code == 2
    for fragment in expected:
        assert fragment in error.message, error.message
    assert len(error.message) < 20_000  # values are quoted short, problems are capped


def test_finding5_duplicate_key_refused() -> None:
    """The story of the issue: appending a second `separation_of_duties` that switches both rules
    off validated (the last key won), applied, and a user released his own version."""
    error, _ = refusal(EXAMPLE + SOD_OFF)
    (problem,) = error.problems
    line = EXAMPLE.count("\n") + 1
    assert problem.path == "separation_of_duties"
    first = f"first at line {SOD_LINE}, column 1"
    assert f"duplicate key 'separation_of_duties' at line {line}, column 1 ({first})" in problem.message
    assert yaml.safe_load(EXAMPLE + SOD_OFF)["separation_of_duties"]["creator_cannot_release"] is False  # what PyYAML did


def test_finding5_duplicate_keys_are_all_named_with_their_paths() -> None:
    text = example_with(
        "critical: {acknowledge_minutes: 15, resolve_minutes: 60}",
        "critical: {acknowledge_minutes: 15, resolve_minutes: 60, acknowledge_minutes: 999}",
    ).replace("  - {id: dan, name: Dan (retail data engineer)}", "  - {id: dan, name: Dan, name: Mallory}")
    error, _ = refusal(text)
    paths = [p.path for p in error.problems]
    assert paths == ["users[4].name", "governance_policy.sla.critical.acknowledge_minutes"], error.message


def test_finding5_billion_laughs_refused_fast() -> None:
    text = billion_laughs()
    assert len(text.encode()) < 450  # the 412-byte file of the issue, give or take
    error, elapsed = refusal(text)
    assert elapsed < 0.1, elapsed
    assert "aliases repeat more than 10000 values" in error.message


def test_finding5_recursive_alias_refused() -> None:
    error, elapsed = refusal("tenants: &t [*t]\n")
    assert elapsed < 0.1
    assert error.problems[0].path == "tenants[0]" and "cannot contain itself" in error.problems[0].message


def test_finding5_deep_nesting_never_reaches_the_recursion_limit() -> None:
    for levels in (51, 1_000, 20_000, 200_000):
        error, elapsed = refusal(deep(levels))
        assert elapsed < FAST and "nested more than 50 levels deep" in error.message, (levels, error.message)
    # 50 levels is the bound, not an error: the spec is refused for its shape, not its depth.
    error, _ = refusal(deep(49))
    assert "nested" not in error.message and "tenants[0]" in error.message


def test_finding5_huge_integer_refused() -> None:
    error, _ = refusal(f"version: {'9' * 5000}\n")
    assert error.problems[0].path == "version"
    assert "5000 digits" in error.problems[0].message
    assert len(str(error.problems[0].value)) < 20


def test_finding5_quota_out_of_range_refused_at_validate(tmp_path: Path) -> None:
    """99999999999999999999 validated, then failed `spec apply` with exit 1: now both commands exit 2."""
    spec_file = tmp_path / "quota.yaml"
    spec_file.write_text(HOSTILE["quota_over_64_bits"][0])
    home = tmp_path / "home"
    assert run_cli_inprocess(home, "init", "--admin", ADMIN).code == 0
    assert run_cli_inprocess(home, "spec", "apply", EXAMPLE_SPEC, user=ADMIN).code == 0
    before = store_digests(home)
    for command in ("validate", "apply"):
        result = run_cli_inprocess(home, "spec", command, spec_file, user=ADMIN)
        assert result.code == 2, (command, result.stdout, result.stderr)
        assert "tenants[0].quota.max_projects" in result.error_text and "99999999999999999999" in result.error_text
        assert "Traceback" not in result.stderr
    assert store_digests(home) == before


@pytest.fixture
def fresh_platform(settings: Settings) -> Iterator[Platform]:
    platform = Platform(settings)
    initialize(platform, ADMIN)
    yield platform
    platform.close()


def test_finding5_the_largest_values_a_spec_accepts_apply(fresh_platform: Platform) -> None:
    """What validates also applies, on SQLite and PostgreSQL: the bounds are the store's columns."""
    data = yaml.safe_load(EXAMPLE)
    data["tenants"][0].update(name="R" * 200, quota={"max_projects": INT32_MAX, "max_dataset_versions": INT32_MAX})
    data["users"][0]["name"] = "A" * 200
    data["projects"][0].update(name="P" * 200, domain="d" * 200)
    data["roles"] = {name: {"actions": list(actions)} for name, actions in DEFAULT_ROLES.items()}
    data["roles"]["r" * 64] = {"description": "x" * 400, "actions": ["read"]}
    policy = data["governance_policy"]
    policy["quality_gate"]["min_rows"] = INT32_MAX
    policy["exceptions"]["max_days"] = 3650
    policy["sla"]["critical"] = {"acknowledge_minutes": 525600, "resolve_minutes": 525600}
    data["task_queues"] = {"spec_builds": {"limit": INT32_MAX}}
    data["organisation"] = {"name": "O" * 200, "short_name": "o" * 40}
    spec = parse_spec(yaml.safe_dump(data), "largest.yaml")
    apply_spec(fresh_platform, ADMIN, spec, "largest.yaml")
    with fresh_platform.store.read() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.id == "t01_retail")).one()
        assert (tenant.max_projects, tenant.max_dataset_versions, tenant.name) == (INT32_MAX, INT32_MAX, "R" * 200)


def test_finding5_aliases_that_safe_dump_writes_still_load() -> None:
    """`yaml.safe_dump` writes an anchor for any object that appears twice; such files stay valid
    and read exactly like their alias-free text."""
    data = yaml.safe_load(EXAMPLE)
    rule = data["governance_policy"]["regression"]["p01_retail_search"]
    for project in ("p02_legal_sft", "p03_clinical_qa"):
        data["governance_policy"]["regression"][project] = rule
    with_aliases = yaml.safe_dump(data, sort_keys=False)
    assert "&id001" in with_aliases and "*id001" in with_aliases
    without = yaml.dump(data, sort_keys=False, Dumper=_NoAliasDumper)
    assert parse_spec(with_aliases) == parse_spec(without)


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def test_finding5_too_large_text_is_refused_before_parsing(tmp_path: Path) -> None:
    text = EXAMPLE + "#" * (MAX_SPEC_BYTES - len(EXAMPLE.encode()) + 1)
    error, elapsed = refusal(text)
    assert isinstance(error, SpecTooLarge) and isinstance(error, TooLarge)  # HTTP 413
    assert elapsed < 0.1 and "at most 1048576 bytes" in error.message
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:  # 64 MiB, sparse: load_spec reads no more than the limit
        handle.truncate(64 << 20)
    with pytest.raises(SpecTooLarge):
        load_spec(big)
    assert parse_spec(EXAMPLE + "#" * (MAX_SPEC_BYTES - len(EXAMPLE.encode()) - 1)) == parse_spec(EXAMPLE)


def test_finding5_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    spec_file = tmp_path / "latin1.yaml"
    spec_file.write_bytes(EXAMPLE.encode().replace(b"Alice Admin", b"Alice Adm\xefn"))
    with pytest.raises(SpecInvalid) as err:
        load_spec(spec_file)
    assert err.value.problems[0].path == f"line {ALICE_LINE}, column 32" and "not UTF-8" in err.value.message
    with pytest.raises(InvalidInput) as dir_err:
        load_spec(tmp_path)  # a directory: exit 2 naming it, never exit 1
    assert str(tmp_path) in dir_err.value.message


def test_finding5_pure_python_parser_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml the loader falls back to PyYAML's own parser: same data, same refusals."""
    fast = {case: sorted(p.path for p in refusal(text)[0].problems) for case, (text, _) in HOSTILE.items()}
    example = parse_spec(EXAMPLE)
    monkeypatch.setattr(loader, "_Parser", yaml.SafeLoader)
    assert parse_spec(EXAMPLE) == example
    for case, (text, _) in HOSTILE.items():
        error, elapsed = refusal(text)
        assert elapsed < 5 * FAST, (case, elapsed)
        if case in ("surrogate_escape",):  # PyYAML's parser accepts the escape; the text rule refuses it
            assert "users[0].name" in error.message and "not valid UTF-8" in error.message
            continue
        if case in ("nesting_20000_deep",):  # libyaml stops at its own limit; ours is met first here
            assert "nested more than 50 levels deep" in error.message
            continue
        assert sorted(p.path for p in error.problems) == fast[case], (case, error.message)


# ---------------------------------------------------------------------------------------------
# Through the command line
# ---------------------------------------------------------------------------------------------
CLI_CASES = [
    "duplicate_separation_of_duties",
    "billion_laughs",
    "recursive_alias",
    "nesting_20000_deep",
    "integer_5000_digits",
    "quota_over_64_bits",
    "nan_tolerance",
    "nul_escape",
]


@pytest.fixture(scope="module")
def applied_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hostile") / "home"
    platform = Platform(load_settings(home))
    initialize(platform, ADMIN)
    apply_spec(platform, ADMIN, load_spec(EXAMPLE_SPEC), str(EXAMPLE_SPEC))
    platform.close()
    return home


@pytest.mark.parametrize("case", CLI_CASES)
def test_finding5_cli_refuses_each_hostile_file_with_exit_2(applied_home: Path, tmp_path: Path, case: str) -> None:
    text, expected = HOSTILE[case]
    spec_file = tmp_path / f"{case}.yaml"
    spec_file.write_text(text)
    home = Path(shutil.copytree(applied_home, tmp_path / "home"))
    before = store_digests(home)
    for command in ("validate", "apply"):
        started = time.perf_counter()
        result = run_cli_inprocess(home, "spec", command, spec_file, user=ADMIN)
        elapsed = time.perf_counter() - started
        assert result.code == 2, (command, result.stdout, result.stderr)
        assert elapsed < 3, elapsed
        assert str(spec_file) in result.error_text
        for fragment in expected:
            assert " ".join(fragment.split()) in result.error_text, result.error_text
        assert "Traceback" not in result.stderr
    assert store_digests(home) == before


def test_finding5_cli_child_process_refuses_hostile_files_quickly(tmp_path: Path) -> None:
    """The real entry point, interpreter start-up included, on the two files that took 98 s and 7.4 GB."""
    for case in ("billion_laughs", "nesting_20000_deep"):
        spec_file = tmp_path / f"{case}.yaml"
        spec_file.write_text(HOSTILE[case][0])
        started = time.perf_counter()
        result = run_cli(tmp_path / "home", "spec", "validate", spec_file, timeout=30)
        elapsed = time.perf_counter() - started
        assert result.code == 2, (result.stdout, result.stderr)
        assert HOSTILE[case][1][-1] in result.error_text
        assert elapsed < 10, elapsed
