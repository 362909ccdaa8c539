"""Where the client finds its server and token: arguments, then DATAOPS_SERVER / DATAOPS_TOKEN, then
the credentials file `dataops login URL` writes ($DATAOPS_CREDENTIALS, default
$XDG_CONFIG_HOME/dataops/credentials.json, i.e. ~/.config/dataops/credentials.json).

The file holds one token per server and the server logged in last (the default). It is written
mode 0600 in a 0700 directory, replaced whole (never half-written), and refused when anyone but
its owner may read it: a token is a password.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dataops_platform.errors import InvalidInput
from dataops_platform.text import text_problem

ENV_SERVER = "DATAOPS_SERVER"
ENV_TOKEN = "DATAOPS_TOKEN"
ENV_CREDENTIALS = "DATAOPS_CREDENTIALS"
MAX_FILE_BYTES = 1 << 20
TOKEN_PREFIX = "dop_"


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(ENV_CREDENTIALS):
        return Path(env[ENV_CREDENTIALS]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]).expanduser() if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "dataops" / "credentials.json"


def normalise_server(url: str, field: str = "server") -> str:
    """`url` as the client uses it: http(s)://host[:port][/path], no trailing slash. An /api/v1
    suffix is accepted and dropped; user:password@, a query or a fragment are refused."""
    fix = "give the platform's base URL, e.g. http://127.0.0.1:8000 (what `dataops serve` prints, without /api/v1)"
    problem = text_problem(url) if isinstance(url, str) else "is not text"
    shown = str(url)[:200]
    try:
        parts = urlsplit(url.strip()) if problem is None else None
    except ValueError:
        parts, problem, shown = None, "is not an http(s) URL with a host", shown.rpartition("@")[2]
    if parts is not None:
        if "@" in parts.netloc:  # never quote a password back
            shown = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()[:200]
        try:
            port_ok = parts.port is None or 0 < parts.port
        except ValueError:
            port_ok = False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "is not an http(s) URL with a host"
        elif not port_ok:
            problem = "has a port that is not a number from 1 to 65535"
        elif parts.username or parts.password:
            problem = "carries a user or password (the token goes in DATAOPS_TOKEN or `dataops login`, never in the URL)"
        elif parts.query or parts.fragment:
            problem = "has a query or fragment"
        elif not parts.hostname.isascii():
            problem = "has a host name that is not plain ASCII (write an IDN host in its xn-- form)"
    if problem is not None:
        raise InvalidInput(f"{field} {shown!r} {problem}; {fix}", field=field, value=shown)
    path = parts.path.rstrip("/")
    path = path[: -len("/api/v1")] if path.endswith("/api/v1") else path
    return f"{parts.scheme}://{parts.netloc}{path}"


def check_token(token: str, field: str = "token") -> str:
    token = token.strip()
    problem = text_problem(token)
    if problem is None and (not token.startswith(TOKEN_PREFIX) or len(token) > 200 or any(c.isspace() for c in token)):
        problem = "is not a platform token (dop_<token id>_<secret>, as `dataops token create` prints it)"
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", field=field, value=None)  # never quote a secret
    return token


TOKEN_ID = re.compile(r"dop_(tok_\d+)_")  # the secret after it may hold '_' (URL-safe base64)


def token_id_of(token: str) -> str | None:
    """The token's id (`dop_<id>_<secret>`), which the server lists: to tell who a token is."""
    match = TOKEN_ID.match(token)
    return match.group(1) if match else None


def _refuse_open_file(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"credentials file {path} may be read by others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}` (its tokens are passwords; treat them as exposed: revoke and log in again)",
            field="credentials",
            value=str(path),
        )


def read_credentials(path: Path, *, rewriting: bool = False) -> dict[str, Any]:
    """The file's content ({"default": url, "servers": {url: {"token": ...}}}); {} when absent.
    A file others may read is refused, except to `dataops login` / `logout` (`rewriting`), which
    replace it with a 0600 one."""
    try:
        if not path.exists():
            return {}
        if not rewriting:
            _refuse_open_file(path)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"credentials file {path} is over {MAX_FILE_BYTES} bytes; remove it and log in again",
                               field="credentials", value=str(path))  # fmt: skip
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"credentials file {path} cannot be read ({exc}); remove it and run `dataops login URL` again",
            field="credentials",
            value=str(path),
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("servers", {}), dict):
        raise InvalidInput(f"credentials file {path} is not what `dataops login` writes; remove it and log in again",
                           field="credentials", value=str(path))  # fmt: skip
    return data


def write_credentials(path: Path, server: str, token: str) -> None:
    """Store `token` for `server` and make it the default: 0600, replaced whole (temp file + rename)."""
    data = read_credentials(path, rewriting=True)
    servers = dict(data.get("servers") or {})
    servers[server] = {"token": token}
    _replace(path, {"default": server, "servers": servers})


def forget_credentials(path: Path, server: str) -> bool:
    """Remove `server`'s token; True when there was one."""
    data = read_credentials(path, rewriting=True)
    servers = dict(data.get("servers") or {})
    if servers.pop(server, None) is None:
        return False
    default = data.get("default") if data.get("default") in servers else next(iter(servers), None)
    _replace(path, {"default": default, "servers": servers})
    return True


def _replace(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials.", suffix=".tmp")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Connection:
    server: str
    token: str
    source: str  # where the token came from: "argument", DATAOPS_TOKEN or the credentials file


def resolve(server: str | None = None, token: str | None = None, environ: Mapping[str, str] | None = None) -> Connection:
    """The server and token to use: each from its argument, else its environment variable, else the
    credentials file (the token stored for that server; the server logged in last)."""
    env = os.environ if environ is None else environ
    server = server or env.get(ENV_SERVER) or None
    path = credentials_path(env)
    stored: dict[str, Any] | None = None
    if server is None:
        stored = read_credentials(path)
        server = stored.get("default")
        if not server:
            raise InvalidInput(
                f"no platform server: pass --server URL, set {ENV_SERVER}, or run `dataops login URL` first",
                field="server",
                value=None,
            )
    server = normalise_server(server)
    source = "argument" if token else ENV_TOKEN
    token = token or env.get(ENV_TOKEN) or None
    if token is None:
        stored = read_credentials(path) if stored is None else stored
        token = ((stored.get("servers") or {}).get(server) or {}).get("token")
        source = str(path)
        if not token:
            raise InvalidInput(
                f"no token for {server}: set {ENV_TOKEN}, or run `dataops login {server}` "
                "(a token comes from `dataops token create USER` on the platform's host)",
                field="token",
                value=None,
            )
    return Connection(server, check_token(token), source)
