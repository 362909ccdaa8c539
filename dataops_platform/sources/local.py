"""Local files: one file, a directory of files (a partitioned dataset) or a glob, by path or file://."""

from __future__ import annotations

import glob as globbing
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import unquote, urlparse

from dataops_platform.errors import InvalidInput
from dataops_platform.sources.base import DataSource

GLOB_CHARS = "*?["
MAX_FILES = 10_000  # members of one directory or glob
INBOX = "inbox:"  # a source named relative to the REST data inbox (its server path is never recorded)


def _is_data_file(path: Path) -> bool:
    from dataops_platform.governance.datasets import FORMATS

    # Hidden and underscore files are metadata in partitioned layouts (_SUCCESS, _delta_log, .crc).
    return path.suffix.lower() in FORMATS and not path.name.startswith((".", "_"))


class LocalSource(DataSource):
    kind = "local"

    def __init__(self, uri: str, label: str, files: list[tuple[Path, str]]) -> None:
        super().__init__(uri, label)
        self.files = files  # (resolved path, label) in a stable order
        from dataops_platform.governance.datasets import data_format, shown

        formats = {data_format(path, name) for path, name in files}
        if len(formats) > 1:
            raise InvalidInput(
                f"{label}: mixes data formats ({', '.join(sorted(formats))}); one dataset is one format",
                field="DATAFILE",
                value=shown(label),
            )
        self._format = formats.pop()

    @property
    def source_format(self) -> str:
        return self._format

    def pin(self) -> dict[str, Any]:
        members = []
        for path, name in zip((p for p, _ in self.files), self.member_names(), strict=True):
            info = path.stat()
            members.append({"name": name, "size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": _file_sha256(path)})
        return {"kind": self.kind, "files": members}

    def member_names(self) -> list[str]:
        """Each file named relative to the files' common directory (the base name for one file):
        the same however the source is named again, and never a server path."""
        paths = [p for p, _ in self.files]
        if len(paths) == 1:
            return [paths[0].name]
        top = Path(os.path.commonpath([str(p.parent) for p in paths]))
        return [p.relative_to(top).as_posix() for p in paths]

    def records(self, limits: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        from dataops_platform.governance.datasets import check_member_schema, iter_records

        schema = None
        for path, name in self.files:
            if len(self.files) > 1:  # one dataset, one schema (a single file is checked by its reader)
                schema = check_member_schema(path, name, self.label, schema)
            prefix = f"{name}: " if len(self.files) > 1 else ""
            for where, record in iter_records(path, label=name, limits=limits):
                yield f"{prefix}{where}", record

    def copy_original(self, data_dir: Path) -> str:
        """Each file's bytes stored once under data_dir/objects/<sha256[:2]>/<sha256><suffix> (read-only);
        the location of the first for one file, of a manifest for several."""
        stored = [(name, store_object(data_dir, _file_sha256(path), path.suffix, path.read_bytes)) for path, name in self.files]
        return copy_location(stored, data_dir)


def store_object(data_dir: Path, digest: str, suffix: str, content: Any) -> str:
    """Keep bytes once under data_dir/objects/<sha256[:2]>/<sha256><suffix> (read-only); the relative location."""
    relative = Path("objects") / digest[:2] / f"{digest}{suffix.lower()}"
    _write_once(data_dir / relative, content)
    return relative.as_posix()


def copy_location(stored: list[tuple[str, str]], data_dir: Path) -> str:
    """A version's copy_location: its one stored object, or a manifest of several (location, name)."""
    if len(stored) == 1:
        return stored[0][1]
    manifest = "".join(f"{loc}\t{name}\n" for name, loc in stored).encode()
    return store_object(data_dir, hashlib.sha256(manifest).hexdigest(), ".manifest", lambda: manifest)


def _write_once(target: Path, content: Any) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    tmp.write_bytes(content())
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)  # atomic: a crash never leaves half a copy


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def open_local(text: str, *, root: Path | None = None, label: str | None = None) -> LocalSource:
    from dataops_platform.governance.datasets import resolve_data_path, shown, shown_path

    if isinstance(text, str) and text.startswith("file://"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost") or root is not None:
            raise InvalidInput(
                f"{shown_path(text)}: a file:// URI names a file on this machine (file:///path); "
                "over REST name a file in the inbox",
                field="DATAFILE",
                value=shown_path(text),
            )
        text = unquote(parsed.path)
    text = str(text)
    if label is None:
        label = f"{root.name}/{text}" if root is not None and not PurePath(text).is_absolute() else text
    if any(ch in text for ch in GLOB_CHARS):
        if root is not None and (PurePath(text).is_absolute() or os.path.normpath(text).split(os.sep, 1)[0] == os.pardir):
            resolve_data_path(text, root)  # refuses it, naming the inbox rule
        base = root if root is not None else Path.cwd()
        matches = sorted(m for m in globbing.glob(text, root_dir=base, recursive=True) if _is_data_file(Path(m)))
        if not matches:
            raise InvalidInput(
                f"{shown_path(label)}: the glob matches no JSONL, CSV or Parquet file; check the pattern and the directory",
                field="DATAFILE",
                value=shown_path(label),
            )
        if len(matches) > MAX_FILES:
            raise InvalidInput(
                f"{shown_path(label)}: matches over {MAX_FILES:,} files", field="DATAFILE", value=shown_path(label)
            )
        files = [(resolve_data_path(m, root) if root is not None else resolve_data_path(str(base / m)), m) for m in matches]
        uri = str(base.resolve() / text) if root is None else f"{INBOX}{text}"
        return LocalSource(uri, label, files)
    path = resolve_data_path(text, root, allow_directory=True)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and _is_data_file(p) and not _hidden_below(p, path))
        if not found:
            raise InvalidInput(
                f"{shown_path(label)} is a directory holding no JSONL, CSV or Parquet file; "
                "name a data file or a directory of them",
                field="DATAFILE",
                value=shown_path(label),
            )
        if len(found) > MAX_FILES:
            raise InvalidInput(f"{shown(label)}: holds over {MAX_FILES:,} files", field="DATAFILE", value=shown(label))
        files = [(resolve_data_path(str(p)), f"{label.rstrip('/')}/{p.relative_to(path).as_posix()}") for p in found]
        return LocalSource(path.as_uri() if root is None else f"{INBOX}{text}", label, files)
    return LocalSource(path.as_uri() if root is None else f"{INBOX}{text}", label, [(path, label)])


def _hidden_below(path: Path, top: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.relative_to(top).parts[:-1])
