"""Issue 12, finding 1 (the spec's side): every time in a spec is an aware UTC instant under the one
rule of `clock.as_utc` (an aware time is converted to UTC; a naive one *is* UTC), so a freeze
window with one naive and one aware bound compares instead of exiting 1, and the window the gate
reads back from the store is the same instant on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from dataops_platform.clock import FixedClock
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.gate import gate_blockers
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import governance_policy
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import Settings
from dataops_platform.spec.loader import SpecInvalid, parse_spec
from dataops_platform_tests.helpers import EXAMPLE_SPEC, run_cli_inprocess

ADMIN = "alice"
P01 = "p01_retail_search"


def spec_with_window(start: object, end: object) -> str:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    data["governance_policy"]["freeze_windows"] = [{"project": P01, "start": start, "end": end, "reason": "r"}]
    return yaml.safe_dump(data, sort_keys=False)


def window(text: str):  # noqa: ANN201
    return parse_spec(text).governance_policy.freeze_windows[0]


def test_finding1_freeze_window_with_naive_and_aware_bounds_compares() -> None:
    """start naive (UTC by the rule), end at +05:00: this exited 1 with "can't compare offset-naive
    and offset-aware datetimes"; now both are aware UTC and the window is checked."""
    fw = window(spec_with_window("2026-12-20T00:00:00", "2026-12-20T10:00:00+05:00"))
    assert fw.start == datetime(2026, 12, 20, 0, 0, tzinfo=UTC) and fw.start.utcoffset().total_seconds() == 0
    assert fw.end == datetime(2026, 12, 20, 5, 0, tzinfo=UTC) and fw.end.tzinfo is UTC
    # The same instants in the other order of naive and aware.
    fw = window(spec_with_window("2026-12-20T05:00:00+05:00", "2026-12-20T01:00:00"))
    assert (fw.start, fw.end) == (datetime(2026, 12, 20, 0, 0, tzinfo=UTC), datetime(2026, 12, 20, 1, 0, tzinfo=UTC))


def test_finding1_end_before_start_across_offsets_is_refused() -> None:
    # 09:00+05:00 is 04:00Z, before the naive (UTC) start of 06:00.
    with pytest.raises(SpecInvalid) as err:
        parse_spec(spec_with_window("2026-12-20T06:00:00", "2026-12-20T09:00:00+05:00"))
    (problem,) = err.value.problems
    assert problem.path == "governance_policy.freeze_windows[0].end" and problem.message == "must be after start"


def test_finding1_unquoted_yaml_timestamps_follow_the_same_rule() -> None:
    text = spec_with_window("START", "END")
    text = text.replace("start: START", "start: 2026-12-20 00:00:00").replace("end: END", "end: 2026-12-21T00:00:00-03:00")
    fw = window(text)
    assert (fw.start, fw.end) == (datetime(2026, 12, 20, tzinfo=UTC), datetime(2026, 12, 21, 3, 0, tzinfo=UTC))


def test_finding1_time_outside_the_representable_range_is_refused_not_a_crash() -> None:
    with pytest.raises(SpecInvalid) as err:
        parse_spec(spec_with_window("0001-01-01T00:00:00+05:00", "2026-12-21T00:00:00"))
    assert err.value.problems[0].path == "governance_policy.freeze_windows[0].start"
    assert "outside the representable range" in err.value.message


def test_finding1_cli_validates_a_mixed_window(tmp_path: Path) -> None:
    spec_file = tmp_path / "mixed.yaml"
    spec_file.write_text(spec_with_window("2026-12-20T00:00:00", "2026-12-20T10:00:00+05:00"))
    result = run_cli_inprocess(None, "spec", "validate", spec_file)
    assert result.code == 0, (result.stdout, result.stderr)
    bad = tmp_path / "backwards.yaml"
    bad.write_text(spec_with_window("2026-12-20T06:00:00", "2026-12-20T09:00:00+05:00"))
    result = run_cli_inprocess(None, "spec", "validate", bad)
    assert result.code == 2 and "freeze_windows[0].end" in result.error_text, (result.stdout, result.stderr)


@pytest.fixture
def fresh_platform(settings: Settings) -> Iterator[Platform]:
    platform = Platform(settings, FixedClock(datetime(2026, 12, 1, tzinfo=UTC)))
    initialize(platform, ADMIN)
    yield platform
    platform.close()


def test_finding1_applied_window_reads_back_as_the_same_instants(fresh_platform: Platform) -> None:
    text = spec_with_window("2026-12-20T00:00:00", "2026-12-20T10:00:00+05:00")
    apply_spec(fresh_platform, ADMIN, parse_spec(text), "mixed.yaml")
    with fresh_platform.store.read() as session:
        (stored,) = governance_policy(session).freeze_windows
    assert (stored.start, stored.end) == (datetime(2026, 12, 20, tzinfo=UTC), datetime(2026, 12, 20, 5, tzinfo=UTC))
    frozen = gate_blockers("v", P01, "validated", [], [], False, [stored], datetime(2026, 12, 20, 4, 59, tzinfo=UTC))
    thawed = gate_blockers("v", P01, "validated", [], [], False, [stored], datetime(2026, 12, 20, 5, 0, tzinfo=UTC))
    assert [c.split(":")[0] for c in frozen] == ["freeze_window"] and thawed == []
