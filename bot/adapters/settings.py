"""The process's settings, from environment variables (names are part of the contract).

Built from a mapping passed in at the edge (`Settings.from_env(os.environ)` in a face), never read
at import time. It lives outside bot.core because it knows the environment; the core gets only
the values it needs, and each repo's settings come from bot.core.repo_settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath

from bot.core.caps import (
    DEFAULT_COMMANDS_PER_AUTHOR,
    DEFAULT_COMMANDS_PER_REPO,
    DEFAULT_REVIEWS_PER_AUTHOR,
    DEFAULT_REVIEWS_PER_REPO,
    Caps,
)
from bot.core.cost import DEFAULT_THROUGHPUT, Throughput
from bot.core.economics import GpuBilling, GpuCost
from bot.core.routing import Models
from bot.core.trust import Untrusted

DEFAULT_FRONTIER_MODEL = "claude-sonnet-5-5"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_DATABASE_URL = "sqlite:///tierbot.sqlite3"
DEFAULT_WORKERS = 2
DEFAULT_LEASE_SECONDS = 60
DEFAULT_FEEDBACK_INTERVAL_SECONDS = 3600
DEFAULT_JOB_GIVE_UP_SECONDS = 7200
DEFAULT_HEADER_TIMEOUT_SECONDS = 10
DEFAULT_BODY_TIMEOUT_SECONDS = 20
DEFAULT_MAX_CONNECTIONS = 2048
DEFAULT_LOCAL_CONTEXT_TOKENS = 8192


class SettingsError(ValueError):
    """A process setting that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Process settings. Names of the environment variables are part of the contract."""

    frontier_model: str = DEFAULT_FRONTIER_MODEL
    local_model_dir: str | None = None
    local_context_tokens: int = DEFAULT_LOCAL_CONTEXT_TOKENS
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    github_token: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    gpu_billing: GpuBilling = GpuBilling.OWNED
    gpu_hour_usd: Decimal | None = None
    gpu_marginal_hour_usd: Decimal | None = None
    gpu_utilisation: Decimal | None = None
    local_prefill_tokens_per_second: Decimal | None = None
    local_decode_tokens_per_second: Decimal | None = None
    frontier_budget_usd: Decimal | None = None
    prices_file: str | None = None
    github_app_id: int | None = None
    github_private_key: str | None = None
    github_private_key_file: str | None = None
    webhook_secret: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    workers: int = DEFAULT_WORKERS
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    feedback_interval_seconds: int = DEFAULT_FEEDBACK_INTERVAL_SECONDS
    github_app_slug: str | None = None
    job_give_up_seconds: int = DEFAULT_JOB_GIVE_UP_SECONDS
    header_timeout_seconds: int = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: int = DEFAULT_BODY_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    untrusted_authors: Untrusted = Untrusted.AUTO
    reviews_per_author_hour: int = DEFAULT_REVIEWS_PER_AUTHOR
    reviews_per_repo_hour: int = DEFAULT_REVIEWS_PER_REPO
    commands_per_author_hour: int = DEFAULT_COMMANDS_PER_AUTHOR
    commands_per_repo_hour: int = DEFAULT_COMMANDS_PER_REPO

    @property
    def caps(self) -> Caps:
        """The hourly caps on work for accounts without write access (bot.core.caps)."""
        return Caps(
            reviews_per_author=self.reviews_per_author_hour,
            reviews_per_repo=self.reviews_per_repo_hour,
            commands_per_author=self.commands_per_author_hour,
            commands_per_repo=self.commands_per_repo_hour,
        )

    @property
    def on_postgres(self) -> bool:
        """Whether TIERBOT_DATABASE_URL names PostgreSQL (the scale-out mode)."""
        return is_postgres_url(self.database_url)

    @property
    def gpu_cost(self) -> GpuCost:
        """What the local GPU costs (bot.core.economics): how it is paid for, its hourly and
        marginal costs and its utilisation, each not set at its default for that billing."""
        return GpuCost.of(
            self.gpu_billing,
            hour_usd=self.gpu_hour_usd,
            marginal_hour_usd=self.gpu_marginal_hour_usd,
            utilisation=self.gpu_utilisation,
        )

    @property
    def throughput(self) -> Throughput:
        """The local worker's prompt and output tokens per second, for estimates before a
        review runs; each not set at the published figure (bot.core.cost.Throughput)."""
        return Throughput(
            self.local_prefill_tokens_per_second or DEFAULT_THROUGHPUT.prefill_tokens_per_second,
            self.local_decode_tokens_per_second or DEFAULT_THROUGHPUT.decode_tokens_per_second,
        )

    @property
    def database_path(self) -> str:
        """The SQLite file of the embedded defaults, from a `sqlite:///PATH` URL or a bare path."""
        url = self.database_url
        if url.startswith("sqlite:///"):
            return url[len("sqlite:///") :]
        if "://" in url:
            raise SettingsError(
                f"TIERBOT_DATABASE_URL {url.split('://')[0]}:// is not a SQLite file, which this "
                "command needs (sqlite:///PATH); on PostgreSQL, `tierbot serve` runs web "
                "replicas and `tierbot worker` runs the jobs"
            )
        return url

    @property
    def local_model(self) -> str:
        """A name for the local model: its folder's name, or `local` when none is configured."""
        if self.local_model_dir:
            return PurePosixPath(self.local_model_dir.rstrip("/")).name or "local"
        return "local"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (pass `os.environ` at the edge)."""

        def text(name: str) -> str | None:
            return env.get(name, "").strip() or None

        settings = cls(
            frontier_model=text("TIERBOT_FRONTIER_MODEL") or DEFAULT_FRONTIER_MODEL,
            local_model_dir=text("TIERBOT_LOCAL_MODEL_DIR"),
            local_context_tokens=_env_whole(env, "TIERBOT_LOCAL_CONTEXT_TOKENS", 512)
            or DEFAULT_LOCAL_CONTEXT_TOKENS,
            anthropic_api_key=text("ANTHROPIC_API_KEY"),
            anthropic_base_url=text("ANTHROPIC_BASE_URL"),
            github_token=text("GITHUB_TOKEN"),
            github_api_url=text("TIERBOT_GITHUB_API_URL") or DEFAULT_GITHUB_API_URL,
            gpu_billing=_env_billing(env, "TIERBOT_GPU_BILLING"),
            gpu_hour_usd=_env_dollars(env, "TIERBOT_GPU_HOUR_USD"),
            gpu_marginal_hour_usd=_env_dollars(env, "TIERBOT_GPU_MARGINAL_HOUR_USD"),
            gpu_utilisation=_env_share(env, "TIERBOT_GPU_UTILISATION"),
            local_prefill_tokens_per_second=_env_rate(
                env, "TIERBOT_LOCAL_PREFILL_TOKENS_PER_SECOND"
            ),
            local_decode_tokens_per_second=_env_rate(env, "TIERBOT_LOCAL_DECODE_TOKENS_PER_SECOND"),
            frontier_budget_usd=_env_dollars(env, "TIERBOT_FRONTIER_BUDGET_USD"),
            prices_file=text("TIERBOT_PRICES_FILE"),
            github_app_id=_env_whole(env, "TIERBOT_GITHUB_APP_ID", 1),
            github_private_key=text("TIERBOT_GITHUB_PRIVATE_KEY"),
            github_private_key_file=text("TIERBOT_GITHUB_PRIVATE_KEY_FILE"),
            webhook_secret=text("TIERBOT_WEBHOOK_SECRET"),
            database_url=text("TIERBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
            workers=_env_whole(env, "TIERBOT_WORKERS", 1) or DEFAULT_WORKERS,
            lease_seconds=_env_whole(env, "TIERBOT_LEASE_SECONDS", 1) or DEFAULT_LEASE_SECONDS,
            feedback_interval_seconds=_env_whole(env, "TIERBOT_FEEDBACK_INTERVAL_SECONDS", 1)
            or DEFAULT_FEEDBACK_INTERVAL_SECONDS,
            github_app_slug=_env_slug(env, "TIERBOT_GITHUB_APP_SLUG"),
            job_give_up_seconds=_env_whole(env, "TIERBOT_JOB_GIVE_UP_SECONDS", 1)
            or DEFAULT_JOB_GIVE_UP_SECONDS,
            header_timeout_seconds=_env_whole(env, "TIERBOT_HEADER_TIMEOUT_SECONDS", 1)
            or DEFAULT_HEADER_TIMEOUT_SECONDS,
            body_timeout_seconds=_env_whole(env, "TIERBOT_BODY_TIMEOUT_SECONDS", 1)
            or DEFAULT_BODY_TIMEOUT_SECONDS,
            max_connections=_env_whole(env, "TIERBOT_MAX_CONNECTIONS", 1)
            or DEFAULT_MAX_CONNECTIONS,
            untrusted_authors=_env_untrusted(env, "TIERBOT_UNTRUSTED_AUTHORS"),
            reviews_per_author_hour=_env_whole(env, "TIERBOT_REVIEWS_PER_AUTHOR_HOUR", 1)
            or DEFAULT_REVIEWS_PER_AUTHOR,
            reviews_per_repo_hour=_env_whole(env, "TIERBOT_REVIEWS_PER_REPO_HOUR", 1)
            or DEFAULT_REVIEWS_PER_REPO,
            commands_per_author_hour=_env_whole(env, "TIERBOT_COMMANDS_PER_AUTHOR_HOUR", 1)
            or DEFAULT_COMMANDS_PER_AUTHOR,
            commands_per_repo_hour=_env_whole(env, "TIERBOT_COMMANDS_PER_REPO_HOUR", 1)
            or DEFAULT_COMMANDS_PER_REPO,
        )
        _check_gpu(settings)
        return settings

    def app_problems(self) -> list[str]:
        """What the GitHub App mode still needs, in the names of the variables to set."""
        problems = []
        if self.github_app_id is None:
            problems.append("TIERBOT_GITHUB_APP_ID (the App's id)")
        if not (self.github_private_key or self.github_private_key_file):
            problems.append(
                "TIERBOT_GITHUB_PRIVATE_KEY or TIERBOT_GITHUB_PRIVATE_KEY_FILE (the App's key)"
            )
        if not self.webhook_secret:
            problems.append("TIERBOT_WEBHOOK_SECRET (the App's webhook secret)")
        return problems


def _env_whole(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < minimum:
        raise SettingsError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return int(value)


def _env_slug(env: Mapping[str, str], name: str) -> str | None:
    """An App's slug as GitHub spells it in the App's URL: letters, digits and hyphens."""
    value = env.get(name, "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,98}[A-Za-z0-9])?", value):
        raise SettingsError(
            f"{name} must be the App's slug (letters, digits and hyphens, as in "
            f"github.com/apps/SLUG), not {value!r}"
        )
    return value


def _env_untrusted(env: Mapping[str, str], name: str) -> Untrusted:
    """The most any repo may let accounts without write access have (bot.core.trust.Untrusted)."""
    value = env.get(name, "").strip().lower()
    if not value:
        return Untrusted.AUTO
    if value not in {u.value for u in Untrusted}:
        raise SettingsError(f"{name} must be none, local or auto, not {value!r}")
    return Untrusted(value)


def _env_billing(env: Mapping[str, str], name: str) -> GpuBilling:
    """How the local GPU is paid for (bot.core.economics.GpuBilling)."""
    value = env.get(name, "").strip().lower()
    if not value:
        return GpuBilling.OWNED
    if value not in {b.value for b in GpuBilling}:
        raise SettingsError(f"{name} must be owned, sunk or rented, not {value!r}")
    return GpuBilling(value)


def _check_gpu(settings: Settings) -> None:
    """The GPU settings agree with how the GPU is paid for."""
    billing = settings.gpu_billing
    if billing is GpuBilling.RENTED and settings.gpu_hour_usd is None:
        raise SettingsError(
            "TIERBOT_GPU_BILLING=rented needs TIERBOT_GPU_HOUR_USD, the GPU's price per hour"
        )
    if billing is GpuBilling.SUNK and settings.gpu_hour_usd is not None:
        raise SettingsError(
            "TIERBOT_GPU_BILLING=sunk counts no hourly cost: unset TIERBOT_GPU_HOUR_USD, and set "
            "the cost of a busy hour (power) with TIERBOT_GPU_MARGINAL_HOUR_USD"
        )


def _env_share(env: Mapping[str, str], name: str) -> Decimal | None:
    """A share above 0 and at most 1, like 0.25."""
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        share = Decimal(value)
    except InvalidOperation:
        share = Decimal(-1)
    if not share.is_finite() or not 0 < share <= 1:
        raise SettingsError(f"{name} must be a share above 0, at most 1, like 0.25, not {value!r}")
    return share


def _env_rate(env: Mapping[str, str], name: str) -> Decimal | None:
    """A positive number of tokens per second."""
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        rate = Decimal(value)
    except InvalidOperation:
        rate = Decimal(-1)
    if not rate.is_finite() or rate <= 0:
        raise SettingsError(f"{name} must be a positive number of tokens per second, not {value!r}")
    return rate


def _env_dollars(env: Mapping[str, str], name: str) -> Decimal | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise SettingsError(f"{name} must be an amount in US dollars, like 0.25, not {value!r}")
    return amount


def models_for(
    settings: Settings,
    *,
    local_unavailable: str | None = None,
    frontier_unavailable: str | None = None,
) -> Models:
    """The models routing sees for these settings, with the reason each cannot run (None: it
    can). The one place a `Models` is built from settings."""
    return Models(
        local=settings.local_model,
        frontier=settings.frontier_model,
        local_window=settings.local_context_tokens,
        local_unavailable=local_unavailable,
        frontier_unavailable=frontier_unavailable,
    )


def is_postgres_url(url: str) -> bool:
    """Whether `url` names PostgreSQL: `postgresql://`, `postgres://`, or either with a driver
    (`postgresql+psycopg://`)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.split("+")[0] in ("postgresql", "postgres")
