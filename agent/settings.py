"""Process settings from the environment (``OVERTURE_`` prefix) and an optional ``.env``.

Every setting left unset selects the embedded default: a SQLite file under the data
directory, an in-memory broker with a worker inside ``overture serve``, the offline model
and sandbox channels.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _async_url(url: str) -> str:
    """Give a database URL the async driver Overture uses for its dialect."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("postgresql+psycopg2://"):
        return "postgresql+asyncpg://" + url[len("postgresql+psycopg2://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OVERTURE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./overture-data"), description="Where embedded state lives.")
    database_url: str | None = Field(default=None, description="Unset: SQLite file under data_dir.")
    broker_url: str | None = Field(default=None, description="Unset: in-memory broker, in-process worker.")
    model: str = Field(default="offline", description="litellm model name; 'offline' is the built-in model.")
    webhook_secret: SecretStr | None = None
    default_region: str = Field(default="US", description="Phone region for numbers written without '+'.")
    worker_threads: int = Field(default=4, ge=1, le=64)
    send_batch: int = Field(default=10, ge=1, le=500, description="Outreaches one send actor claims together "
                            "(one claim transaction): larger sends faster, but a worker killed mid-batch leaves "
                            "more sends unknown.")
    send_result_group: int = Field(default=5, ge=1, le=500, description="Send results recorded per transaction, "
                                   "as they arrive: smaller leaves fewer sends unknown after a crash, larger "
                                   "costs less CPU per send.")
    public_url: str | None = Field(default=None, description="Base URL printed for the inbox.")
    inbound_domain: str | None = Field(default=None, description="The domain whose mail reaches Overture "
                                       "(campaigns' import addresses live there).")
    # smtp://user:pass@host:port (STARTTLS when the server offers it) or smtps:// (implicit TLS);
    # secret because it carries the password.
    smtp_url: SecretStr | None = Field(default=None, description="The email provider's SMTP server.")
    # Both set: every smtp email is DKIM-signed for the domain of its from_address.
    dkim_selector: str | None = None
    dkim_private_key_path: Path | None = None
    planner_lease_s: float = Field(default=30, gt=0, le=3600,
                                   description="How long a planning claim lasts unless its worker renews it.")
    auth_failure_burst: int = Field(default=20, ge=1, description="Failed sign-ins/unknown keys per address at once.")
    auth_failure_rate: float = Field(default=1.0, gt=0, description="Failures per second refilled per address.")
    import_lease_s: float = Field(default=120, gt=0, le=86400,
                                  description="A running import not heard from for this long lost its worker.")
    reconcile_interval_s: float = Field(default=5, gt=0, le=3600, description="Seconds between scheduler ticks.")
    idempotency_pending_s: float = Field(default=60, gt=0, le=3600,
                                         description="An Idempotency-Key whose request never finished frees after this.")
    # The model layer (agent/llm/config.py); unset falls back to its defaults.
    model_timeout: float | None = Field(default=None, gt=0, description="Seconds per model attempt.")
    model_retries: int | None = Field(default=None, ge=0, le=10)
    model_backoff: float | None = Field(default=None, ge=0)
    model_concurrency: int | None = Field(default=None, ge=1, le=1024)
    model_fallbacks: str | None = Field(default=None, description="Comma-separated fallback models.")
    model_api_base: str | None = Field(default=None, description="Endpoint for every non-offline model.")
    model_api_key: SecretStr | None = None
    # SMS and voice providers (agent/channels/twilio.py, vapi.py, retell.py); a base URL is only
    # changed to point at a local test server or a regional edge.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_base_url: str = "https://api.twilio.com"
    vapi_api_key: SecretStr | None = None
    vapi_base_url: str = "https://api.vapi.ai"
    retell_api_key: SecretStr | None = None
    retell_base_url: str = "https://api.retellai.com"
    # The longest a placed call may run: its outreach stays executing (leased) for the ring
    # timeout plus this plus a grace for the report, then the reconciler takes it as lost.
    voice_max_call_s: int = Field(default=1800, ge=60, le=4 * 3600)
    # Observability (agent/logs.py, agent/metrics.py).
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object a log line.")
    metrics_token: SecretStr | None = Field(default=None, description="Bearer token GET /metrics asks for; unset: "
                                            "served to loopback clients only.")

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return _async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'overture.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings (loaded on first use)."""
    global _current
    if _current is None:
        _current = Settings()
    return _current


def use_settings(settings: Settings) -> Settings:
    """Install ``settings`` as the process-wide settings (the CLI and tests do this)."""
    global _current
    _current = settings
    return settings
