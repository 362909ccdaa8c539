"""REST routes of the notification outbox: deliveries with status, attempts and last error; retry; test.

`notify_router(plat, actor)` is included by `api.app.create_app`, `actor` being its bearer-token
dependency; the permission rules are those of `notify.service` (the same as the CLI's).
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from dataops_platform.governance.platform import Platform
from dataops_platform.notify import service

Status = Annotated[str | None, Query(pattern=r"^(pending|sending|delivered|dead|cancelled)$")]
Project = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


def notify_router(plat: Platform, actor: Callable[..., str], prefix: str = "/api/v1") -> APIRouter:
    router = APIRouter(prefix=f"{prefix}/notifications", tags=["notifications"])
    Actor = Annotated[str, Depends(actor)]

    @router.get("/deliveries")
    def list_deliveries(
        user: Actor, project: Project = None, status: Status = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> dict[str, Any]:
        """Deliveries the caller may see (platform admins: all; ops: their projects'), newest first."""
        rows = service.list_deliveries(plat, user, project, status, limit)
        return {"items": [service.delivery_dict(r) for r in rows], "count": len(rows)}

    @router.post("/deliveries/{delivery_id}/retry")
    def retry(user: Actor, delivery_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
        """Make a delivery due now (platform admins, or ops of its project); audited."""
        return service.delivery_dict(service.retry_delivery(plat, user, delivery_id))

    @router.post("/channels/{channel_id}/test")
    def test(user: Actor, channel_id: Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]) -> dict[str, Any]:
        """Send a test event through one channel now (platform admins); audited; answers the delivery."""
        return service.delivery_dict(service.test_channel(plat, user, channel_id))

    return router
