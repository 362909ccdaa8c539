"""Objects in an S3-compatible store: `s3://bucket/key`, a prefix ending in `/` (a partitioned
dataset) or a glob (`s3://bucket/prefix/*.parquet`), read through s3fs with timeouts.

Endpoint, region and credentials come from settings (`s3_endpoint_url`, `s3_region`,
`s3_access_key_id` / `s3_secret_access_key`), else from the standard AWS environment. The pin
holds each object's ETag, VersionId (on a versioned bucket), size and modification time; a version
registered on a versioned bucket is re-read at its VersionId.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dataops_platform.errors import InvalidInput
from dataops_platform.sources.base import DataSource

MAX_OBJECTS = 10_000
GLOB_CHARS = "*?["


def _refuse(label: str, problem: str) -> InvalidInput:
    from dataops_platform.governance.datasets import shown_path

    return InvalidInput(f"{shown_path(label)}: {problem}", field="DATAFILE", value=shown_path(label))


def _remote_problem(exc: BaseException) -> str:
    """What a failed S3 call means, and the fix."""
    name = type(exc).__name__
    text = " ".join(str(exc).split())[:200]
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return (
            "no S3 credentials; set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
            "(or DATAOPS_S3_ACCESS_KEY_ID / DATAOPS_S3_SECRET_ACCESS_KEY)"
        )
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError") or isinstance(
        exc, (TimeoutError, ConnectionError)
    ):
        return (
            f"the S3 endpoint cannot be reached ({name}: {text}); "
            "check DATAOPS_S3_ENDPOINT_URL / AWS_ENDPOINT_URL and the network"
        )
    if isinstance(exc, FileNotFoundError):
        return "no such bucket or object; check the bucket and key"
    if (
        isinstance(exc, PermissionError)
        or "AccessDenied" in text
        or "InvalidAccessKeyId" in text
        or "SignatureDoesNotMatch" in text
    ):
        return f"access denied by the S3 store ({text}); check the credentials and the bucket policy"
    return f"cannot be read from S3 ({name}: {text})"


def filesystem(settings: Any) -> Any:
    """An s3fs file system configured from settings and the AWS environment, with timeouts and no retry storms."""
    import s3fs

    timeout = getattr(settings, "source_timeout_seconds", 30.0)
    key = getattr(settings, "s3_access_key_id", None)
    secret = getattr(settings, "s3_secret_access_key", None)
    endpoint = getattr(settings, "s3_endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
    region = getattr(settings, "s3_region", None) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return s3fs.S3FileSystem(
        key=key,
        secret=secret,
        endpoint_url=endpoint,
        client_kwargs={"region_name": region} if region else {},
        config_kwargs={"connect_timeout": timeout, "read_timeout": timeout, "retries": {"max_attempts": 2}},
        version_aware=True,
        skip_instance_cache=True,
    )


class S3Source(DataSource):
    kind = "s3"

    def __init__(self, uri: str, label: str, fs: Any, objects: list[dict[str, Any]]) -> None:
        super().__init__(uri, label)
        from dataops_platform.governance.datasets import data_format

        self.fs = fs
        self.objects = objects  # s3fs info dicts, in key order
        formats = {data_format(Path(o["name"]), o["name"]) for o in objects}
        if len(formats) > 1:
            raise _refuse(label, f"mixes data formats ({', '.join(sorted(formats))}); one dataset is one format")
        self._format = formats.pop()

    @property
    def source_format(self) -> str:
        return self._format

    def pin(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "objects": [
                {
                    "key": o["name"],
                    "etag": str(o.get("ETag", "")).strip('"'),
                    "version_id": o.get("VersionId"),
                    "size": o.get("size"),
                    "last_modified": str(o.get("LastModified")),
                }
                for o in self.objects
            ],
        }

    @contextmanager
    def _open(self, obj: dict[str, Any]) -> Iterator[Any]:
        try:
            fh = self.fs.open(obj["name"], "rb", version_id=obj.get("VersionId"), block_size=8 << 20)
        except Exception as exc:  # noqa: BLE001 - botocore, aiohttp and OS errors alike
            raise _refuse(f"s3://{obj['name']}", _remote_problem(exc)) from None
        with fh:
            yield fh

    def records(self, limits: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        from dataops_platform.governance.datasets import check_member_schema, data_format, read_stream

        schema = None
        for obj in self.objects:
            name = f"s3://{obj['name']}"
            if len(self.objects) > 1:  # one dataset, one schema
                schema = check_member_schema(obj["name"], name, self.label, schema, opener=lambda o=obj: self._open(o))
            prefix = f"{name}: " if len(self.objects) > 1 else ""
            try:
                with self._open(obj) as raw:
                    # fsspec files read lines without a length bound: a buffered reader gives readline(limit).
                    fh = raw if self._format == "parquet" else io.BufferedReader(raw, buffer_size=1 << 20)
                    for where, record in read_stream(fh, data_format(Path(obj["name"]), name), name, limits, int(obj["size"])):
                        yield f"{prefix}{where}", record
            except InvalidInput:
                raise
            except Exception as exc:  # noqa: BLE001 - a connection lost or timed out mid-read
                raise _refuse(name, _remote_problem(exc)) from None

    def copy_original(self, data_dir: Path) -> str:
        from dataops_platform.sources.local import copy_location, store_object

        stored = []
        for obj in self.objects:
            with self._open(obj) as fh:
                content = fh.read()
            digest = hashlib.sha256(content).hexdigest()
            stored.append((obj["name"], store_object(data_dir, digest, Path(obj["name"]).suffix, lambda c=content: c)))
        return copy_location(stored, data_dir)


def open_s3(uri: str, settings: Any, label: str | None = None, pin: dict[str, Any] | None = None) -> S3Source:
    """The objects `uri` names, listed now (InvalidInput naming the source and the fix otherwise).
    With `pin` (a re-read of a registered version) the recorded VersionIds are read."""
    from dataops_platform.governance.datasets import FORMATS

    label = label or uri
    path = uri[len("s3://") :]
    if "/" not in path:
        raise _refuse(label, "name an object or prefix: s3://bucket/key, s3://bucket/prefix/ or s3://bucket/prefix/*.parquet")
    fs = filesystem(settings)
    try:
        if any(ch in path for ch in GLOB_CHARS):
            names = sorted(fs.glob(path))
            infos = [fs.info(n) for n in names[: MAX_OBJECTS + 1]]
        elif path.endswith("/"):
            infos = sorted((i for i in fs.find(path, detail=True).values()), key=lambda i: i["name"])
        else:
            infos = [fs.info(path)]
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _refuse(label, _remote_problem(exc)) from None
    infos = [
        i
        for i in infos
        if i.get("type") == "file"
        and Path(i["name"]).suffix.lower() in FORMATS
        and not any(part.startswith((".", "_")) for part in i["name"].split("/")[1:])
    ]
    if not infos:
        if path.endswith("/") or any(ch in path for ch in GLOB_CHARS):
            raise _refuse(label, "matches no JSONL, CSV or Parquet object; check the bucket, the prefix and the pattern")
        raise _refuse(label, "is not a JSONL, CSV or Parquet object (by its suffix)")
    if len(infos) > MAX_OBJECTS:
        raise _refuse(label, f"matches over {MAX_OBJECTS:,} objects")
    if pin:
        recorded = {o["key"]: o.get("version_id") for o in pin.get("objects", [])}
        for info in infos:
            if recorded.get(info["name"]) and info.get("VersionId") != recorded[info["name"]]:
                try:
                    info.update(fs.info(info["name"], version_id=recorded[info["name"]]))
                except Exception:  # noqa: BLE001 - the pinned version is gone: read what is there, verify tells
                    pass
    return S3Source(uri, label, fs, infos)
