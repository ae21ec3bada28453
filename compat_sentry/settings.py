"""Settings of the error tracker (SPEC §4.7 names; ``ERRORS_`` prefix overrides)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from core.settings import CommonSettings


class ErrorsSettings(CommonSettings):
    service: ClassVar[str] = "errors"
    env_prefix: ClassVar[str] = "ERRORS_"
    default_port: ClassVar[int] = 5010

    max_body_bytes: int = Field(1_000_000, description="Largest request body accepted, as sent.")
    max_decompressed_bytes: int = Field(
        20_000_000, description="Largest request body accepted after Content-Encoding decoding."
    )
    postmark_api_token: SecretStr | None = Field(None, description="Postmark server token.")
    postmark_from_email: str = Field("errors@example.com", description="Sender of alert mails.")
    postmark_api_url: str = Field(
        "https://api.postmarkapp.com", description="Postmark API base URL (tests point it local)."
    )
    alert_emails: str = Field("", description="Comma-separated alert recipients.")
    alert_on_regression: bool = Field(False, description="Also mail when a resolved error recurs.")
    alert_max_per_hour: int = Field(30, description="Alert mails per hour before one summary.")
    retention_days: int = Field(90, description="Days to keep resolved errors.")
    base_url: str = Field("http://localhost:5010", description="Base URL for dashboard links.")
    rate_limit_per_minute: int = Field(1000, description="Events accepted per project per minute.")
    events_per_group: int = Field(100, description="Newest events kept per error group.")
    default_project: str = Field("flowrent", description="Project created on first start.")

    @property
    def alert_recipients(self) -> list[str]:
        return [a.strip() for a in self.alert_emails.split(",") if a.strip()]
