"""REST API bearer tokens: created for a user, stored only as a sha256, revocable, optionally expiring.

Tokens are about identity, not about a project, so the rule is identity-based: a user manages
their own tokens and a platform admin anyone's. Every attempt, allowed or denied, is audited in
the same transaction as its effect, like every other mutation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.clock import as_utc
from dataops_platform.errors import DataOpsError, InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.platform import Platform, iso
from dataops_platform.store.models import ApiToken, IdCounter, PlatformMembership, User

PREFIX = "dop_"


class Unauthenticated(DataOpsError):
    """No, a malformed, an unknown, an expired or a revoked token (HTTP 401)."""

    exit_code = 3
    kind = "unauthenticated"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_admin(session: Session, actor: str) -> bool:
    membership = session.get(PlatformMembership, actor)
    return membership is not None and membership.role == "admin"


def _manage(platform: Platform, actor: str, action: str, subject: str | None, object_ref: str | None, change) -> object:  # noqa: ANN001
    """Decide (self or platform admin), apply `change(session, now)`, audit: one transaction."""
    now = platform.clock.now()
    with platform.write() as session:
        allowed = session.get(User, actor) is not None and (actor == subject or _is_admin(session, actor))
        outcome = "allowed" if allowed else "denied"
        result = change(session, now) if allowed else None
        audit.append(session, [audit.AuditEntry(
            at=iso(now), actor=actor, action=action, outcome=outcome, object_ref=object_ref,
            role="admin" if allowed and actor != subject else None,
            details={"user": subject} if allowed else {"user": subject, "reason": "only the user or a platform admin"},
        )])  # fmt: skip
    if not allowed:
        raise PermissionDenied(actor, None, action, None, f"tokens of {subject!r} are managed by that user or a platform admin")
    return result


def create_token(platform: Platform, actor: str, user: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; the secret is returned once and never stored."""
    now = platform.clock.now()
    if expires_at is not None and as_utc(expires_at) <= now:
        raise InvalidInput(
            f"--expires {expires_at.isoformat()} is not in the future", field="expires", value=expires_at.isoformat()
        )

    def change(session: Session, at: datetime) -> tuple[ApiToken, str]:
        # Asked only once the caller may manage `user`'s tokens: whether a user exists is not
        # something anyone else can learn from the answer (a stranger is denied either way).
        if session.get(User, user) is None:
            raise InvalidInput(f"user {user!r} does not exist", field="user", value=user)
        counter = session.get(IdCounter, "token") or IdCounter(kind="token", last=0)
        session.add(counter)
        counter.last += 1
        token_id = f"tok_{counter.last:03d}"
        secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        row = ApiToken(token_id=token_id, user_id=user, token_hash=token_hash(secret), created_by=actor, created_at=at,
                       expires_at=as_utc(expires_at) if expires_at else None)  # fmt: skip
        session.add(row)
        return row, secret

    return _manage(platform, actor, "token.create", user, f"user:{user}", change)  # type: ignore[return-value]


def revoke_token(platform: Platform, actor: str, token_id: str) -> ApiToken:
    """Revoke your own token (a platform admin: anyone's). Someone else's token answers exactly like
    a missing one (exit 2, the same words): whose a token is, and that it exists, never leaks.
    Both refusals are audited as denied."""
    with platform.store.read() as session:
        row = session.get(ApiToken, token_id)
        subject = row.user_id if row is not None else None
    hidden = NotFound(f"token {token_id!r} not found (or not yours to revoke)", field="id", value=token_id)
    if subject is None:
        platform.record([audit.AuditEntry(at=iso(platform.clock.now()), actor=actor, action="token.revoke", outcome="denied",
                                          object_ref=f"token:{token_id}", details={"reason": "no such token"})])  # fmt: skip
        raise hidden
    try:

        def change(session: Session, at: datetime) -> ApiToken:
            token = session.get(ApiToken, token_id)
            token.revoked_at = token.revoked_at or at
            return token

        return _manage(platform, actor, "token.revoke", subject, f"token:{token_id}", change)  # type: ignore[return-value]
    except PermissionDenied:
        raise hidden from None


def list_tokens(platform: Platform, actor: str) -> list[ApiToken]:
    """Your own tokens; a platform admin sees everyone's. Hashes never leave this module."""
    with platform.store.read() as session:
        query = select(ApiToken).order_by(ApiToken.token_id)
        if not _is_admin(session, actor):
            query = query.where(ApiToken.user_id == actor)
        return list(session.scalars(query))


def authenticate(platform: Platform, header: str | None) -> str:
    """The user behind an `Authorization: Bearer …` header, or Unauthenticated saying why."""
    if not header:
        raise Unauthenticated("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(PREFIX):
        raise Unauthenticated("malformed Authorization header; expected 'Bearer dop_…'")
    with platform.store.read() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(token.strip()))).one_or_none()
    if row is None:
        raise Unauthenticated("unknown token")
    if row.revoked_at is not None:
        raise Unauthenticated(f"token {row.token_id} was revoked")
    if row.expires_at is not None and as_utc(row.expires_at) <= platform.clock.now():
        raise Unauthenticated(f"token {row.token_id} expired")
    return row.user_id
