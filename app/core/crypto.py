"""Social tokens at rest: Fernet (AES-128-CBC + HMAC-SHA256) with TOKEN_ENCRYPTION_KEY."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class TokenCipher:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(blob)).decode()
        except InvalidToken:
            # Never echo the blob: it is as sensitive as the token.
            raise ValueError(
                "a stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY"
            ) from None


def last4(token: str) -> str:
    return token[-4:] if len(token) >= 8 else "****"
