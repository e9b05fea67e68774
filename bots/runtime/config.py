"""Configuration: one YAML file, validated at start-up, every error naming its key and line.

``${VAR}`` in any string value is replaced by the environment variable VAR
(``${VAR:-default}`` gives a default), so secrets live in the environment,
never in the file. Unknown keys are errors, not silently ignored: a typo in a
config file should stop the bot, not quietly disable a feature.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters.model import Role, TimeWindow
from adapters.shards import shard_count_problem, shard_ids_problem
from bots.dashboard.auth import DashboardSettings as DashboardSection  # its own module: no web stack loaded

__all__ = ["Config", "ConfigError", "load_config", "default_config", "DEFAULT_CONFIG_FILE"]

DEFAULT_CONFIG_FILE = "config.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    name: str = Field("liveroom", min_length=1, max_length=64, description="the bot's display name")
    command_prefix: str = Field("/", min_length=1, max_length=3)


class ConsoleSection(_Section):
    enabled: bool = True
    room: str = Field("demo", min_length=1, max_length=64)
    user: str = Field("you", min_length=1, max_length=64)
    prompt: bool = True


class DiscordRolesSection(_Section):
    """Discord role names (case-insensitive) that make someone a host or a moderator.

    Whatever their role names, the guild owner and members with the
    Administrator permission are hosts, and members with Manage Messages or
    Manage Server are mods.
    """

    host: tuple[str, ...] = ("Host", "Streamer", "Owner")
    mod: tuple[str, ...] = ("Moderator", "Mod")


def _shard_count(value: Any) -> int | Literal["auto"] | None:
    if isinstance(value, str) and value.strip().isdigit():  # from ${VAR}
        value = int(value)
    problem = shard_count_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _shard_ids(value: tuple[int, ...] | None, info: Any) -> tuple[int, ...] | None:
    """adapters.discord.shard_ids: shards of an integer shard_count, each once (``info.data``: the keys before)."""
    if value is None or "shard_count" not in info.data:  # a bad shard_count is reported on its own
        return value
    problem = shard_ids_problem(info.data["shard_count"], value)
    if problem is not None:
        raise ValueError(problem)
    return value


class DiscordSection(_Section):
    """A Discord bot (discord.py). Needs the Message Content intent enabled in the developer portal."""

    enabled: bool = False
    token: str = Field("", repr=False, description="write ${DISCORD_TOKEN}; never the token itself")
    guild_ids: tuple[int, ...] = Field((), description="guilds to sync slash commands to at once (development)")
    roles: DiscordRolesSection = DiscordRolesSection()
    channel_budget: int = Field(5, ge=1, le=50, description="messages per channel per 5 seconds")
    api_base: str | None = Field(None, description="REST base URL override (tests, proxies)")
    gateway_url: str | None = Field(None, description="gateway URL override (tests, proxies)")
    shard_count: Annotated[Any, AfterValidator(_shard_count)] = Field(  # int | "auto" | None; one clear error
        None, description="gateway shards, for bots in thousands of servers: null for one connection, "
                          "auto for as many as Discord recommends, or a number")
    shard_ids: Annotated[tuple[int, ...] | None, AfterValidator(_shard_ids)] = Field(
        None, description="the shards this process runs (0 to shard_count - 1), to split a big bot over "
                          "several ingress processes; null: all of them")


class TelegramSection(_Section):
    """A Telegram bot (python-telegram-bot). Talk to @BotFather to create one and get its token."""

    enabled: bool = False
    token: str = Field("", repr=False, description="write ${TELEGRAM_TOKEN}; never the token itself")
    base_url: str = Field("https://api.telegram.org/bot", description="Bot API server; self-hosted or a test server")
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = Field(None, description="public HTTPS URL Telegram calls in webhook mode")
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_secret: str = Field("", repr=False, description="write ${TELEGRAM_WEBHOOK_SECRET}")
    admin_cache_seconds: float = Field(300, ge=0, le=86400)
    group_messages_per_minute: int = Field(20, ge=1, le=60)


class FeedSection(_Section):
    """A local HTTP endpoint for the host's speech (speech-to-text, captions) and viewer counts.

    Events posted to ``/rooms/<platform:room_id>/...`` join that room of the other
    enabled adapters. Every request needs ``Authorization: Bearer <token>``.
    """

    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1, description="listen address; keep it loopback")
    port: int = Field(8765, ge=0, le=65535, description="0 picks a free port")
    token: str = Field("", repr=False, description="write ${LIVEROOM_FEED_TOKEN}; never the token itself")
    host_name: str = Field("host", min_length=1, max_length=64,
                           description="who speaks when a request names no speaker")
    max_body_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)
    # Slow or idle clients (a byte a second, or nothing at all) must not hold the endpoint.
    header_timeout: float = Field(10.0, gt=0, le=3600,
                                  description="seconds to send a request's headers; then the connection closes")
    body_timeout: float = Field(10.0, gt=0, le=3600, description="seconds to send a request's body; then 408")
    max_connections: int = Field(100, ge=1, le=100000, description="open connections at most; more get 503")


class AdaptersSection(_Section):
    console: ConsoleSection = ConsoleSection()
    discord: DiscordSection = DiscordSection()
    telegram: TelegramSection = TelegramSection()
    feed: FeedSection = FeedSection()

    @model_validator(mode="after")
    def _tokens_for_enabled_platforms(self) -> "AdaptersSection":
        for name, env in (("discord", "DISCORD_TOKEN"), ("telegram", "TELEGRAM_TOKEN"),
                          ("feed", "LIVEROOM_FEED_TOKEN")):
            section = getattr(self, name)
            if section.enabled and not section.token:
                raise ValueError(f"adapters.{name} is enabled but its token is empty: write "
                                 f"token: ${{{env}}} and set the environment variable {env}")
        if self.telegram.enabled and self.telegram.mode == "webhook" and not self.telegram.webhook_url:
            raise ValueError("adapters.telegram.mode is webhook but webhook_url is not set")
        return self


class ReplaySection(_Section):
    max_line_bytes: int = Field(65536, ge=256, le=16 * 1024 * 1024)
    speed: float = Field(1.0, gt=0, le=10000)


class DatabaseSection(_Section):
    url: str | None = Field(None, description="SQLAlchemy URL; default sqlite under the data dir")
    flush_interval: float = Field(0.5, gt=0, le=1.0)
    batch_size: int = Field(1000, ge=1, le=50000)


class LimitsSection(_Section):
    max_message_chars: int = Field(2000, ge=16, le=100000)
    #: Replayed lines and feed posts carry their own timestamps: ones further from now are refused.
    event_time_past_days: int = Field(3650, ge=1, le=36500)
    event_time_future_hours: float = Field(24, ge=0, le=24 * 366)

    def time_window(self) -> TimeWindow:
        """The window of believable event times (`adapters.model.TimeWindow`)."""
        return TimeWindow(past=timedelta(days=self.event_time_past_days),
                          future=timedelta(hours=self.event_time_future_hours))


def _qualified(value: str) -> str:
    platform, sep, ident = value.partition(":")
    if not sep or not platform or not ident:
        raise ValueError("must be 'platform:user_id', e.g. 'telegram:12345'")
    return value


UserKey = Annotated[str, AfterValidator(_qualified)]


class RolesSection(_Section):
    """People given a role by config, as ``platform:user_id`` (``console:alice``, ``telegram:12345``)."""

    hosts: tuple[UserKey, ...] = ()
    mods: tuple[UserKey, ...] = ()

    def role_of(self, user_key: str) -> Role:
        if user_key in self.hosts:
            return Role.HOST
        if user_key in self.mods:
            return Role.MOD
        return Role.VIEWER


class KnowledgeSection(_Section):
    """The knowledge base: a folder of documents and product catalogs the host edits."""

    path: str = Field("knowledge", min_length=1, description="folder, relative to the working directory")
    max_file_mb: float = Field(20, gt=0, le=1024)
    chunk_chars: int = Field(500, ge=100, le=4000)


def _chroma_server_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"https?://[^/\s:]+(:\d{1,5})?/?", value):
        raise ValueError("must look like http://host:port (a Chroma server, `chroma run`), or be left out "
                         "for the embedded index")
    return value.rstrip("/")


class RetrievalSection(_Section):
    embedder: str = Field("minilm", min_length=1,
                          description="minilm (packaged all-MiniLM-L6-v2), hashing, or a sentence-transformers name/path")
    top_k: int = Field(5, ge=1, le=50)
    chroma_url: Annotated[str | None, AfterValidator(_chroma_server_url)] = Field(
        None, description="a Chroma server (http://host:port) that several workers share; "
                          "unset: the embedded index under the data dir")
    chroma_collection: str = Field("liveroom-chunks", min_length=3, max_length=512,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$",
                                   description="the collection on that server (one per knowledge base)")


class AnswersSection(_Section):
    """How the bot answers viewers' questions in the room."""

    enabled: bool = True
    min_confidence: float = Field(0.0, ge=0, le=1,
                                  description="abstain below this retrieval confidence, whatever the answer "
                                              "selection says (0: the selection's calibrated bar decides)")
    max_chars: int = Field(300, ge=60, le=2000)
    bars: dict[Literal["en", "zh"], Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="the confidence an answer needs to be said, per language (0-1); unset: the bars fit on "
                    "labelled questions (docs/answers.md). Lower answers more, higher passes more to the host")
    reader: str = Field("use-multilingual", min_length=1,
                        description="model that reads the meaning of questions and candidate answers in languages "
                                    "the retrieval embedder cannot read (Chinese for the default MiniLM); "
                                    "'use-multilingual' (packaged), any embedder name, or 'none'")
    merge_window: float = Field(30, ge=0, le=600, description="seconds in which the same question is one burst")
    hold: float = Field(1.5, ge=0, le=30, description="seconds to gather a burst before posting its answer")
    cache_ttl: float = Field(600, ge=0, le=86400)


class ProductsSection(_Section):
    """Live product ranking against what the host is saying (docs/products.md)."""

    enabled: bool = True
    window: float = Field(120, ge=10, le=3600, description="seconds of host speech the ranking reads")
    half_life: float = Field(45, ge=1, le=3600, description="a line's weight halves after this many seconds")
    max_lines: int = Field(2000, ge=10, le=100000, description="lines kept per room, newest first")
    rerank_interval: float = Field(0.25, ge=0, le=30, description="a flood of lines is ranked at most this often")
    asked_boost: float = Field(0.5, ge=0, le=5, description="weight of viewers' recent questions about a product")
    asked_half_life: float = Field(300, ge=1, le=86400)
    pin_penalty: float = Field(0.5, ge=0, le=1, description="share of its score a just-pinned product loses")
    pin_half_life: float = Field(300, ge=1, le=86400, description="seconds for that penalty to halve")
    min_relevance: float = Field(0.15, ge=0, le=1, description="below this no product is suggested")
    recommend_count: int = Field(3, ge=1, le=10, description="products offered to a viewer who states a need")
    auto_suggest: bool = Field(False, description="whisper to the host when the top product changes")
    suggest_margin: float = Field(0.1, ge=0, le=1, description="lead the new top product needs to be whispered")
    suggest_min_interval: float = Field(30, ge=0, le=3600)


class AudienceSection(_Section):
    """The audience graph: who talks to whom, communities, helpers, reach (docs/audience.md)."""

    enabled: bool = True
    half_life_days: float = Field(7, gt=0, le=3650, description="an interaction's weight halves after this many days")
    co_window: float = Field(60, ge=0, le=3600, description="seconds in which chatting together counts as a weak tie")
    session_gap: float = Field(1800, ge=60, le=86400, description="a pause this long (seconds) ends a session")
    active_window: float = Field(600, ge=10, le=86400, description="'active now' means seen in this many seconds")
    analyse_interval: float = Field(300, ge=0, le=86400, description="seconds between scheduled analyses; 0 for on demand only")
    reach_runs: int = Field(200, ge=10, le=10000, description="cascade simulations per reach estimate")
    identities: dict[UserKey, UserKey] = Field(
        default_factory=dict, description="one person's other accounts: alias key -> canonical key")

    @model_validator(mode="after")
    def _no_identity_chains(self) -> "AudienceSection":
        chained = sorted(a for a, c in self.identities.items() if c in self.identities)
        if chained:
            raise ValueError(f"audience.identities: {chained[0]} maps to a key that is itself an alias; "
                             "map every alias straight to the canonical key")
        return self


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone: use an IANA name such as 'Asia/Shanghai' or 'UTC'") from None
    return value


TimeZone = Annotated[str, AfterValidator(_zone)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScheduleSection(_Section):
    """Timed messages: stream announcements with reminders, promos that respect the chat (docs/traffic.md)."""

    enabled: bool = True
    timezone: TimeZone = Field("UTC", description="the rooms' time zone unless room_timezones names another")
    room_timezones: dict[str, TimeZone] = Field(default_factory=dict, description="room key -> IANA time zone")
    grace: float = Field(300, ge=0, le=86400, description="a message due while the bot was down still posts this many seconds late")
    reminders: tuple[float, ...] = Field((86400, 3600, 300), description="seconds before a stream to remind the room")
    promo_min_lines: int = Field(5, ge=0, le=10000, description="chat lines needed since a promo's last post")
    promo_max_per_hour: int = Field(4, ge=1, le=60, description="promos per room per hour, all promos together")
    max_promos: int = Field(20, ge=1, le=1000, description="promos one room may have at once")
    max_jobs: int = Field(200, ge=1, le=100000, description="scheduled messages one room may have at once")

    def zone_of(self, room_key: str) -> str:
        return self.room_timezones.get(room_key, self.timezone)


class TrafficSection(_Section):
    """Activity series, forecasts, anomaly notices and stream-time suggestions (docs/traffic.md)."""

    enabled: bool = True
    anomaly_notices: bool = Field(True, description="tell the host and mods about sudden spikes and drops")
    history_days: int = Field(56, ge=1, le=3650, description="days of history the forecast reads")
    slots: int = Field(3, ge=1, le=10, description="stream times /when suggests")
    stream_minutes: int = Field(120, ge=15, le=1440, description="the length of stream /when plans for")
    weekly_suggestions: bool = Field(True, description="post /when's suggestions to the host every week")
    weekly_day: Weekday = "mon"
    weekly_hour: int = Field(10, ge=0, le=23)


ReviewModeName = Literal["auto", "review-risky", "review-all"]


class ModerationSection(_Section):
    """Which answers wait for a moderator, and what corrections become (docs/moderation.md)."""

    enabled: bool = True
    mode: ReviewModeName = Field("auto", description="auto | review-risky (money, unsure, flagged) | review-all")
    rooms: dict[str, ReviewModeName] = Field(default_factory=dict, description="room key -> mode, overriding mode")
    review_confidence: float = Field(0.65, ge=0, le=1,
                                     description="in review-risky, answers below this confidence wait")
    timeout: float = Field(180, ge=5, le=86400,
                           description="seconds an answer waits; then the viewer gets the abstention message")
    holding_message: bool = Field(True, description="tell the viewer a moderator is checking the answer")
    notify_mods: bool = Field(True, description="whisper each new item to the mod or host who spoke last in the room")
    curate_edits: bool = Field(True, description="an edited answer becomes a curated answer in the knowledge folder")
    dispute_minutes: float = Field(60, ge=0, le=10080,
                                   description="after a 👎, similar questions wait for review this long")
    auto_flag_strikes: int = Field(3, ge=0, le=100,
                                   description="spam/abuse lines (classifier) that flag a viewer; 0 turns it off")
    auto_flag_window: float = Field(600, ge=10, le=86400, description="seconds in which those strikes count")


class RetentionSection(_Section):
    """How long the store keeps what it recorded (``liveroom retention apply``); null keeps it forever.

    Reviews still waiting for a moderator are kept whatever their age.
    """

    events_days: int | None = Field(None, ge=1, description="chat, commands, replies, feedback: days to keep")
    questions_days: int | None = Field(None, ge=1, description="the interaction log: days to keep handled questions")
    reviews_days: int | None = Field(None, ge=1, description="decided reviews: days to keep, from the decision")
    actions_days: int | None = Field(None, ge=1, description="the moderation log: days to keep")
    interval_hours: float = Field(24, gt=0, le=24 * 30, description="how often the running bot applies it")


class LLMSection(_Section):
    """An optional OpenAI-compatible model; without one, answers are extractive."""

    base_url: str | None = Field(None, description="e.g. https://api.openai.com/v1 or http://localhost:11434/v1")
    model: str | None = None
    api_key: str = Field("", repr=False, description="write ${OPENAI_API_KEY}; never the key itself")
    timeout: float = Field(6.0, gt=0, le=120)

    @model_validator(mode="after")
    def _both_or_neither(self) -> "LLMSection":
        if bool(self.base_url) != bool(self.model):
            raise ValueError("set both llm.base_url and llm.model, or neither (extractive answers)")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


def _redis_url(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"rediss?://\S+", value):
        raise ValueError("must look like redis://host:6379/0 (or rediss:// for TLS)")
    return value


class DistributedSection(_Section):
    """Rooms spread over worker processes through Redis Streams (docs/scaling.md); unset: one process."""

    redis_url: Annotated[str | None, AfterValidator(_redis_url)] = Field(
        None, repr=False, description="redis://host:6379/0; write ${REDIS_URL} if it holds a password")
    prefix: str = Field("liveroom", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                        description="of every Redis key (two deployments on one Redis differ here)")
    partitions: int = Field(16, ge=1, le=4096, description="rooms are spread over this many streams; "
                                                           "fix it before the first start")
    lease_seconds: float = Field(5.0, ge=1, le=120, description="a dead worker's rooms move after this long")


class LoggingSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: str | None = Field("liveroom.log", description="relative to the data dir; null for none")


class Config(_Section):
    """The whole configuration. Every section has defaults: an empty file is a valid config."""

    bot: BotSection = BotSection()
    adapters: AdaptersSection = AdaptersSection()
    replay: ReplaySection = ReplaySection()
    database: DatabaseSection = DatabaseSection()
    limits: LimitsSection = LimitsSection()
    roles: RolesSection = RolesSection()
    knowledge: KnowledgeSection = KnowledgeSection()
    retrieval: RetrievalSection = RetrievalSection()
    answers: AnswersSection = AnswersSection()
    products: ProductsSection = ProductsSection()
    audience: AudienceSection = AudienceSection()
    traffic: TrafficSection = TrafficSection()
    schedule: ScheduleSection = ScheduleSection()
    retention: RetentionSection = RetentionSection()
    moderation: ModerationSection = ModerationSection()
    dashboard: DashboardSection = DashboardSection()
    llm: LLMSection = LLMSection()
    distributed: DistributedSection = DistributedSection()
    logging: LoggingSection = LoggingSection()

    @model_validator(mode="after")
    def _dashboard_needs_moderation(self) -> "Config":
        if self.dashboard.enabled and not self.moderation.enabled:
            raise ValueError("dashboard.enabled needs moderation.enabled: the dashboard is the moderation queue")
        return self


def default_config() -> Config:
    return Config()


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """The configuration is not usable; ``problems`` lists each bad key with its line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---- YAML with line numbers ------------------------------------------------------------

Path_ = tuple[Any, ...]


def _compose(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML and remember the line of every key and list item."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}

        def walk(n: yaml.Node, path: Path_) -> None:
            if isinstance(n, yaml.MappingNode):
                for key_node, value_node in n.value:
                    child = path + (key_node.value,)
                    lines[child] = key_node.start_mark.line + 1
                    walk(value_node, child)
            elif isinstance(n, yaml.SequenceNode):
                for i, item in enumerate(n.value):
                    lines[path + (i,)] = item.start_mark.line + 1
                    walk(item, path + (i,))

        if node is None:
            return {}, lines
        walk(node, ())
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, path: Path_, file: str, lines: dict[Path_, int],
                problems: list[ConfigProblem], env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, path + (k,), file, lines, problems, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, path + (i,), file, lines, problems, env) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(ConfigProblem(file, lines.get(path), _dotted(path),
                                      f"environment variable {name} is not set "
                                      f"(set it, or write ${{{name}:-default}})"))
        return ""

    return _ENV.sub(repl, value)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(loc: Path_) -> list[str]:
    """Field names of the model section that contains ``loc``'s last key."""
    model: Any = Config
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return sorted(getattr(model, "model_fields", {}))


def _problem_from_error(err: dict[str, Any], file: str, lines: dict[Path_, int]) -> ConfigProblem:
    loc: Path_ = tuple(err["loc"])
    line = None
    for cut in range(len(loc), 0, -1):  # the deepest key that exists in the file
        line = lines.get(loc[:cut])
        if line:
            break
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        message = f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] == "value_error":
        message = str(err.get("ctx", {}).get("error", message))
    elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        message = "should be a section of keys (key: value lines indented under it)"
    # The value itself is never repeated: it may come from an environment variable that holds a secret.
    return ConfigProblem(file, line, _dotted(loc), message)


def _merge(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with ``overrides`` laid over it, section by section (a command's options over the file)."""
    merged = dict(data)
    for key, value in overrides.items():
        below = merged.get(key)
        merged[key] = _merge(below, value) if isinstance(value, Mapping) and isinstance(below, dict) else value
    return merged


def parse_config(text: str, file: str = DEFAULT_CONFIG_FILE,
                 env: dict[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Validate config text; raises `ConfigError` listing every problem at once.

    ``overrides`` are a command's options laid over the file (``liveroom dashboard`` switches the
    dashboard on): they are validated with it, so a problem they reveal (no dashboard password) is
    reported like any other, with the key and the line of its section.
    """
    try:
        data, lines = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(file, line, "", f"not valid YAML: {problem}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(file, 1, "", "the file must be a mapping of sections")])
    problems: list[ConfigProblem] = []
    data = _substitute(data, (), file, lines, problems, dict(os.environ) if env is None else env)
    if overrides:
        data = _merge(data, overrides)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem_from_error(e, file, lines) for e in exc.errors())
        config = None
    if problems or config is None:
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    return config


def load_config(path: str | Path | None, env: dict[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a config file. A missing *default* file means the defaults."""
    if path is None:
        candidate = Path(DEFAULT_CONFIG_FILE)
        if not candidate.exists():
            return parse_config("", DEFAULT_CONFIG_FILE + " (absent: the defaults)", env, overrides)
        path = candidate
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from None
    return parse_config(text, str(path), env, overrides)
