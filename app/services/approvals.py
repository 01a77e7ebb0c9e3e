"""Signed approval links: a proposed action's approve and reject links, put in the action.proposed
webhook (and its Slack line) when it is sent. A link names the action, the decision and when it
expires (the proposal's own expiry), signed with HMAC-SHA256 under a key derived from the JWT secret;
it is its own credential, good until a decision is made or it expires. A forged or altered link is
refused (403); a used or expired one finds nothing left to decide (409)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DECISIONS = ("approve", "reject")


class LinkRefused(Exception):
    """A link that is not one of ours (forged, altered, cut short)."""


class LinkExpired(Exception):
    """A genuine link past its expiry."""


@dataclass(frozen=True)
class Approval:
    action_id: uuid.UUID
    decision: str
    expires_at: datetime


def _key(jwt_key: str) -> bytes:
    return hmac.new(jwt_key.encode(), b"autonomous-ops approval links", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(jwt_key: str, action_id: uuid.UUID, decision: str, expires_at: datetime) -> str:
    payload = f"{action_id}.{decision}.{int(expires_at.timestamp())}".encode()
    signature = hmac.new(_key(jwt_key), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def verify(jwt_key: str, token: str, now: datetime | None = None) -> Approval:
    try:
        head, tail = token.split(".")
        payload, signature = _unb64(head), _unb64(tail)
    except ValueError:
        raise LinkRefused("this is not an approval link") from None
    if not hmac.compare_digest(
        hmac.new(_key(jwt_key), payload, hashlib.sha256).digest(), signature
    ):
        raise LinkRefused("this approval link is not genuine")
    try:
        action, decision, expiry = payload.decode().split(".")
        approval = Approval(uuid.UUID(action), decision, datetime.fromtimestamp(int(expiry), UTC))
    except ValueError:
        raise LinkRefused("this approval link is not genuine") from None
    if approval.decision not in DECISIONS:
        raise LinkRefused("this approval link is not genuine")
    if approval.expires_at <= (now or datetime.now(UTC)):
        raise LinkExpired(f"this link expired at {approval.expires_at.isoformat()}")
    return approval


def with_links(jwt_key: str, base_url: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An action.proposed payload with its signed approve and reject links added to its data."""
    data = dict(payload.get("data") or {})
    expires = data.get("expires_at")
    if not data.get("id") or not expires:
        return payload
    expires_at = datetime.fromisoformat(str(expires))
    for decision in DECISIONS:
        token = sign(jwt_key, uuid.UUID(str(data["id"])), decision, expires_at)
        data[f"{decision}_url"] = f"{base_url.rstrip('/')}/approvals/{token}"
    return {**payload, "data": data}
