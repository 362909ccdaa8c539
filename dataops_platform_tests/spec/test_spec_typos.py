"""A mistyped key gets the fix, not only "Extra inputs are not permitted" (a newcomer's trial:
`organization:` and a project's `domian:` gave no hint, and `domian` also produced a second,
confusing "domain: Field required")."""

from __future__ import annotations

import pytest

from dataops_platform.spec.loader import SpecInvalid, parse_spec

BASE = """version: 1
{org}
tenants:
  - {{id: fl_cargo, name: Cargo, quota: {{max_projects: 2, max_dataset_versions: 20}}}}
users:
  - {{id: ingrid, name: Ingrid}}
projects:
  - id: cg_eta
    tenant: fl_cargo
    name: ETA
    {domain}: logistics
    owner: ingrid
    members: {{ingrid: admin}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecInvalid) as bad:
        parse_spec(text)
    return [str(p) for p in bad.value.problems]


def test_a_typo_names_the_key_it_meant_and_folds_the_missing_field() -> None:
    found = problems(BASE.format(org="organization: {name: Fjordline}", domain="domian"))
    assert sorted(found) == [
        "organization = {'name': 'Fjordline'}: unknown key `organization`; did you mean `organisation`?",
        "projects[0].domian = 'logistics': unknown key `domian`; did you mean `domain`?",
    ]  # and no "projects[0].domain (missing)": the typo explains it


def test_an_unknown_key_with_no_near_match_lists_what_is_allowed() -> None:
    found = problems(BASE.format(org="", domain="domain").replace("    owner: ingrid\n", "    owner: ingrid\n    colour: blue\n"))
    assert len(found) == 1 and found[0].startswith("projects[0].colour = 'blue': unknown key `colour`; allowed: ")
    assert "domain" in found[0] and "members" in found[0]


def test_the_corrected_spec_parses() -> None:
    spec = parse_spec(BASE.format(org="organisation: {name: Fjordline}", domain="domain"))
    assert spec.projects[0].domain == "logistics" and spec.organisation.name == "Fjordline"
