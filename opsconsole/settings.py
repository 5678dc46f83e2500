"""Deployment settings: ``opsconsole.toml`` (or ``$OPSCONSOLE_CONFIG``) plus ``OPSCONSOLE_*`` env.

Built once at start-up by :func:`load_settings` and passed in; nothing reads the environment at
import time (DESIGN, boundary 6).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource,
)

from connectors.settings import HubSpotSettings, IntercomSettings, XeroSettings


class RetrySettings(BaseModel):
    """How a failed step is retried before it becomes an exception."""

    max_attempts: int = 6
    """Attempts per step (the first try included) before it becomes an exception."""
    base_delay_s: float = 0.2
    """First backoff delay; doubled each attempt, with full jitter."""
    max_delay_s: float = 30.0
    """Ceiling on one backoff delay (a Retry-After from the vendor is honoured even when longer)."""


class ScheduleSettings(BaseModel):
    """APScheduler jobs (in-memory job store; the lease decides who schedules)."""

    hubspot_poll_s: float = 30.0
    """How often the HubSpot poll looks for approved quotes whose webhook never came."""
    retry_sweep_s: float = 2.0
    """How often the retry sweeper looks for steps whose backoff has elapsed."""
    reconcile_s: float = 3600.0
    """How often reconciliation compares CRM and ERP with the golden record (drift becomes conflicts)."""
    receivables_s: float = 3600.0
    """How often open invoices are re-aged (one that moved to an older bucket is re-read and sent on)."""


class AlertSettings(BaseModel):
    """Alerting (engine/alerting.py): ``[alerts] webhooks = ["https://hooks.slack.com/..."]``."""

    webhooks: list[str] = Field(default_factory=list)
    """Slack-compatible incoming-webhook URLs; each incident's alert and resolution go to every one.
    Empty: no alerting job."""
    check_s: float = 60.0
    """How often the engine evaluates incidents (SLA breaches, connectors, the lease)."""
    connector_down_s: float = 300.0
    """A connector has stopped succeeding when its last call failed and none succeeded for this long."""
    timeout_s: float = 5.0
    """Timeout of one delivery."""
    attempts: int = 3
    """Delivery attempts per check (backoff doubling from ``backoff_s``); then it is recorded as
    failed and tried again at a later check."""
    backoff_s: float = 0.5
    """First delay between delivery attempts."""
    max_per_check: int = 50
    """At most this many notices are posted per check (the rest wait for the next)."""


class RetentionSettings(BaseModel):
    """How long each kind of data is kept, in days (0: for ever); ``opsconsole db prune`` and the
    engine's prune job apply it. The audit log is never pruned (docs/ops.md)."""

    inbox_raw_days: float = 30.0
    """An event's raw body is stripped after this many days (the inbox row, its key and status stay,
    so a re-delivered event is still recognised as a duplicate)."""
    succeeded_runs_days: float = 90.0
    """Succeeded runs, with their steps, are deleted this many days after they last changed."""
    spans_days: float = 30.0
    """Trace spans (with their request and response payloads) are deleted after this many days."""
    closed_exceptions_days: float = 180.0
    """Resolved and closed exceptions are deleted this many days after they were resolved or closed."""
    rejected_webhooks_days: float = 30.0
    """Records of refused webhooks (bad signature or stale timestamp) are deleted after this many days:
    a flood of badly signed deliveries cannot grow the store for ever."""
    resolved_incidents_days: float = 180.0
    """Resolved alerting incidents are deleted this many days after they were resolved, once every
    notice about them has been delivered (an incident still owing a notice is kept)."""
    prune_every_s: float = 3600.0
    """How often the engine prunes by these rules and gives the freed pages back (incremental vacuum);
    0: never (only ``opsconsole db prune`` does)."""
    batch_rows: int = 500
    """Rows per pruning transaction: small, so the engine's writer is never held up for long."""


class WorkflowSettings(BaseModel):
    """How one workflow is triggered (engine/triggers.py): ``[workflows.<name>]``."""

    trigger: str = ""
    """``webhook`` (near real time), ``confirmed`` (waits for the ERP's confirmation) or ``scheduled``
    (batch); empty: the workflow's default. Each workflow accepts only the triggers it supports."""
    every_s: float = 0.0
    """For ``scheduled``: seconds between batches (0: the workflow's default)."""


DEFAULT_SLA: dict[str, float] = {
    "validation": 4 * 3600.0,  # a person fixes the record in the source system, then replays
    "rate_limit": 3600.0,  # the vendor's limit window has passed well within the hour
    "auth": 1800.0,  # every call to that system fails until the credentials are fixed
    "downstream_5xx": 3600.0,
    "timeout": 3600.0,
    "rejected_by_target": 4 * 3600.0,  # like validation: read the target's message, fix the data, replay
    "sequencing": 2 * 3600.0,
    "*": 4 * 3600.0,  # any other category
}
"""Seconds within which an exception of each category should be resolved (``"*"``: the others)."""


class Settings(BaseSettings):
    """All deployment choices. Business rules live in data/, not here."""

    model_config = SettingsConfigDict(env_prefix="OPSCONSOLE_", env_nested_delimiter="__", extra="ignore")

    store_url: str = "sqlite:///var/opsconsole.db"
    """SQLAlchemy URL of the store (SQLite file by default)."""
    var_dir: Path = Path("var")
    """Where the demo keeps its store, logs and the audit head."""
    demo: bool = False
    """Demo mode: start the sandboxes on loopback and point the connectors at them."""
    operator: str = Field(default_factory=lambda: os_account())
    """Who is at this console: the OS account (one per person), never the environment or anything
    else the client controls; a forced command in authorized_keys passes ``--as NAME`` instead."""
    roles: dict[str, list[str]] = Field(default_factory=dict)
    """Roles by operator name, e.g. ``{alice = ["support", "finance"]}``."""
    ingress_host: str = "127.0.0.1"
    """Address the webhook ingress listens on."""
    ingress_port: int = 0
    """Port of the webhook ingress (0: pick a free one)."""
    ingress_public_url: str = ""
    """The URL vendors post webhooks to; HubSpot signs over it. Defaults to the listen address."""
    lease_ttl_s: float = 10.0
    """How long the engine lease lasts without renewal."""
    concurrency: int = 64
    """Runs executed at once (different accounts; one account's runs are serialised)."""
    audit_key: str = "env:OPSCONSOLE_AUDIT_KEY"
    """Credential reference to the HMAC key of the audit chain (kept out of the database)."""
    hubspot: HubSpotSettings = HubSpotSettings()
    """HubSpot CRM v3 connector (its settings model is the connector's own)."""
    xero: XeroSettings = XeroSettings()
    """Xero Accounting connector."""
    intercom: IntercomSettings = IntercomSettings()
    """Intercom connector (customer success)."""
    retry: RetrySettings = RetrySettings()
    """Retry budget and backoff."""
    schedule: ScheduleSettings = ScheduleSettings()
    """Scheduled jobs."""
    retention: RetentionSettings = RetentionSettings()
    """How long inbox raw bodies, succeeded runs, spans and closed exceptions are kept (``[retention]``)."""
    alerts: AlertSettings = AlertSettings()
    """Alert webhooks and how often incidents are evaluated."""
    workflows: dict[str, WorkflowSettings] = Field(default_factory=dict)
    """Sync mode per workflow, e.g. ``[workflows.cs_company_to_crm] trigger = "scheduled"``."""
    http_transport: Literal["lean", "aiohttp", "httpx"] = "lean"
    """httpx transport for vendor requests: ``lean`` (the default: keep-alive HTTP/1.1 on httptools,
    ``connectors/lean_transport.py``, the least CPU per request), ``aiohttp`` (httpx-aiohttp: for
    anything lean refuses, such as proxies) or ``httpx`` (httpx's own, the slowest)."""
    crash_points: dict[str, float] = Field(default_factory=dict)
    """TEST ONLY: fault point name -> probability that the worker SIGKILLs itself there."""
    crash_log: str = ""
    """TEST ONLY: file the worker appends a fault point's name to before it kills itself."""
    log_file: str = ""
    """JSON-lines log destination (empty: var_dir/opsconsole.log)."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Console key overrides: binding id -> keys, e.g. ``{"exceptions.retry" = "ctrl+r"}``."""
    sla: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SLA))
    """Seconds within which an open exception of each category should be resolved, e.g.
    ``[sla] validation = 14400``; ``"*"`` is for any category not named. The dashboard counts open and
    acknowledged exceptions as within SLA (age under half of it), nearing (half to all of it) or
    breached (older). Categories the file leaves out keep their defaults (``DEFAULT_SLA``)."""

    @field_validator("sla")
    @classmethod
    def _sla_over_defaults(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [name for name, seconds in value.items() if not seconds > 0]
        if bad:
            raise ValueError(f"an SLA is a positive number of seconds: {', '.join(sorted(bad))}")
        return {**DEFAULT_SLA, **value}

    def sla_s(self, category: str) -> float:
        """The SLA in seconds of exceptions of ``category``."""
        return self.sla.get(category, self.sla.get("*", DEFAULT_SLA["*"]))

    _config_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _TrustedEnv(settings_cls)]
        toml_path = _CONFIG_PATH.get("path")
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def has_role(self, operator: str, role: str) -> bool:
        return role in self.roles.get(operator, [])


def os_account() -> str:
    """The name of the OS account this process runs as ($USER can be set to anything)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # pragma: no cover - no passwd entry (some containers)
        return "operator"


class _TrustedEnv(EnvSettingsSource):
    """OPSCONSOLE_* variables, except who the operator is and which roles people hold: a shell user
    can set any variable, so identity and roles come only from the OS account and the settings file."""

    UNTRUSTED = ("operator", "roles")

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        for name in self.UNTRUSTED:
            values.pop(name, None)
        return values


_CONFIG_PATH: dict[str, Path | None] = {}


def config_path(env: dict[str, str] | None = None) -> Path | None:
    """The settings file in force, or None when there is none (which means demo mode)."""
    env = os.environ if env is None else env
    explicit = env.get("OPSCONSOLE_CONFIG")
    if explicit:
        return Path(explicit)
    default = Path("opsconsole.toml")
    return default if default.exists() else None


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once: overrides > env > settings file > defaults."""
    _CONFIG_PATH["path"] = path
    try:
        settings = Settings(**overrides)
    finally:
        _CONFIG_PATH.pop("path", None)
    object.__setattr__(settings, "_config_file", path)
    return settings


def settings_problems(exc: ValidationError) -> str:
    """A settings file's validation errors on one line, each naming its key (``xero.sandbox.profile: ...``)."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors())


class CredentialError(KeyError):
    """A credential reference that does not resolve (a KeyError, as callers have long caught)."""

    def __str__(self) -> str:  # KeyError's own quotes its message
        return str(self.args[0]) if self.args else ""


def resolve_secret(ref: str, env: dict[str, str] | None = None) -> str:
    """Resolve a credential reference (``env:NAME``, ``file:PATH``, ``keyring:SERVICE/NAME``, or a
    literal). Raises :class:`CredentialError` saying which reference and why."""
    env = os.environ if env is None else env
    if ref.startswith("env:"):
        name = ref[4:]
        value = env.get(name)
        if value is None:
            raise CredentialError(f"credential {ref!r}: environment variable {name} is not set")
        return value
    if ref.startswith("file:"):
        path = Path(ref[5:])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise CredentialError(f"credential {ref!r}: cannot read {path}: {exc.strerror}") from exc
    if ref.startswith("keyring:"):
        service, _, name = ref[8:].partition("/")
        try:
            import keyring  # optional: only where a keyring is configured
        except ImportError as exc:  # pragma: no cover - depends on the host
            raise CredentialError(f"credential {ref!r}: the keyring package is not installed") from exc
        value = keyring.get_password(service, name)
        if value is None:
            raise CredentialError(f"credential {ref!r}: not found in the keyring")
        return value
    return ref


def mask(secret: str) -> str:
    """A credential as it may appear in logs and errors."""
    return "****" if len(secret) < 8 else secret[:2] + "****" + secret[-2:]
