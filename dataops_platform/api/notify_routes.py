"""REST routes of the notification outbox: deliveries with status, attempts and last error; retry; test.

The permission rules are those of `notify.service` (the same as the CLI's).
"""

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel

from dataops_platform.api.common import Actor, Plat, noun_router
from dataops_platform.notify import service

router = noun_router("notifications", "/notifications")

Status = Annotated[str | None, Query(pattern=r"^(pending|sending|delivered|dead|cancelled)$")]
ChannelId = Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
Project = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


class Delivery(BaseModel):
    """One event to one channel: pending -> sending -> delivered, or dead after its attempts."""

    id: int
    event_id: str
    event_type: str
    subject: str | None
    project: str | None
    channel: str
    status: str
    attempts: int
    occurred_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    last_error: str | None


class DeliveryList(BaseModel):
    items: list[Delivery]
    count: int


@router.get("/deliveries", response_model=DeliveryList)
def notify_list(
    plat: Plat, user: Actor, project: Project = None, status: Status = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> Any:
    """Deliveries the caller may see (platform admins: all; ops: their projects'), newest first."""
    rows = service.list_deliveries(plat, user, project, status, limit)
    return {"items": [service.delivery_dict(r) for r in rows], "count": len(rows)}


@router.post("/deliveries/{delivery_id}/retry", response_model=Delivery)
def notify_retry(plat: Plat, user: Actor, delivery_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Any:
    """Make a delivery due now (platform admins, or ops of its project); audited."""
    return service.delivery_dict(service.retry_delivery(plat, user, delivery_id))


@router.post("/channels/{channel_id}/test", response_model=Delivery)
def notify_test(plat: Plat, user: Actor, channel_id: ChannelId) -> Any:
    """Send a test event through one channel now (platform admins); audited; answers the delivery."""
    return service.delivery_dict(service.test_channel(plat, user, channel_id))
