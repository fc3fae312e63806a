"""The daemon's configuration: one TOML file validated by pydantic, `SPOTSCHED_*` overrides.

Unknown keys and bad values are errors naming the key and, for files, the line. The API key is
not part of this file's values: only where to find it (`api_key_file`); see `secrets.py`.

TOML can spell things a setting can never mean: `nan` and `inf`, `true` where a number belongs,
a list, a table or a date where a duration belongs. Each is an error naming the key (never a
crash, never a NaN tick interval). `[runpod] api_url` is where the API key is sent, so it must
be https (plain http only to a loopback address, for the emulator) and carry no user name,
password, query or fragment; its error messages never repeat the URL.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    field_validator,
)

from scheduler.domain.durations import parse_duration
from scheduler.domain.errors import SpotschedError
from scheduler.policy.config import BudgetEnforce, ForeignIdleRule, PolicyConfig, Strategy
from scheduler.runpod.port import ApiChoice

DEFAULT_STATE_DIR = "/var/lib/spotsched"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
ENV_PREFIX = "SPOTSCHED_"


class ConfigError(SpotschedError):
    """The configuration is not valid."""


MAX_DURATION = 10 * 365 * 86400.0
"""Ten years: longer than any setting can mean, short enough for every timer to hold it."""
DEFAULT_TICK_BUDGET = 120.0
MAX_DOLLARS = 1e9
"""A budget above a billion dollars is a typo (or 1e308), not a budget."""


def _kind(v: Any) -> str | None:
    """What a TOML value that cannot be a number is, in the words of the TOML spec."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, list | tuple):
        return "an array"
    if isinstance(v, Mapping):
        return "a table"
    if isinstance(v, date | time):
        return "a date or time"
    return None


def _plain_number(v: Any) -> Any:
    kind = _kind(v)
    if kind is not None:
        raise ValueError(f"expected a number, got {kind}")
    return v


def _seconds(v: Any) -> float:
    kind = _kind(v)
    if kind is not None or not isinstance(v, str | int | float):
        raise ValueError(
            f"expected a duration (seconds or a string like '90s', '1h30m'), got {kind or 'that'}"
        )
    seconds = parse_duration(v)
    if not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number of seconds")
    if seconds > MAX_DURATION:
        raise ValueError("a duration cannot be longer than ten years")
    return seconds


def _printable(v: Any) -> Any:
    """Paths, hosts, URLs and patterns: a control character (NUL, a newline, an escape) in one
    can only be a mistake, and would fail far from here (a NUL in a path raises in `open`)."""
    if isinstance(v, str) and any(unicodedata.category(ch) == "Cc" for ch in v):
        raise ValueError("must not contain control characters (NUL, newlines, escapes)")
    return v


Text = Annotated[str, BeforeValidator(_printable)]
Number = Annotated[FiniteFloat, BeforeValidator(_plain_number)]
"""A float that TOML wrote as a number or the environment as text; never NaN, inf or a bool."""
Count = Annotated[int, BeforeValidator(_plain_number)]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_url(url: str) -> str:
    """`url` if the API key may be sent to it; ValueError naming the rule (not the URL)."""
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("is not a valid URL") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("must be an https:// URL with a host, e.g. https://api.runpod.io/graphql")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not carry a user name or password; the API key comes from RUNPOD_API_KEY, "
            "the systemd credential or api_key_file"
        )
    if "?" in url:
        raise ValueError("must not carry a query (?...); the API key is never sent in the URL")
    if "#" in url:
        raise ValueError("must not carry a fragment (#...)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(
            "must be https: the API key would cross the network in clear text "
            "(plain http is accepted only for a loopback address such as 127.0.0.1)"
        )
    return url


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunPodSection(_Section):
    api: ApiChoice = ApiChoice.AUTO
    """auto: REST v2 for what it offers, GraphQL for the rest while it answers; or one API."""
    api_url: str = "https://api.runpod.io/graphql"
    api_key_file: Text | None = None
    timeout: Number = Field(default=30.0, gt=0, le=600)

    _api_url = field_validator("api_url")(check_api_url)


class DatabaseSection(_Section):
    url: Text | None = None
    """SQLAlchemy URL; default: SQLite file `spotsched.db` in the state directory."""


class SchedulerSection(_Section):
    tick_interval: float = Field(default=30.0, gt=0)
    price_sample_interval: float = Field(default=300.0, gt=0)
    price_retention: float = 30 * 86400.0
    jobs_file: Text | None = None
    stale_after: float = Field(default=300.0, gt=0)
    """`/healthz` fails when the last successful tick is older than this."""
    tick_budget: float = Field(default=DEFAULT_TICK_BUDGET, gt=0, le=3600)
    """The longest one tick may spend; RunPod calls that would run past it end the tick early.
    Keep it well below systemd's WatchdogSec (300 s in the shipped unit)."""
    virtual_clock_url: str | None = None
    """Rehearsals only: take time from `spotsched emulator --virtual-clock` at this loopback URL
    (its `/_emulator` base) instead of the system clock; see `daemon/virtual_clock.py`."""

    _durations = field_validator(
        "tick_interval",
        "price_sample_interval",
        "price_retention",
        "stale_after",
        "tick_budget",
        mode="before",
    )(_seconds)

    @field_validator("virtual_clock_url")
    @classmethod
    def _loopback_only(cls, v: str | None) -> str | None:
        if v is None:
            return v
        url = urlsplit(v)
        if url.scheme not in ("http", "https") or url.hostname not in _LOOPBACK:
            raise ValueError("must be an http(s) URL on loopback (127.0.0.1, ::1 or localhost)")
        return v


class PolicySection(_Section):
    bid_margin: Number = Field(default=0.05, ge=0, le=1)
    changeover_delay: float = 300.0
    launch_grace: float = 90.0
    launch_timeout: float = 1800.0
    resume_wait: float = 600.0
    max_resume_failures: Count = Field(default=3, ge=0)
    orphan_grace: float = 300.0
    strategy: Strategy = Strategy.DEFAULT

    _durations = field_validator(
        "changeover_delay",
        "launch_grace",
        "launch_timeout",
        "resume_wait",
        "orphan_grace",
        mode="before",
    )(_seconds)


class BudgetSection(_Section):
    max_spend_rate: Number | None = Field(default=None, gt=0, le=MAX_DOLLARS)
    """Dollars per hour across all pods the daemon runs; launches and bid-resumes that would
    exceed it wait."""
    daily: Number | None = Field(default=None, gt=0, le=MAX_DOLLARS)
    monthly: Number | None = Field(default=None, gt=0, le=MAX_DOLLARS)
    enforce: BudgetEnforce = BudgetEnforce.LAUNCHES
    """`launches`: a reached daily/monthly budget holds new launches; `running`: it also ends
    running pods (lowest priority first, checkpointed first) and requeues their jobs."""


class ForeignIdleSection(_Section):
    name_pattern: Text
    idle_timeout: float = 1800.0
    threshold: Number = Field(default=5.0, ge=0, le=100)
    action: Literal["stop", "terminate"] = "stop"

    _durations = field_validator("idle_timeout", mode="before")(_seconds)


class MetricsSection(_Section):
    enabled: bool = True
    host: Text = "127.0.0.1"
    port: Count = Field(default=9464, ge=0, le=65535)
    tls_cert_file: Text | None = None
    tls_key_file: Text | None = None


class LogSection(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(_Section):
    state_dir: Text = DEFAULT_STATE_DIR
    runpod: RunPodSection = RunPodSection()
    database: DatabaseSection = DatabaseSection()
    scheduler: SchedulerSection = SchedulerSection()
    policy: PolicySection = PolicySection()
    budget: BudgetSection = BudgetSection()
    foreign_idle: ForeignIdleSection | None = None
    metrics: MetricsSection = MetricsSection()
    log: LogSection = LogSection()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{Path(self.state_dir) / 'spotsched.db'}"

    def policy_config(self) -> PolicyConfig:
        p, b, f = self.policy, self.budget, self.foreign_idle
        return PolicyConfig(
            bid_margin=p.bid_margin,
            changeover_delay=p.changeover_delay,
            launch_grace=p.launch_grace,
            launch_timeout=p.launch_timeout,
            resume_wait=p.resume_wait,
            max_resume_failures=p.max_resume_failures,
            orphan_grace=p.orphan_grace,
            max_spend_rate=b.max_spend_rate,
            daily_budget=b.daily,
            monthly_budget=b.monthly,
            budget_enforce=b.enforce,
            foreign_idle=(
                ForeignIdleRule(f.name_pattern, f.idle_timeout, f.threshold, f.action)
                if f is not None
                else None
            ),
            strategy=p.strategy,
        )


_SECTIONS = (
    "runpod",
    "database",
    "scheduler",
    "policy",
    "budget",
    "foreign_idle",
    "metrics",
    "log",
)


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`SPOTSCHED_METRICS_HOST=0.0.0.0` → {"metrics": {"host": "0.0.0.0"}}."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_PREFIX + "SIM_"):
            continue
        key = name.removeprefix(ENV_PREFIX).lower()
        if key == "state_dir":
            out["state_dir"] = value
            continue
        for section in sorted(_SECTIONS, key=len, reverse=True):
            if key.startswith(section + "_"):
                out.setdefault(section, {})[key.removeprefix(section + "_")] = value
                break
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
            merged[k] = _merge(dict(merged[k]), v)
        else:
            merged[k] = v
    return merged


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line of a key in TOML text (best effort: section header, then `key =`)."""
    lines = text.splitlines()
    start = 0
    keys = [str(k) for k in loc if not isinstance(k, int)]
    if len(keys) == 1:  # a top-level `key =`, else a section header `[key]` or `[key.sub]`
        name = re.escape(keys[0])
        top, section = re.compile(rf"^\s*{name}\s*="), re.compile(rf"^\s*\[\s*{name}\s*[\].]")
        for i, line in enumerate(lines):
            if line.lstrip().startswith("["):
                break
            if top.match(line):
                return i + 1
        return next((i + 1 for i, line in enumerate(lines) if section.match(line)), None)
    if len(keys) > 1:
        header = re.compile(rf"^\s*\[\s*{re.escape(keys[0])}\s*\]\s*$")
        for i, line in enumerate(lines):
            if header.match(line):
                start = i + 1
                break
    pattern = re.compile(rf"^\s*{re.escape(keys[-1])}\s*=") if keys else None
    for i in range(start, len(lines)):
        if pattern is not None and pattern.match(lines[i]):
            return i + 1
        if i > start and len(keys) > 1 and lines[i].lstrip().startswith("["):
            break
    return start if len(keys) > 1 and start else None


def _env_name(loc: tuple[Any, ...], overrides: Mapping[str, Any]) -> str | None:
    """`SPOTSCHED_METRICS_PORT` when the value at `loc` came from the environment."""
    keys = [str(k) for k in loc if not isinstance(k, int)]
    value: Any = overrides
    for k in keys[:2]:
        if not isinstance(value, Mapping) or k not in value:
            return None
        value = value[k]
    return ENV_PREFIX + "_".join(keys[:2]).upper()


def load_settings(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), apply `SPOTSCHED_*` overrides, validate."""
    environ = os.environ if environ is None else environ
    text, data = "", {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    overrides = env_overrides(environ)
    try:
        return Settings.model_validate(_merge(data, overrides))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(k) for k in loc)
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            msg = msg.removeprefix("Value error, ")
            env = _env_name(loc, overrides)
            line = _line_of(text, loc) if text and env is None else None
            if env is not None:
                where = f"{env} (environment): "
            else:
                where = f"{path}:{line}: " if line else (f"{path}: " if path else "")
            problems.append(f"{where}{key}: {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
