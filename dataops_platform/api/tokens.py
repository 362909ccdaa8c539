"""Bearer tokens over REST, with exactly the CLI's rules (`governance.tokens`): a user manages their
own tokens and a platform admin anyone's; someone else's token reads like a missing one (404);
every create and revoke, allowed or denied, is audited by the service."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from dataops_platform.api.common import Actor, Input, ObjectId, Plat, noun_router
from dataops_platform.api.records import Timestamp, record_model
from dataops_platform.artifacts.build import row
from dataops_platform.governance import tokens
from dataops_platform.store.models import ApiToken

router = noun_router("tokens", "/tokens")

Token = record_model(ApiToken, "Token", "A bearer token (never its secret nor its hash).", exclude=("token_hash",))


class TokenList(BaseModel):
    """Your tokens; a platform admin sees everyone's."""

    items: list[Token]  # type: ignore[valid-type]


class TokenCreate(Input):
    user: str = Field(max_length=64, description="the user the token acts as (yourself, or anyone if you are a platform admin)")
    expires_at: datetime | None = Field(default=None, description="ISO-8601 expiry in the future (default: none)")


class TokenCreated(BaseModel):
    """The new token. `token` is the secret: shown this once, stored only as a hash."""

    token_id: str
    user_id: str
    token: str
    created_by: str
    created_at: Timestamp
    expires_at: Timestamp | None


def _public(token: ApiToken) -> dict[str, Any]:
    return {k: v for k, v in row(token).items() if k != "token_hash"}


@router.post("", status_code=201, response_model=TokenCreated)
def token_create(plat: Plat, user: Actor, body: TokenCreate) -> Any:
    created, secret = tokens.create_token(plat, user, body.user, body.expires_at)
    return _public(created) | {"token": secret}


@router.get("", response_model=TokenList)
def token_list(plat: Plat, user: Actor) -> Any:
    return {"items": [_public(t) for t in tokens.list_tokens(plat, user)]}


@router.delete("/{token_id}", response_model=Token)
def token_revoke(plat: Plat, user: Actor, token_id: ObjectId) -> Any:
    """Revoke at once (your own; a platform admin: anyone's)."""
    return _public(tokens.revoke_token(plat, user, token_id))
