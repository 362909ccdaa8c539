"""Issue 12, finding 5: fuzzing the spec loader.

For any text at all, `parse_spec` returns a spec or raises `SpecInvalid`: never another exception
(which the CLI turns into exit 1 and the REST API into 500), never slowly (hypothesis `deadline`)
and never with much memory (the hostile cases run in a child process whose address space is
capped at 200 MB). Both parsers are fuzzed: libyaml's and PyYAML's pure-Python fallback.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dataops_platform.errors import InvalidInput
from dataops_platform.spec import loader
from dataops_platform.spec.loader import SpecInvalid, load_spec, parse_spec
from dataops_platform.spec.models import PlatformSpec
from dataops_platform_tests.helpers import EXAMPLE_SPEC, REPO

EXAMPLE = EXAMPLE_SPEC.read_text()
PARSERS = {"libyaml": loader._Parser, "python": yaml.SafeLoader}
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=1),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@contextlib.contextmanager
def parser(name: str) -> Iterator[None]:
    saved = loader._Parser
    loader._Parser = PARSERS[name]
    try:
        yield
    finally:
        loader._Parser = saved


def outcome(text: str) -> PlatformSpec | SpecInvalid:
    """parse_spec's answer; any exception but SpecInvalid fails the test (hypothesis shrinks it)."""
    try:
        return parse_spec(text, "fuzz.yaml")
    except SpecInvalid as exc:
        assert exc.problems and exc.exit_code == 2
        json.dumps(exc.facts, default=str, allow_nan=False)  # the REST problem body can always be written
        str(exc).encode("utf-8")  # and the CLI can always print it
        return exc


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------
YAML_PUNCTUATION = list("[]{}:,-&*!|>'\"#%@`?~=<.+\\\n\t ") + ["\x00", "\ud800", "\udcff", "\x85", "\ufeff", "\u2028"]
yamlish_text = st.text(
    alphabet=st.sampled_from(YAML_PUNCTUATION) | st.sampled_from(list("ab01xyz9eE_")) | st.characters(codec="utf-8"),
    max_size=300,
)
SNIPPETS = ["&a ", "*a", "<<: ", "!!python/object ", "!!binary ", "[[[[[[", "{a: ", "- ", ": ", "\t", "'", '"\\0"', '"\\ud800"',
            "9" * 40, ".nan", ".inf", "0x" + "F" * 30, "1:2:3", "---\n", "...\n", "? ", "%YAML 1.1\n", "!t ", "\n  ",
            "separation_of_duties: {}\n", "0000-01-01"]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.datetimes(timezones=st.none() | st.timezones())
)
structures = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=5),
    max_leaves=40,
)


def nest(levels: int, leaf: Any) -> Any:
    for i in range(levels):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PARSERS))
@FUZZ
@given(text=yamlish_text)
@example(text="tenants: &t [*t]")
@example(text="a: !!bool maybe")
@example(text='a: "\\U7FFFFFFF"')
@example(text="a: 0x_")
@example(text="? [a]\n: 1")
@example(text="[" * 2000)
def test_finding5_fuzz_yamlish_text(name: str, text: str) -> None:
    with parser(name):
        outcome(text)


@pytest.mark.parametrize("name", list(PARSERS))
@settings(FUZZ, max_examples=50)
@given(data=structures, where=st.sampled_from(["tenants", "governance_policy", "users", "roles", "extra"]))
def test_finding5_fuzz_random_structures_dumped_to_yaml(name: str, data: Any, where: str) -> None:
    spec = yaml.safe_load(EXAMPLE)
    spec[where] = data
    for text in (yaml.safe_dump(spec), yaml.safe_dump(data), yaml.safe_dump(spec, default_flow_style=True, allow_unicode=True)):
        with parser(name):
            outcome(text)


@pytest.mark.parametrize("name", list(PARSERS))
@FUZZ
@given(position=st.integers(0, len(EXAMPLE)), snippet=st.sampled_from(SNIPPETS) | yamlish_text, cut=st.integers(0, 40))
def test_finding5_fuzz_mutated_example(name: str, position: int, snippet: str, cut: int) -> None:
    text = EXAMPLE[:position] + snippet + EXAMPLE[position + cut :]
    with parser(name):
        result = outcome(text)
    if snippet.strip() == "" and cut == 0 and isinstance(result, SpecInvalid):
        assert all(p.path for p in result.problems)


@FUZZ
@given(data=st.binary(max_size=400), prefix=st.sampled_from([b"", EXAMPLE.encode()[:500], b"\xef\xbb\xbf"]))
def test_finding5_fuzz_random_bytes_through_load_spec(data: bytes, prefix: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(prefix + data)
        try:
            load_spec(path)
        except InvalidInput as exc:
            assert isinstance(exc, SpecInvalid), exc
    outcome(data.decode("utf-8", "surrogateescape"))


@FUZZ
@given(levels=st.integers(45, 400), leaf=scalars)
def test_finding5_fuzz_deep_structures(levels: int, leaf: Any) -> None:
    result = outcome(yaml.safe_dump({"tenants": nest(levels, leaf)}, default_flow_style=bool(levels % 2)))
    assert isinstance(result, SpecInvalid)
    if levels > 50:
        assert "nested more than 50 levels deep" in result.message


def test_finding5_random_alias_graphs_never_explode() -> None:
    """Random documents where every anchor aliases earlier ones several times: the expansion
    grows exponentially, so the alias budget refuses them, always quickly."""
    rng = random.Random(12)
    for _ in range(200):
        lines = ["x0: &x0 [lol, lol]"]
        for i in range(1, rng.randint(2, 25)):
            refs = ", ".join(f"*x{rng.randrange(i)}" for _ in range(rng.randint(1, 12)))
            lines.append(f"x{i}: &x{i} [{refs}]")
        result = outcome("\n".join(lines))
        assert isinstance(result, SpecInvalid)


# ---------------------------------------------------------------------------------------------
# Bounded memory: the hostile files in a child process capped at 200 MB of address space
# ---------------------------------------------------------------------------------------------
CHILD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20))
from dataops_platform.spec.loader import SpecInvalid, parse_spec
from dataops_platform_tests.spec.test_spec_yaml_loader import HOSTILE, billion_laughs

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])

cases = dict(HOSTILE)
cases["billion_laughs_16_levels"] = (billion_laughs(16), [])
cases["nesting_200000_deep"] = ("tenants: " + "[" * 200_000 + "]" * 200_000, [])
cases["wide_and_deep_aliases"] = ("a: &a [" + ",".join(["x" * 1000] * 500) + "]\n" + "b: [" + ",".join(["*a"] * 5000) + "]\n", [])
out = {}
for name, (text, _) in cases.items():
    started = time.perf_counter()
    try:
        parse_spec(text)
        out[name] = ["accepted", 0]
    except SpecInvalid:
        out[name] = ["refused", time.perf_counter() - started]
    except BaseException as exc:
        out[name] = [f"{type(exc).__name__}: {exc}"[:200], time.perf_counter() - started]
print(json.dumps({"cases": out, "peak_kb": peak_kb()}))
"""


def test_finding5_hostile_files_stay_under_200_mb() -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (verdict, seconds) in report["cases"].items():
        assert verdict == "refused", (name, verdict)
        assert seconds < 1.0, (name, seconds)
    assert report["peak_kb"] < 200 * 1024, report["peak_kb"]
