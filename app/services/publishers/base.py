"""The publisher contract and the outcomes the dispatcher acts on ("never post twice")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

# Called with a platform's id the moment it accepts a post; the dispatcher commits it at once.
Accepted = Callable[[str], Awaitable[None]]


class RetryLater(Exception):
    """The platform proved nothing was posted (429, 5xx before acceptance, connection refused)."""

    def __init__(self, reason: str, not_before: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.not_before = not_before


class TokenExpired(Exception):
    """The account's token is expired or revoked (Graph code 190, X 401)."""


class OutcomeUnknown(Exception):
    """A mutating call whose outcome is not known (timeout, reset after sending): never resent."""


class PublishFailed(Exception):
    """The platform refused the post for good (a policy, a duplicate, a permission)."""


class Publisher(Protocol):
    async def publish(
        self,
        platform: str,
        account_id: str,
        token: str,
        content: dict[str, Any],
        accepted: Accepted,
        already: list[str],
    ) -> None:
        """Post ``content``; call ``accepted`` with each id the platform returns; raise on failure.

        ``already`` holds the ids an earlier attempt stored: a thread resumes after them, and a
        single post that has one is done.
        """
