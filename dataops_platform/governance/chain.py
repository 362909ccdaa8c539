"""The audit chain's canonical bytes and the walk that checks them. Standard library only, so
`audit.verify` can run this module as a cheap worker process over a span of a SQLite file:

    python -m dataops_platform.governance.chain DATABASE AFTER UPTO   # prints a JSON report

See `audit` for the serialisation and how verification is split.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from typing import Any

GENESIS_HASH = "0" * 64
CHAIN_COLUMNS = "seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash, hash"

# json.dumps(..., separators=(",", ":"), ensure_ascii=False) encodes each str with exactly this
# function (the C one when available), None as null and an int with int.__repr__.
_encode_json_str = json.encoder.encode_basestring
# Reusable encoders configured exactly as the json.dumps calls they stand for (json.dumps builds a
# new JSONEncoder for each call with non-default arguments; the output is the same).
_encode_array = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# The bytes json escapes in a str ('"', backslash, U+0000-U+001F): all ASCII, so none of them can
# occur inside a multi-byte UTF-8 sequence.
_JSON_ESCAPED_BYTES = bytes(range(0x20)) + b'"\\'


def canonical_payload(
    seq: int,
    at: str,
    actor: str,
    role: str | None,
    tenant: str | None,
    project: str | None,
    action: str,
    object_ref: str | None,
    outcome: str,
    details: str,
    prev_hash: str,
) -> bytes:
    """The exact bytes a record's hash covers (see the module docstring)."""
    fields = (at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash)
    if type(seq) is int:
        try:
            encoded = ["null" if v is None else _encode_json_str(v) for v in fields]
            return f"[{seq},{','.join(encoded)}]".encode()
        except TypeError:
            pass  # a field neither str nor None: json encodes it (or refuses it) as it always did
    return _encode_array([seq, *fields]).encode()


def chain_hash(
    seq: int,
    at: str,
    actor: str,
    role: str | None,
    tenant: str | None,
    project: str | None,
    action: str,
    object_ref: str | None,
    outcome: str,
    details: str,
    prev_hash: str,
) -> str:
    """sha256 over the canonical serialisation of one record (positional, so key order cannot vary)."""
    payload = canonical_payload(seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash)
    return hashlib.sha256(payload).hexdigest()


# A failure found by verify_span: ("seq" | "prev" | "hash", the stored seq of the offending row).
Failure = tuple[str, int]


def verify_span(
    chunks: Iterable[Sequence[Sequence[Any]]], expected_seq: int, prev: str, checked: int
) -> tuple[int, str, int, Failure | None]:
    """Walk rows (in seq order) from a known state; stop at the first bad one.

    Returns the state reached (next expected seq, hash of the last good record, records checked)
    and the failure, if any. Stdlib only: worker processes run this module.
    """
    sha256, encode_str, escaped = hashlib.sha256, _encode_json_str, _JSON_ESCAPED_BYTES
    for chunk in chunks:
        for row in chunk:
            seq, at, actor, role, tenant, project, action, ref, outcome, details, prev_hash, stored = row
            if seq != expected_seq:
                return expected_seq, prev, checked, ("seq", seq)
            if prev_hash != prev:
                return expected_seq, prev, checked, ("prev", seq)
            digest = None
            if role is not None and tenant is not None and project is not None and ref is not None:
                # Fast path, byte-identical to canonical_payload whenever it is taken: the eight
                # short fields are str (join refuses anything else) and the only bytes json would
                # escape in them are the separators' 14 quotes; prev_hash equals the previous
                # stored hash, which matched a hexdigest (or is the genesis hash): plain hex. (A
                # worker span starts from its first row's own prev_hash; its report only counts
                # once the junction has matched that prev_hash to the hash before it.)
                try:
                    middle = '","'.join((at, actor, role, tenant, project, action, ref, outcome))
                    raw = middle.encode()
                    if type(seq) is int and len(raw) - len(raw.translate(None, escaped)) == 14:
                        payload = f'[{seq},"{middle}",{encode_str(details)},"{prev_hash}"]'.encode()
                        digest = sha256(payload).hexdigest()
                except TypeError:
                    pass
            if digest != stored:
                payload = canonical_payload(seq, at, actor, role, tenant, project, action, ref, outcome, details, prev_hash)
                if sha256(payload).hexdigest() != stored:
                    return expected_seq, prev, checked, ("hash", seq)
            prev, expected_seq, checked = stored, expected_seq + 1, checked + 1
    return expected_seq, prev, checked, None


def span_worker(path: str, after: int, upto: int) -> dict[str, Any]:
    """Worker process: check after < seq <= upto on its own connection, from its first row's state."""
    connection = sqlite3.connect(path, timeout=60)
    try:
        sql = f"SELECT {CHAIN_COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq"
        cursor = connection.execute(sql, (after, upto))
        first = cursor.fetchone()
        if first is None:
            return {"first": None}
        seq, prev_hash = first[0], first[10]
        expected_seq, prev, checked, failure = verify_span(([first], cursor), seq, prev_hash, 0)
        return {"first": [seq, prev_hash], "state": [expected_seq, prev, checked], "failure": failure}
    finally:
        connection.close()


if __name__ == "__main__":
    print(json.dumps(span_worker(*json.loads(sys.argv[1]))))
