"""The API's one authentication path: `RequestGuard` authenticates the bearer token before any route
runs (and before a byte of the body is read), then bounds the body on the stream itself.

The OpenAPI document's bearer scheme (`common.bearer`) only documents this; it never authenticates.
"""

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataops_platform.api.problems import problem
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.tokens import Unauthenticated, authenticate

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1 << 20  # JSON bodies and spec texts
MAX_UPLOAD_BYTES = 64 << 20  # dataset uploads
USER_KEY = "dataops_user"  # where the authenticated user waits in the request scope's state


class BodyTooLarge(HTTPException):
    """Raised from the guarded `receive` as soon as a body passes its limit, chunked or not."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over {limit} bytes")


def body_limit(path: str) -> int:
    return MAX_UPLOAD_BYTES if path.endswith("/upload") else MAX_BODY_BYTES


class RequestGuard:
    """Before any route runs (and before FastAPI reads a byte of the body): authenticate the bearer
    token (401 first, whatever the body holds), then enforce the body limit on the stream itself,
    so a chunked body without Content-Length is cut off at the limit instead of being buffered."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            user = await anyio.to_thread.run_sync(authenticate, self.platform, headers.get("authorization"))
        except Unauthenticated as exc:
            await problem(401, exc)(scope, receive, send)
            return
        scope.setdefault("state", {})[USER_KEY] = user
        limit = body_limit(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await problem(413, None, f"request body over {limit} bytes", title="too_large")(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
