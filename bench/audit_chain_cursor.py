"""Rule 11's hash-chain walk: from seq 1 every time (a plain mapping) versus the verified-prefix
cursor (an `Artifacts` root, rules/chain_cursor.py), on a synthetic audit_log artifact.

The chain is built record by record with the real hashing (`governance.audit.canonical_details`,
`governance.chain.canonical_payload` + sha256, as `audit.append` does it) and written with the real
`write_artifact`, into a temporary artifacts root (deleted afterwards). Then, every figure measured
in this run, wall clock:

  parse         reading the artifact through the PARSED cache (what every evaluation pays first)
  full walk     `chain_problems(records, anchor)` from seq 1
  first cursor  the first evaluation on an `Artifacts` root: no state yet, a full walk plus the state
  append        --append more records are appended, the artifact rewritten (as a refresh does)
  cursor walk   `chain_problems` through the cursor: hash the prefix, walk only the appended records
  allowed set   rule 11's `allowed` set over every record, the old way and the way it is built now
  rule 11       `audit_trail_intact` on a plain mapping (full) and on the `Artifacts` root (cursor): in
                the next process (the file hashed once) and again in that process (not hashed again)

    python bench/audit_chain_cursor.py                      # 1,000,000 records (~2-3 minutes, ~3 GB)
    python bench/audit_chain_cursor.py --records 300000
    python bench/audit_chain_cursor.py --quick              # 20,000 records, a smoke run

Exit status 0 when every verdict agreed (cursor = full walk, both clean, a tamper caught both ways), 2 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dataops_platform.artifacts.files import ARTIFACT_FILES, PARSED, Artifacts, write_artifact  # noqa: E402
from dataops_platform.governance.audit import canonical_details  # noqa: E402
from dataops_platform.governance.chain import GENESIS_HASH, canonical_payload  # noqa: E402
from dataops_platform.rules import checks  # noqa: E402
from dataops_platform.rules.chain_cursor import STATE_FILE, _scan, open_cursor  # noqa: E402

ACTIONS = ("version.create", "experiment.log", "alert.open", "version.validate", "version.release", "alert.acknowledge")
ACTORS = (("lena", "data_engineer"), ("quinn", "qa"), ("omar", "ops"), ("pat", "platform_pm"))
PROJECTS = (("t01_retail", "p01_retail_search"), ("t02_legal", "p02_legal_sft"), ("t01_retail", "p03_retail_rank"))


def chain(start_seq: int, count: int, prev: str) -> list[dict[str, Any]]:
    """`count` records after `prev`, hashed exactly as `audit.append` hashes them."""
    out, sha256 = [], hashlib.sha256
    for seq in range(start_seq, start_seq + count):
        actor, role = ACTORS[seq % len(ACTORS)]
        tenant, project = PROJECTS[seq % len(PROJECTS)]
        action = ACTIONS[seq % len(ACTIONS)]
        at = f"2026-11-{2 + seq // 86_400:02d}T{seq // 3600 % 24:02d}:{seq // 60 % 60:02d}:{seq % 60:02d}.000000+00:00"
        ref = f"{action.partition('.')[0]}:{tenant}.obj_{seq:07d}"
        outcome = "denied" if seq % 50 == 0 else "allowed"
        details = canonical_details({"note": f"synthetic {seq}", "size": seq * 7 % 1000})
        digest = sha256(canonical_payload(seq, at, actor, role, tenant, project, action, ref, outcome, details, prev)).hexdigest()
        out.append({
            "seq": seq, "at": at, "actor": actor, "role": role, "tenant": tenant, "project": project, "action": action,
            "object_ref": ref, "outcome": outcome, "details": details, "prev_hash": prev, "hash": digest,
        })  # fmt: skip
        prev = digest
    return out


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def allowed_old(records: list[dict]) -> set:
    return {(r["action"], r["object_ref"]) for r in records if r["outcome"] == "allowed"}


def allowed_now(records: list[dict]) -> Any:
    return checks.allowed_audited(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records: a smoke run")
    args = parser.parse_args()
    n = 20_000 if args.quick else args.records
    ok = True
    root = Path(tempfile.mkdtemp(prefix="audit_chain_cursor_"))
    try:
        print(f"building a {n:,}-record chain with the real hashing ...", flush=True)
        seconds, records = timed(chain, 1, n, GENESIS_HASH)
        print(f"  built in {seconds:.1f} s")
        anchor = {"seq": n, "hash": records[-1]["hash"]}
        write_artifact(root, "audit_anchor", anchor)
        seconds, _ = timed(write_artifact, root, "audit_log", records)
        size = (root / ARTIFACT_FILES["audit_log"]).stat().st_size
        print(f"  audit_log written in {seconds:.1f} s: {size / 1e6:,.0f} MB, {size / n:.0f} bytes a record")
        tail = chain(n + 1, args.append, records[-1]["hash"])
        del records
        PARSED.clear()

        parse_s, records = timed(Artifacts(root).__getitem__, "audit_log")
        full_s, full = timed(checks.chain_problems, records, anchor)
        first_s, first = _cursor_walk(root, records, anchor)
        state_written = (root / STATE_FILE).exists()
        ok &= full == first == [] and state_written
        print(f"parse {parse_s:.2f} s | full walk {full_s:.2f} s | first cursor evaluation {first_s:.2f} s "
              f"(state written: {state_written})")  # fmt: skip

        appended = records + tail
        anchor = {"seq": n + args.append, "hash": appended[-1]["hash"]}
        write_artifact(root, "audit_anchor", anchor)
        write_artifact(root, "audit_log", appended)
        del records, appended
        PARSED.clear()
        parse2_s, records = timed(Artifacts(root).__getitem__, "audit_log")
        full2_s, full2 = timed(checks.chain_problems, records, anchor)
        cursor_s, cursor = _cursor_walk(root, records, anchor)
        again_s, again = _cursor_walk(root, records, anchor)
        ok &= full2 == cursor == again == []
        print(f"after appending {args.append:,}: parse {parse2_s:.2f} s | full walk {full2_s:.2f} s | "
              f"cursor walk {cursor_s:.3f} s | unchanged file again {again_s:.3f} s")  # fmt: skip
        hash_s, _ = timed(_scan, root / ARTIFACT_FILES["audit_log"], size)
        print(f"ratio full walk / cursor walk: {full2_s / cursor_s:.1f}x "
              f"(of the cursor walk, hashing the {size / 1e6:,.0f} MB prefix alone: {hash_s:.3f} s)")  # fmt: skip

        old_s, old = timed(allowed_old, records)
        now_s, now = timed(allowed_now, records)
        print(f"allowed set over {len(records):,} records: old {old_s:.2f} s, now {now_s:.2f} s ({old_s / now_s:.1f}x)")
        del old, now

        plain_s, plain = timed(checks.audit_trail_intact, {"audit_log": records, "audit_anchor": anchor, "dataset_versions": []})
        ok &= plain.passed
        timings = []
        for fresh in (True, False):
            if fresh:  # the next process: it knows the state file only (parsing is not timed)
                del records
                PARSED.clear()
            arts = Artifacts(root)
            arts["dataset_versions"] = []
            records = arts["audit_log"]
            arts["audit_anchor"]
            rule_s, ruled = timed(checks.audit_trail_intact, arts)
            ok &= ruled.as_dict() == plain.as_dict()
            timings.append(rule_s)
        print(f"rule 11 (audit_trail_intact, no appended records): plain mapping {plain_s:.2f} s | Artifacts root, "
              f"next process {timings[0]:.2f} s ({plain_s / timings[0]:.1f}x) | again in that process {timings[1]:.2f} s "
              f"({plain_s / timings[1]:.1f}x)")  # fmt: skip

        # A tamper in the middle of the verified prefix: the bytes differ, so the cursor walks from seq 1.
        middle = len(records) // 2
        records[middle - 1] = dict(records[middle - 1], actor="mallory")
        write_artifact(root, "audit_log", records)
        PARSED.clear()
        tampered = Artifacts(root)["audit_log"]
        want = [f"audit seq {middle} content does not match its hash"]
        got_full, got_cursor = checks.chain_problems(tampered, anchor), _cursor_walk(root, tampered, anchor)[1]
        ok &= got_full == got_cursor == want
        print(f"tamper at seq {middle:,}: full walk {got_full} | cursor {got_cursor}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB; {'every verdict agreed' if ok else 'VERDICTS DISAGREED'}")
    return 0 if ok else 2


def _cursor_walk(root: Path, records: list, anchor: dict) -> tuple[float, list[str]]:
    """What rule 11 does on an `Artifacts` root: open the cursor, walk from it, remember a clean walk
    (timed from the cursor on: reading the artifact, a PARSED cache hit, is not part of the walk)."""
    arts = Artifacts(root)
    assert arts["audit_log"] is records  # the PARSED cache's value: the cursor applies to it
    return timed(_walk_from_cursor, arts, records, anchor)


def _walk_from_cursor(arts: Artifacts, records: list, anchor: dict) -> list[str]:
    cursor = open_cursor(arts, records)
    out = checks.chain_problems(records, anchor, cursor.start if cursor else (0, GENESIS_HASH))
    if cursor is not None and not out:
        cursor.remember()
    return out


if __name__ == "__main__":
    sys.exit(main())
