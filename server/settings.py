"""Settings: the only module that reads the environment.

Every setting has a default that runs on a fresh machine: in-memory state, the
offline scripted responder, and a JWT secret generated once and kept in the
state directory (so the CLI and the server agree on it without configuration).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from pipeline.engines import whisper_models
from pipeline.engines.whisper_models import WhisperModelName

ENV_PREFIX = "COMPANION_"

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
IceUrl = Annotated[str, msgspec.Meta(pattern=r"^(stun|turn|turns):[^?\s]+(\?transport=(udp|tcp))?$")]


class IceServer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A STUN or TURN server WebRTC peers gather candidates with (a TURN server needs its credentials)."""

    urls: Annotated[tuple[IceUrl, ...], msgspec.Meta(min_length=1)]
    username: str | None = None
    credential: str | None = None


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the server can be told. Built by `from_env` or directly in tests."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    public_base_url: str | None = None
    """Base URL devices reach this server at (e.g. "https://voice.example.org"); if unset, the address and
    port the request arrived at on the server's own socket (never the request's Host header)."""
    instance_id: str = msgspec.field(default_factory=lambda: f"inst_{uuid.uuid4().hex[:12]}")
    state_dir: Path = Path.home() / ".companion-voice"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Auth
    jwt_secret: str = ""
    """HS256 secret; when empty, one is generated once and kept in `state_dir`."""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "companion-voice"
    device_token_ttl_s: PositiveInt = 365 * 24 * 3600
    operator_token_ttl_s: PositiveInt = 12 * 3600

    # State
    redis_url: str | None = None
    """When set, state and messaging go through Redis and can be shared by many instances."""
    redis_key_prefix: str = "cv:"
    redis_require_persistence: Literal["aof", "any", "none"] = "aof"
    """What the Redis must keep across its restart, checked at start-up (server/state/persistence.py):
    "aof" (the append-only file), "any" (AOF or RDB snapshots, warned), "none" (nothing, warned)."""
    session_ttl_s: PositiveInt = 30 * 60
    """A session expires after this long without a turn."""
    session_retention_s: PositiveInt = 24 * 3600
    """How long an expired session is still known (to answer SESSION_EXPIRED, not 404)."""
    context_keep_last: PositiveInt = 40
    max_open_sessions_per_device: PositiveInt = 10
    """Sessions a device may have open (active, not timed out) at once; `POST /sessions` past it is a
    409 `TOO_MANY_SESSIONS` (end one first). A group activity's sessions are not refused."""
    sessions_per_device_per_hour: NonNegativeInt = 60
    """New sessions per device per hour, across all instances (each is kept `session_retention_s`
    after it ends, with its metadata); past it a 429 `RATE_LIMITED`. 0 disables."""
    presence_ttl_s: PositiveFloat = 90.0
    """A connected device that sends no heartbeat for this long counts as offline."""
    command_ttl_s: PositiveInt = 24 * 3600

    # Operator event stream and alerts (server/events, server/alerts; README "Operator event stream")
    events_retention: PositiveInt = 10_000
    """Operator events kept (about this many: a Redis stream capped with `MAXLEN ~`, or this instance's
    memory); a client resuming from an older `Last-Event-ID` gets a `reset` event first."""
    events_heartbeat_s: PositiveFloat = 15.0
    """An event stream with nothing else to send for this long gets a comment line (a heartbeat)."""
    alert_rules_dir: Path | None = None
    """Per-facility alert rules: `default.toml` (replaces the shipped rules) and `<group_id>.toml` (rules
    for that group's devices, replacing or adding to the defaults by rule id)."""
    alert_retention: PositiveInt = 10_000
    """Alerts kept at most (the oldest go first)."""
    alert_retention_s: PositiveInt = 30 * 24 * 3600
    """Alerts older than this are no longer kept."""
    alert_repeat_s: NonNegativeInt = 120
    """The same rule on the same device raises no new alert within this long of the last one."""
    alert_webhook_urls: str = ""
    """Comma list of http(s) URLs each alert is POSTed to (signed with `alert_webhook_secret`)."""
    alert_webhook_secret: str = ""
    """HMAC-SHA256 key of the webhook signature (at least 16 characters; required with URLs)."""
    alert_webhook_max_attempts: PositiveInt = 8
    """Attempts per delivery (backoff 0.5 s, doubling, at most 60 s between two)."""
    alert_webhook_queue: PositiveInt = 1000
    """Deliveries pending at most (waiting or retrying); past it new ones are dropped (logged)."""

    # Reminders (server/reminders; README "Reminders")
    reminder_poll_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    """The scheduler wakes at least this often (sooner for its own next due time), to see reminders
    due or scheduled by other instances."""
    reminder_lease_s: Annotated[float, msgspec.Meta(ge=10, le=3600)] = 60.0
    """How long an instance holds a due reminder it took; one that dies holding it leaves it to another
    instance after this long."""
    reminder_max: PositiveInt = 10_000
    """Reminders kept at most (finished ones included, until deleted); past it `POST /reminders` is 409."""

    # Limits
    device_requests_per_minute: NonNegativeInt = 600
    """Per device token, across all instances; 0 disables."""
    operator_requests_per_minute: NonNegativeInt = 0
    """Per operator token, across all instances; 0 (the default) disables."""
    dialog_turns_per_minute: NonNegativeInt = 30
    """Dialog turns per device (REST and WebSocket text), across all instances; 0 disables."""
    dialog_audio_max_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 30.0
    """Longest recording `POST /dialog/send` takes (`audio_base64`); longer is a 422 (`too_long`)."""
    max_body_bytes: PositiveInt = 2 * 1024 * 1024
    max_ws_message_bytes: PositiveInt = 1024 * 1024

    # Connections (server/http_limits.py)
    request_header_timeout_s: PositiveFloat = 10.0
    """A request's line and headers must arrive within this long of the connection opening (or of the
    previous response): else 408 and the connection is closed. Idle and slow-loris sockets end here."""
    request_body_timeout_s: PositiveFloat = 60.0
    """A request's body must arrive within this long of its headers: else 408 and closed."""
    max_request_header_bytes: PositiveInt = 32 * 1024
    """Request line and headers together: past it 431 and closed (no more than this is kept)."""
    max_connections: NonNegativeInt = 0
    """Open connections before the oldest ones still sending their headers are closed to make room;
    0: the file-descriptor limit less a reserve (`server.http_limits.connection_budget`)."""

    # WebRTC devices (server/webrtc)
    webrtc_ice_servers: tuple[IceServer, ...] = ()
    """STUN/TURN servers for NAT traversal: a comma list of URLs (`stun:host:3478`), or a JSON list of
    `{"urls": [...], "username": ..., "credential": ...}`; none: host candidates only."""
    webrtc_connect_timeout_s: PositiveFloat = 20.0
    """An answered peer must connect (ICE, DTLS) and open its `events` channel within this long."""
    webrtc_max_peers: PositiveInt = 60
    """WebRTC peers (answered or connected) this instance holds; a new device's offer past it is 503
    `SERVER_BUSY` (a device replacing its own peer is never refused). Each idle peer costs ~1.7 % of a
    core (Opus decoding): 60 is about one of the two cores, the other left for the speech models."""

    # Voice
    voice_enabled: bool = True
    """Load the audio models (VAD, end of turn, ASR, every persona voice) and take audio."""
    whisper_model: WhisperModelName = "tiny.en"
    """The Whisper model that transcribes turns: "tiny.en", or "base" (more accurate, slower; the
    `whisper-base` extra). Ignored when `whisper_model_dir` is set."""
    whisper_model_dir: Path | None = None
    """A CTranslate2 Whisper model directory; the packaged `whisper_model` if unset."""
    asr_workers: PositiveInt = 1
    """Model calls run at once; waiting turns are taken the user waiting first, then by speech end."""
    asr_max_batch: PositiveInt = 8
    """Most turns transcribed by one model call (turns waiting together, with the same window)."""
    asr_cpu_threads: PositiveInt = 2
    """Threads each Whisper call computes on (CTranslate2's intra-op threads)."""
    max_audio_chunk_bytes: PositiveInt = 256 * 1024
    output_lead_ms: NonNegativeInt = 300
    """How far ahead of real-time playback reply audio is sent to a device."""
    turn_confident_silence_ms: NonNegativeInt = 350
    """Silence that ends a turn the end-of-turn model is confident is complete."""
    turn_fallback_silence_ms: NonNegativeInt = 950
    """Silence that ends any turn, whatever the end-of-turn model says."""
    turn_use_transcript: bool = True
    """A finished question or request, or a finished statement the end-of-turn model agrees with,
    ends the turn after the confident silence (pipeline.text.completeness)."""
    audio_url_ttl_s: PositiveInt = 600
    """How long a reply's pre-signed URL works, and its audio is kept (server.voice.reply_audio)."""
    reply_audio_max_bytes: PositiveInt = 256 * 1024 * 1024
    """Reply audio this instance keeps at most, all devices together; past it the oldest goes first."""
    reply_audio_max_bytes_per_device: PositiveInt = 16 * 1024 * 1024
    """Reply audio this instance keeps at most of one device; past it that device's oldest goes first."""

    # Synchronised playback (README, "Synchronised playback")
    media_dir: Path | None = None
    """The media library: files in this folder (not its subfolders) can be played on devices together."""
    media_url_ttl_s: PositiveInt = 3600
    """How long a media item's pre-signed URL, sent to devices with each start or resume, works."""
    playback_lead_s: PositiveFloat = 1.0
    """The least time between an operator's start, pause or resume and the instant devices act on it
    (more when a device's measured round trip needs it)."""

    # Personas and LLM
    personas_dir: Path | None = None
    """A folder of persona files; the library shipped with the package if unset."""
    default_persona_id: str = "companion"
    anthropic_api_key: str = ""
    """When set, personas answer through the Anthropic Messages API; else the offline scripted responder."""
    anthropic_base_url: str | None = None
    anthropic_model: str | None = None
    """Overrides every persona's model when set."""
    llm: Literal["auto", "anthropic", "openai-compatible", "scripted-offline"] = "auto"
    """The engine personas answer through unless their file names one: "auto" is Anthropic when
    `ANTHROPIC_API_KEY` is set, else the OpenAI-compatible server when `openai_base_url` is set, else
    the offline script. An engine chosen without its settings stops start-up."""
    openai_base_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")] | None = None
    """An OpenAI-compatible Chat Completions server on the premises (Ollama, vLLM, llama.cpp's server),
    up to the path before `/chat/completions`, e.g. "http://127.0.0.1:11434/v1"."""
    openai_model: str | None = None
    """The model it serves, for every persona whose file names no `local_model`."""
    openai_api_key: str = ""
    """Sent as `Authorization: Bearer` when set (vLLM `--api-key`, llama.cpp `--api-key`); never read from
    `OPENAI_API_KEY`, so a cloud key is never sent to a local server by accident."""
    openai_timeout_s: PositiveFloat | None = None
    """Longest wait for its answer to start and between two pieces; `llm_timeout_s` if unset."""
    llm_timeout_s: PositiveFloat = 20.0
    llm_max_retries: NonNegativeInt = 1

    @property
    def llm_engine(self) -> Literal["anthropic", "openai-compatible", "scripted-offline"]:
        """The engine personas answer through unless their file names one."""
        if self.llm != "auto":
            return self.llm
        if self.anthropic_api_key:
            return "anthropic"
        return "openai-compatible" if self.openai_base_url else "scripted-offline"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `COMPANION_*` variables (and `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`).

        Values are converted to each field's type; a bad value raises
        `SettingsError` naming the variable.
        """
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for name in cls.__struct_fields__:
            key = ENV_PREFIX + name.upper()
            if key in env:
                raw[name] = env[key]
        if isinstance(ice := raw.get("webrtc_ice_servers"), str):
            raw["webrtc_ice_servers"] = _ice_servers(ice)
        for name, key in (
            ("anthropic_api_key", "ANTHROPIC_API_KEY"),
            ("anthropic_base_url", "ANTHROPIC_BASE_URL"),
        ):
            if name not in raw and env.get(key):
                raw[name] = env[key]
        try:
            settings = msgspec.convert(raw, type=cls, strict=False, dec_hook=_decode_path)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {_env_name(str(exc))}") from None
        _check_whisper_model(settings)
        _check_llm(settings)
        _check_ice_servers(settings)
        return settings.with_secret()

    def with_secret(self) -> Settings:
        """These settings with a JWT secret: the configured one, or the one kept in `state_dir`."""
        if self.jwt_secret:
            return self
        return msgspec.structs.replace(self, jwt_secret=_stored_secret(self.state_dir))


class SettingsError(Exception):
    """The environment holds a value the server cannot use."""


def _check_whisper_model(settings: Settings) -> None:
    """Refuse at start-up a Whisper model whose packages are not installed (not at the first turn)."""
    model = settings.whisper_model
    if not settings.voice_enabled or settings.whisper_model_dir is not None:
        return
    if not whisper_models.is_installed(model):
        extra = whisper_models.extra_for(model)
        raise SettingsError(
            f"{ENV_PREFIX}WHISPER_MODEL={model} needs the `{extra}` extra, which is not installed: "
            f"`bash scripts/uv.sh sync --locked --extra {extra}` "
            f"(or unset {ENV_PREFIX}WHISPER_MODEL for tiny.en)"
        )


def _ice_servers(value: str) -> object:
    """`COMPANION_WEBRTC_ICE_SERVERS`: a JSON list of servers, or a comma list of URLs."""
    value = value.strip()
    if not value.startswith("["):
        return [{"urls": [url.strip()]} for url in value.split(",") if url.strip()]
    try:
        servers = msgspec.json.decode(value)
    except msgspec.DecodeError:
        raise SettingsError(f"invalid setting: {ENV_PREFIX}WEBRTC_ICE_SERVERS is not valid JSON") from None
    for server in servers if isinstance(servers, list) else ():
        if isinstance(server, dict) and isinstance(server.get("urls"), str):
            server["urls"] = [server["urls"]]  # as browsers take it: one URL or a list
    return servers


def _check_ice_servers(settings: Settings) -> None:
    for server in settings.webrtc_ice_servers:
        if any(url.startswith("turn") for url in server.urls) and not (server.username and server.credential):
            name = f"{ENV_PREFIX}WEBRTC_ICE_SERVERS"
            raise SettingsError(f"invalid setting: {name}: a TURN server needs a username and credential")


def _check_llm(settings: Settings) -> None:
    """Refuse at start-up an engine chosen without what it needs (not at a resident's first turn)."""
    if settings.llm == "anthropic" and not settings.anthropic_api_key:
        raise SettingsError(f"{ENV_PREFIX}LLM=anthropic needs ANTHROPIC_API_KEY")
    if settings.llm == "openai-compatible" and not settings.openai_base_url:
        raise SettingsError(f"{ENV_PREFIX}LLM=openai-compatible needs {ENV_PREFIX}OPENAI_BASE_URL")


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value).expanduser()
    raise NotImplementedError


def _env_name(message: str) -> str:
    # msgspec says "... - at `$.port`"; name the variable instead of the field path.
    if "at `$." in message:
        head, _, field = message.rpartition("at `$.")
        return f"{head}in {ENV_PREFIX}{field.rstrip('`').upper()}"
    return message


def _stored_secret(state_dir: Path) -> str:
    path = state_dir / "jwt_secret"
    try:
        secret = path.read_text().strip()
        if secret:
            return secret
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Create with 0600 so the secret is never readable by other users, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
