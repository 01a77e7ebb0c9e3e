"""Bearer JWTs shaped like Supabase's (HS256, ``exp`` required, ``aud`` checked).

Admin: ``app_metadata.role == "admin"``. Machine callers: ``role == "service_role"``. Scoped: a
token whose ``app_metadata.accounts`` lists ad account ids, for those accounts only. Any other valid
token (a list naming no account or malformed included) is authenticated but forbidden (403); a missing
or invalid one is 401.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt

ALGORITHM = "HS256"
MAX_SCOPED_ACCOUNTS = 200
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or for another audience."""


@dataclass(frozen=True)
class Principal:
    claims: dict[str, Any]

    @property
    def is_admin(self) -> bool:
        meta = self.claims.get("app_metadata")
        return isinstance(meta, dict) and meta.get("role") == "admin"

    @property
    def is_service(self) -> bool:
        return self.claims.get("role") == "service_role"

    @property
    def is_privileged(self) -> bool:
        return self.is_admin or self.is_service

    @property
    def accounts(self) -> list[uuid.UUID] | None:
        """The ad accounts a scoped token is for; None when it lists none or the list is malformed."""
        meta = self.claims.get("app_metadata")
        listed = meta.get("accounts") if isinstance(meta, dict) else None
        if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_SCOPED_ACCOUNTS:
            return None
        ids: list[uuid.UUID] = []
        for item in listed:
            if not isinstance(item, str) or not _UUID.fullmatch(item):
                return None
            ids.append(uuid.UUID(item))
        return ids

    @property
    def has_account_scope(self) -> bool:
        meta = self.claims.get("app_metadata")
        return isinstance(meta, dict) and "accounts" in meta

    @property
    def actor(self) -> str:
        for key in ("email", "sub"):
            value = self.claims.get(key)
            if isinstance(value, str) and value:
                return value
        return "service_role" if self.is_service else "unknown"


def decode_token(token: str, secret: str, audience: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            options={"require": ["exp", "aud"]},
        )
    except jwt.PyJWTError as exc:
        # The reason names the failed check only; the token itself is never echoed.
        raise InvalidToken(_reason(exc)) from None
    return Principal(claims)


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token has expired"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "token is for another audience"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "token signature is invalid"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the required '{exc.claim}' claim"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"token must be signed with {ALGORITHM}"
    return "token is malformed"


def mint_token(
    secret: str,
    audience: str,
    kind: Literal["admin", "service", "scoped"],
    ttl_seconds: int = 3600,
    subject: str | None = None,
    accounts: list[str] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "sub": subject or f"{kind}-{uuid.uuid4()}",
        "jti": str(uuid.uuid4()),
    }
    if kind == "admin":
        claims["role"] = "authenticated"
        claims["app_metadata"] = {"role": "admin"}
    elif kind == "scoped":
        if not accounts:
            raise ValueError("a scoped token names at least one ad account")
        claims["role"] = "authenticated"
        claims["app_metadata"] = {"accounts": list(accounts)}
    else:
        claims["role"] = "service_role"
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
