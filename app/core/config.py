"""Settings (docs/operations.md, "Configuration"), read from the environment by pydantic-settings.

In development, missing secrets are generated once and kept under ``DATA_DIR`` so that the CLI
(``autonomous-ops token``) and the running service agree on them. In production they must be given
and strong, or the service refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WEAK_SECRETS = {"secret", "changeme", "changethis", "password", "jwt-secret", "development"}
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str | None = None
    data_dir: Path = Path("./.data")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    app_env: Literal["development", "production"] = "development"
    jwt_secret: SecretStr | None = None
    jwt_audience: str = "authenticated"
    token_encryption_key: SecretStr | None = None
    migrate_on_start: bool = True
    scheduler_enabled: bool = True
    cycle_cron: str = "0 * * * *"
    dispatch_interval_seconds: float = Field(default=15, gt=0)
    trigger_batch_size: int = Field(default=500, ge=1, le=10_000)
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)
    webhook_retry_base_seconds: float = Field(default=10, gt=0, le=3600)
    webhook_retry_cap_seconds: float = Field(default=3600, gt=0, le=86_400)
    backtest_timeout_seconds: float = Field(default=3600, ge=1, le=86_400)
    query_timeout_seconds: float = Field(default=60, ge=1, le=3600)
    social_publisher: Literal["sandbox", "live"] = "sandbox"
    facebook_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_graph_url: str = "https://graph.facebook.com"
    meta_api_version: str = Field(default="v25.0", pattern=r"^v[0-9]{1,3}\.[0-9]$")
    meta_purchase_types: str = Field(
        default="purchase,omni_purchase", pattern=r"^[a-z0-9_.]+(,[a-z0-9_.]+)*$", max_length=500
    )
    meta_async_rows: int = Field(default=10_000, ge=1, le=10_000_000)
    google_ads_api_url: str = "https://googleads.googleapis.com"
    google_ads_api_version: str = Field(default="v26", pattern=r"^v[0-9]{1,3}$")
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    sync_interval_minutes: int = Field(default=60, ge=1, le=1440)
    sync_lookback_days: int = Field(default=7, ge=1, le=28)
    sync_backfill_days: int = Field(default=90, ge=1, le=1096)
    sync_lease_seconds: int = Field(default=300, ge=30, le=3600)
    # A platform change's sender holds it this long; past it, another sender takes it and reads first.
    change_lease_seconds: int = Field(default=300, ge=5, le=3600)
    manual_account_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    x_api_url: str = "https://api.x.com"
    public_base_url: str | None = None
    demo_data: bool | None = None
    demo_value_per_conversion: float = Field(default=100.0, gt=0, allow_inf_nan=False)
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    media_fetch_allow_private: bool = False
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @field_validator("cycle_cron")
    @classmethod
    def _valid_cron(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(v, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"CYCLE_CRON is not a crontab expression: {exc}") from None
        return v

    @field_validator("database_url")
    @classmethod
    def _blank_is_unset(cls, v: str | None) -> str | None:
        return v or None

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Settings:
        if self.app_env != "production":
            return self
        problems = []
        jwt = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if len(jwt) < MIN_SECRET_LENGTH or jwt.lower() in WEAK_SECRETS or len(set(jwt)) < 10:
            problems.append(
                f"JWT_SECRET must be set to a random string of at least {MIN_SECRET_LENGTH} characters"
            )
        key = self.token_encryption_key.get_secret_value() if self.token_encryption_key else ""
        if not _is_fernet_key(key):
            problems.append("TOKEN_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes)")
        if self.media_fetch_allow_private:
            problems.append(
                "MEDIA_FETCH_ALLOW_PRIVATE must be false (it is for tests and local fakes)"
            )
        if problems:
            raise ValueError("; ".join(problems) + " when APP_ENV=production")
        return self

    @property
    def purchase_types(self) -> tuple[str, ...]:
        """The Meta action types one purchase is counted from, the first a row carries."""
        return tuple(self.meta_purchase_types.split(","))

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def load_demo_data(self) -> bool:
        # Never with DATABASE_URL: demo rows must not land in a real database by accident.
        return self.embedded and (self.demo_data is None or self.demo_data)

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    def jwt_key(self) -> str:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return _dev_secret(self.data_dir / "jwt_secret", lambda: secrets.token_urlsafe(48))

    def encryption_key(self) -> str:
        if self.token_encryption_key is not None:
            return self.token_encryption_key.get_secret_value()
        return _dev_secret(
            self.data_dir / "token_encryption_key",
            lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def _dev_secret(path: Path, make: Callable[[], str]) -> str:
    """Return the development secret kept at ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.touch(mode=0o600)
    path.write_text(value)
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
