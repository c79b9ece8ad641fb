"""The shape of a persona file, decoded straight into frozen Structs.

A persona file holds the spec's `PersonaDetail` (§8.4) plus `adaptation_mode`
from `PersonaSummary`. Every Struct rejects unknown fields and every value
carries its limits as `msgspec.Meta`, so a typo or an out-of-range setting
fails at load with the file and field named, not mid-conversation. Frozen
Structs are hashable, so equal voice configurations can share one TTS voice.

`voice_config` is a tagged union on `engine`; `msgspec.to_builtins` writes the
tag back out, so the REST view shows `engine` like any other field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

PersonaId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
"""Lower-case snake case; also the persona file's name (`<id>.toml`)."""
SemVer = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$",
        examples=["1.2.0"],
    ),
]
Tag = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
"""Timezone-aware, so `created_at` and `updated_at` compare without guessing."""
Line = Annotated[str, msgspec.Meta(min_length=1, max_length=1000, pattern=r"\S")]
"""One thing the persona says aloud offline; `{name}` stands for the persona's name."""
NamedLine = Annotated[str, msgspec.Meta(min_length=1, max_length=1000, pattern=r"\{resident\}")]
"""A line that says the resident's name: `{resident}` stands for it."""
Keyword = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"[^\W_]")]
"""A word or phrase, matched against whole words of the user's turn, ignoring case."""
Volume = Annotated[float, msgspec.Meta(ge=0.0, le=2.0)]
"""Output gain: 1.0 leaves the engine's level unchanged."""


class PiperVoice(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="engine", tag="piper"):
    """A Piper neural voice, shaped after synthesis into a persona's own sound."""

    voice: Annotated[
        str, msgspec.Meta(pattern=r"^[a-z]{2,3}_[A-Z]{2}-[A-Za-z0-9_]+-(x_low|low|medium|high)$")
    ]
    """A Piper voice id such as "en_US-joe-medium"."""
    speed: Annotated[float, msgspec.Meta(ge=0.5, le=2.0)] = 1.0
    """Speaking rate, 1.0 = the voice's own; Piper's `length_scale` is `1 / speed`."""
    noise_scale: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.667
    """Variation in delivery; lower is steadier, higher more expressive."""
    noise_w_scale: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.8
    """Variation in phoneme timing (rhythm)."""
    pitch_semitones: Annotated[float, msgspec.Meta(ge=-12.0, le=12.0)] = 0.0
    """Pitch shift applied to the synthesised audio."""
    formant_shift: Annotated[float, msgspec.Meta(ge=0.8, le=1.25)] = 1.0
    """Timbre factor applied after synthesis: above 1.0 sounds smaller and brighter, below 1.0 larger."""
    volume: Volume = 1.0


class EspeakVoice(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="engine", tag="espeak-ng"
):
    """An eSpeak NG formant voice: robotic but tiny, fast and clear at any rate."""

    voice: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)*(\+[A-Za-z0-9_]+)?$")]
    """A language and optional variant, e.g. "en-us+f3"."""
    words_per_minute: Annotated[int, msgspec.Meta(ge=80, le=450)] = 175
    pitch: Annotated[int, msgspec.Meta(ge=0, le=99)] = 50
    pitch_range: Annotated[int, msgspec.Meta(ge=0, le=99)] = 50
    """How much the pitch moves within a sentence; 0 is a monotone."""
    volume: Volume = 1.0


class CoquiVoice(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="engine", tag="coqui"):
    """A Coqui TTS model from a local path.

    Usable only when an operator installs a model on the server and points a
    persona file at it; the shipped library uses none, and nothing is ever
    downloaded at run time.
    """

    model_path: Annotated[
        str, msgspec.Meta(min_length=1, max_length=1024, pattern=r"^(?![A-Za-z][A-Za-z0-9+.-]*://)")
    ]
    """A filesystem path on the server, never a URL."""


VoiceConfig = PiperVoice | EspeakVoice | CoquiVoice


class StyleConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the persona speaks; turned into a short paragraph after the system prompt."""

    tone: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    verbosity: Literal["brief", "normal", "detailed"]
    formality: Literal["casual", "neutral", "formal"]
    max_sentences: Annotated[int, msgspec.Meta(ge=1, le=40)]


EngineChoice = Literal["server", "anthropic", "openai-compatible", "scripted-offline"]
"""Which LLM engine answers for a persona: "server" follows the server's `COMPANION_LLM`."""
ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f\s]+$")]


class LLMConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings for the language model, when one is configured.

    There is no temperature: the Messages API version the SDK speaks rejects
    sampling parameters, so the prompt and style alone shape the voice.
    """

    max_tokens: Annotated[int, msgspec.Meta(ge=16, le=4096)]
    """The reply's ceiling; spoken replies are short, stories longer."""
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "claude-haiku-5-5"
    """Anthropic model id; a fast model suits spoken replies. An operator may override it for all personas."""
    engine: EngineChoice = "server"
    """The engine for this persona; one the server has not been configured for stops start-up."""
    local_model: ModelName | None = None
    """The model on the OpenAI-compatible server ("llama3.2:3b"); `COMPANION_OPENAI_MODEL` if unset."""


class OfflineRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When the user's turn contains any keyword, the offline responder says `reply`."""

    keywords: Annotated[tuple[Keyword, ...], msgspec.Meta(min_length=1, max_length=32)]
    reply: Line


class OfflineScript(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the persona says with no language model: the first matching rule, else a fallback.

    Keywords match whole words, so list plurals too ("pill", "pills").
    """

    rules: Annotated[tuple[OfflineRule, ...], msgspec.Meta(max_length=64)]
    fallbacks: Annotated[tuple[Line, ...], msgspec.Meta(min_length=1, max_length=32)]


class BehaviorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the persona says and how: its prompt, style, model settings and offline script."""

    system_prompt: Annotated[str, msgspec.Meta(min_length=1, max_length=8000, pattern=r"\S")]
    style: StyleConfig
    llm: LLMConfig
    greeting: Line
    offline_script: OfflineScript
    named_greeting: NamedLine | None = None
    """The offline greeting for a resident whose name the session knows (their profile)."""


class Persona(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One persona file: the spec's `PersonaDetail` plus `adaptation_mode`."""

    id: PersonaId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    version: SemVer
    tags: Annotated[tuple[Tag, ...], msgspec.Meta(max_length=16)]
    adaptation_mode: Literal["static", "adaptive", "learning"]
    voice_config: VoiceConfig
    behavior_config: BehaviorConfig
    created_at: Timestamp
    updated_at: Timestamp
