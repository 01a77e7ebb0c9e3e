from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, Field

from app.models.actions import ActionPublic
from app.models.ad_accounts import AdAccountPublic
from app.models.common import Flag, StrictModel, Text1000, Url
from app.models.cycles import CyclePublic
from app.models.opportunities import OpportunityPublic
from app.models.platform_changes import PlatformChangePublic, ProposedAction
from app.models.social import PostPublic, SocialAccountPublic

# The event types an endpoint may subscribe to: the database's ao_event_types() (a test holds the two
# together). webhook.test goes to one endpoint on request and is not among them.
EventType = Literal[
    "action.executed",
    "action.rolled_back",
    "action.proposed",
    "cycle.failed",
    "cycle.held",
    "cycle.limited",
    "rule.error",
    "opportunity.opened",
    "post.failed",
    "post.unknown",
    "social_account.expired",
    "ad_account.error",
    "platform_change.conflict",
    "platform_change.failed",
]
TEST_EVENT = "webhook.test"
WebhookFormat = Literal["standard", "slack"]
DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]

EventTypes = Annotated[
    list[EventType],
    Field(
        max_length=20,
        description="the event types this endpoint receives; empty (the default) = all of them",
    ),
]


class WebhookCreate(StrictModel):
    url: Url = Field(description="http(s), at most 2048 characters, resolving to a public address")
    description: Text1000 | None = None
    event_types: EventTypes = []
    format: WebhookFormat = Field(
        default="standard",
        description="standard: Standard Webhooks signed JSON; slack: a Slack incoming-webhook message",
    )
    is_active: Flag = True


class WebhookUpdate(StrictModel):
    """Only the fields sent change. There is no DELETE: deactivate an endpoint instead."""

    url: Url | MISSING = MISSING
    description: Text1000 | None | MISSING = MISSING
    event_types: EventTypes | MISSING = MISSING
    format: WebhookFormat | MISSING = MISSING
    is_active: Flag | MISSING = MISSING


class WebhookPublic(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[EventType]
    format: WebhookFormat
    is_active: bool
    secret_rotated_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookPublic):
    """Returned once, at creation and at rotation: the signing secret is never shown again."""

    secret: str = Field(
        description="whsec_ + base64 of 32 random bytes: the key of the webhook-signature HMAC"
    )


class WebhooksPublic(BaseModel):
    items: list[WebhookPublic]
    next_cursor: str | None = None


class WebhookAttemptPublic(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int | None
    response_excerpt: str | None
    error: str | None


class WebhookDeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: str = Field(description="the webhook-id header: the same on every redelivery")
    event_type: str
    endpoint_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[WebhookAttemptPublic] = []


class WebhookDeliveriesPublic(BaseModel):
    items: list[WebhookDeliveryPublic]
    next_cursor: str | None = None


class PostEvent(PostPublic):
    schedule_id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_title: str | None = None


class RuleErrorEvent(BaseModel):
    cycle_id: uuid.UUID
    rule_id: uuid.UUID
    name: str
    error: str


class TestEvent(BaseModel):
    webhook_id: uuid.UUID
    message: str


# What each event's data is: the thing as the API returns it.
EVENT_DATA: dict[str, type[BaseModel]] = {
    "action.executed": ActionPublic,
    "action.rolled_back": ActionPublic,
    "cycle.failed": CyclePublic,
    "cycle.held": CyclePublic,
    "cycle.limited": CyclePublic,
    "rule.error": RuleErrorEvent,
    "opportunity.opened": OpportunityPublic,
    "post.failed": PostEvent,
    "post.unknown": PostEvent,
    "social_account.expired": SocialAccountPublic,
    "ad_account.error": AdAccountPublic,
    "action.proposed": ProposedAction,
    "platform_change.conflict": PlatformChangePublic,
    "platform_change.failed": PlatformChangePublic,
    TEST_EVENT: TestEvent,
}


def event_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event's data exactly as the API would return the thing (types and formats included)."""
    model = EVENT_DATA[event_type]
    return model.model_validate(data).model_dump(mode="json")
