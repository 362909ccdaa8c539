"""REST registration by path takes `copy` like the CLI's --copy: nothing is copied by default, and
with `copy: true` the original bytes are kept content-addressed (their sha256 names the copy)."""

from __future__ import annotations

import hashlib

from dataops_platform.governance.platform import Platform
from dataops_platform_tests.api.conftest import inbox_file, live_server
from dataops_platform_tests.conftest import ADMIN

USER = "lena"  # data engineer in p02_legal_sft


def test_register_by_path_copies_only_when_asked(sqlite_platform: Platform) -> None:
    settings = sqlite_platform.settings
    with live_server(sqlite_platform, ADMIN) as live:
        plain = live.call("POST", "versions", USER, json={"project": "p02_legal_sft", "path": inbox_file(settings)})
        assert plain.status_code == 201, plain.text
        assert plain.json()["copy_location"] is None
        name = inbox_file(settings)
        kept = live.call("POST", "versions", USER, json={"project": "p02_legal_sft", "path": name, "copy": True})
        assert kept.status_code == 201, kept.text
        location = kept.json()["copy_location"]
        original = (settings.inbox_dir / "t02_legal" / name).read_bytes()
        assert location and hashlib.sha256(original).hexdigest() in location
        assert (settings.data_dir / location).read_bytes() == original
        refused = live.call("POST", "versions", USER, json={"project": "p02_legal_sft", "path": name, "copy": "often"})
        assert refused.status_code in (400, 422), refused.text
