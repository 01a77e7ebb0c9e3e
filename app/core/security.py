"""Bearer JWTs shaped like Supabase's (HS256, ``exp`` required, ``aud`` checked).

Admin: ``app_metadata.role == "admin"``. Machine callers: ``role == "service_role"``. Any other
valid token is authenticated but forbidden (403); a missing or invalid one is 401.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt

ALGORITHM = "HS256"


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
    kind: Literal["admin", "service"],
    ttl_seconds: int = 3600,
    subject: str | None = None,
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
    else:
        claims["role"] = "service_role"
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
