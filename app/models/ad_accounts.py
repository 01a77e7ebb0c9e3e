from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import MISSING, BaseModel, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from app.models.common import PATTERN_MESSAGES, PRINTABLE_PATTERN, Name200, StrictModel
from app.models.social import Token

AdPlatform = Literal["meta", "google", "manual"]
AccountMode = Literal["observe", "approve", "autopilot"]
AdAccountStatus = Literal["active", "error", "revoked"]
SyncStatus = Literal["running", "succeeded", "failed"]

CURRENCY_PATTERN = r"^[A-Z]{3}$"
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$"
PATTERN_MESSAGES[CURRENCY_PATTERN] = "must be an ISO 4217 currency code, e.g. USD"
PATTERN_MESSAGES[TIMEZONE_PATTERN] = "must be an IANA time zone, e.g. America/Los_Angeles"
CUSTOMER_ID_PATTERN = r"^[0-9]{3}-?[0-9]{3}-?[0-9]{4}$"
PATTERN_MESSAGES[CUSTOMER_ID_PATTERN] = (
    "must be a Google Ads customer id: 10 digits, e.g. 123-456-7890"
)

Currency = Annotated[str, Field(pattern=CURRENCY_PATTERN, description="ISO 4217, e.g. USD")]
Timezone = Annotated[
    str, Field(pattern=TIMEZONE_PATTERN, description="IANA, e.g. America/Los_Angeles")
]
ClientId = Annotated[str, Field(min_length=1, max_length=500, pattern=PRINTABLE_PATTERN)]
CustomerId = Annotated[str, Field(pattern=CUSTOMER_ID_PATTERN)]

META_ACCOUNT = re.compile(r"act_[0-9]{1,20}")
GOOGLE_ACCOUNT = re.compile(r"[0-9]{3}-?[0-9]{3}-?[0-9]{4}")
MANUAL_ACCOUNT = re.compile(r"[^\x00-\x1F\x7F]{1,100}")
ACCOUNT_ID_WORDS = {
    "meta": "must be a Meta ad account id: act_ and digits, e.g. act_1234567890",
    "google": "must be a Google Ads customer id: 10 digits, dashes allowed, e.g. 123-456-7890",
    "manual": "must be 1 to 100 characters without control characters, e.g. client-acme",
}


class AdCredentials(StrictModel):
    """Meta: ``access_token``. Google Ads: ``refresh_token``, ``client_id``, ``client_secret``,
    ``developer_token`` and, for a client of a manager account, ``login_customer_id``."""

    access_token: Token | None = None
    refresh_token: Token | None = None
    client_id: ClientId | None = None
    client_secret: Token | None = None
    developer_token: Token | None = None
    login_customer_id: CustomerId | None = None

    def needed(self, platform: str) -> None:
        """Raises a field error for a credential the platform needs and lacks, or one it does not take."""
        wanted = {
            "meta": {"access_token"},
            "google": {"refresh_token", "client_id", "client_secret", "developer_token"},
        }[platform]
        optional = {"login_customer_id"} if platform == "google" else set()
        given = {k for k, v in self if v is not None}
        for name in sorted(wanted - given):
            raise field_error(f"credentials.{name}", f"is required: {_needs(platform)}")
        for name in sorted(given - wanted - optional):
            raise field_error(f"credentials.{name}", f"is not taken: {_needs(platform)}")

    def plain(self) -> dict[str, str]:
        """The values, for encryption (and for the platform's client); never for a response."""
        out: dict[str, str] = {}
        for name, value in self:
            if isinstance(value, SecretStr):
                out[name] = value.get_secret_value()
            elif value is not None:
                out[name] = value.replace("-", "") if name == "login_customer_id" else value
        return out


def _needs(platform: str) -> str:
    if platform == "meta":
        return "Meta takes access_token"
    return (
        "Google Ads takes refresh_token, client_id, client_secret and developer_token "
        "(and login_customer_id for a client of a manager account)"
    )


def field_error(path: str, message: str) -> PydanticCustomError:
    """A model's error that names its field (the 422 reports it as that field's)."""
    return PydanticCustomError(
        "value_error", message.replace("{", "(").replace("}", ")"), {"path": path}
    )


def account_id_of(platform: str, value: str) -> str:
    """The account id as stored (a Google customer id without its dashes); ValueError in words."""
    pattern = {"meta": META_ACCOUNT, "google": GOOGLE_ACCOUNT, "manual": MANUAL_ACCOUNT}[platform]
    if not pattern.fullmatch(value) or (platform == "manual" and not value.strip()):
        raise field_error("external_id", ACCOUNT_ID_WORDS[platform])
    return value.replace("-", "") if platform == "google" else value


class AdAccountCreate(StrictModel):
    """Connect a Meta or Google Ads account (currency and time zone are read from the platform), or
    make a manual one (name, currency and timezone given) for data pushed or imported by hand."""

    platform: AdPlatform
    external_id: Annotated[str, Field(min_length=1, max_length=100)]
    name: Name200 | None = None
    mode: AccountMode | None = Field(
        default=None,
        description="observe (the default for a connected account), approve or autopilot",
    )
    currency: Currency | None = Field(default=None, description="a manual account's only")
    timezone: Timezone | None = Field(default=None, description="a manual account's only")
    credentials: AdCredentials | None = None

    @model_validator(mode="after")
    def _per_platform(self) -> AdAccountCreate:
        self.external_id = account_id_of(self.platform, self.external_id)
        if self.platform == "manual":
            for name in ("name", "currency", "timezone"):
                if getattr(self, name) is None:
                    raise field_error(name, "is required for a manual account")
            if self.credentials is not None:
                raise field_error("credentials", "a manual account has no platform to connect to")
            if self.mode is not None:
                raise field_error("mode", "a manual account's changes are its rows: it has no mode")
            return self
        for name in ("currency", "timezone"):
            if getattr(self, name) is not None:
                raise field_error(name, "is read from the platform when the account is connected")
        if self.credentials is None:
            raise field_error("credentials", f"are required: {_needs(self.platform)}")
        self.credentials.needed(self.platform)
        return self


class AdAccountUpdate(StrictModel):
    """Rename, rotate the credentials (an account in error becomes active and syncs at once), change the
    mode, or revoke (status revoked: no more syncs) and reactivate."""

    name: Name200 | MISSING = MISSING
    mode: AccountMode | MISSING = MISSING
    status: Literal["active", "revoked"] | MISSING = MISSING
    credentials: AdCredentials | MISSING = MISSING


class AdAccountPublic(BaseModel):
    id: uuid.UUID
    platform: AdPlatform
    external_id: str = Field(
        description="act_<digits> (Meta), 10 digits (Google Ads), or a name (manual)"
    )
    name: str
    currency: str
    timezone: str
    mode: AccountMode
    status: AdAccountStatus
    is_sandbox: bool = Field(description="the demo's sandbox platform: no real account behind it")
    credentials_last4: str | None = Field(
        description="the last 4 characters of the main credential; never more"
    )
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    last_error: str | None
    campaigns: int
    created_at: datetime
    updated_at: datetime


class AdAccountsPublic(BaseModel):
    items: list[AdAccountPublic]
    next_cursor: str | None = None


class AdAccountSyncPublic(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    trigger: Literal["schedule", "api", "cli", "connect"]
    status: SyncStatus
    started_at: datetime
    claimed_at: datetime | None = Field(description="when a worker took it (null: not yet)")
    finished_at: datetime | None
    date_from: date | None = Field(description="the first day read (the account's day)")
    date_to: date | None = Field(description="the last day read (today: its hours)")
    campaigns_read: int
    rows_read: int
    rows_revised: int = Field(description="days whose figures differed from what was stored")
    requests: int
    throttled_seconds: float = Field(
        description="seconds the platform's rate limits held the sync back"
    )
    error: str | None


class AdAccountSyncsPublic(BaseModel):
    items: list[AdAccountSyncPublic]
    next_cursor: str | None = None


class MaturityShares(BaseModel):
    conversions: list[float]
    revenue: list[float]


class AccountMaturityPublic(BaseModel):
    """An account's maturity curve: F(k), the share of a day's final figures reported k whole days
    after it ended (the last is 1)."""

    account_id: uuid.UUID
    source: Literal["learned", "default"] = Field(
        description="learned from the account's revisions, or the settings' default until it has min_days days"
    )
    conversions: list[float]
    revenue: list[float]
    days: int = Field(description="the final days the learned curve comes from")
    min_days: int
    clamped: bool = Field(
        description="revisions contradicted themselves: the curve was kept from falling or passing 1"
    )
    note: str | None = None
    learned_at: datetime | None = None
    learned: MaturityShares | None = Field(
        default=None, description="the learned curve, shown even while the default is used"
    )
