"""The WebRTC benchmark's Markdown, through the shared renderer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.lib.report import (
    SUMMARY_HEADER,
    cpu_line,
    header_line,
    key_value_table,
    summary_cells,
    table,
    title_lines,
)

if TYPE_CHECKING:
    from benchmarks.webrtc.bench import Idle, Report, Turns

TITLE = "WebRTC devices against WebSocket devices"
ALIGN = ["---", *["---:"] * len(SUMMARY_HEADER)]


def markdown(report: Report) -> str:
    lines = title_lines(
        TITLE, report.command, header_line(report.machine, report.generated_at, report.server)
    )
    lines += key_value_table(report.settings.items())
    if report.turns is not None:
        lines += _turns(report.turns)
    if report.idle is not None:
        lines += _idle(report.idle)
    return "\n".join(lines)


def _turns(turns: Turns) -> list[str]:
    lines = [
        "",
        "Voice-to-voice (ms) from the end of the user's speech. The target's figure is the first audible "
        "reply sample (above -41 dBFS) as it reaches the device: the socket's chunks played from their "
        "arrival, the RTP packet that carries it; what a device's playout buffer adds is the device's own "
        "choice (the last two rows show two):",
        "",
    ]
    rows = [
        ["WebSocket, first chunk's arrival", *summary_cells(turns.websocket_first_chunk)],
        ["WebRTC, first reply packet's arrival", *summary_cells(turns.webrtc_first_packet)],
        ["**WebSocket, first audible sample**", *summary_cells(turns.websocket)],
        ["**WebRTC, first audible sample (its packet's arrival)**", *summary_cells(turns.webrtc)],
        [
            "WebRTC, first audible frame out of the decoder (no jitter buffer)",
            *summary_cells(turns.webrtc_decoded),
        ],
        [
            "WebRTC, after aiortc's stock jitter buffer (prefetch 4, replayed)",
            *summary_cells(turns.webrtc_stock_buffer),
        ],
        ["first reply data → first audible sample, WebSocket", *summary_cells(turns.websocket_onset_ms)],
        ["first reply data → first audible sample, WebRTC", *summary_cells(turns.webrtc_onset_ms)],
        ["server: first byte handed over, WebSocket", *summary_cells(turns.websocket_server_first_byte_ms)],
        ["server: first byte handed over, WebRTC", *summary_cells(turns.webrtc_server_first_byte_ms)],
        ["outside the server's timeline, WebSocket", *summary_cells(turns.websocket_outside_server_ms)],
        ["outside the server's timeline, WebRTC", *summary_cells(turns.webrtc_outside_server_ms)],
    ]
    lines += table(["transport", *SUMMARY_HEADER], rows, align=ALIGN)
    stages = list(dict.fromkeys([*turns.websocket_breakdown_p50_ms, *turns.webrtc_breakdown_p50_ms]))
    lines += ["", "The server's breakdown (p50 ms from its VAD's end of speech):", ""]
    lines += table(
        ["stage", "WebSocket", "WebRTC"],
        [
            [
                stage,
                f"{turns.websocket_breakdown_p50_ms.get(stage, '')}",
                f"{turns.webrtc_breakdown_p50_ms.get(stage, '')}",
            ]
            for stage in stages
        ],
        align=["---", "---:", "---:"],
    )
    lines += [
        "",
        f"WebRTC p50 minus WebSocket p50, first audible sample: **{turns.p50_difference_ms} ms** "
        f"(ratio {turns.ratio_p50}); target ≤ 40 ms. "
        f"First reply data: {turns.first_data_p50_difference_ms} ms.",
        "",
        f"- {cpu_line(turns.cpu)}",
    ]
    return lines


def _idle(idle: Idle) -> list[str]:
    lines = ["", f"{idle.devices} idle WebRTC devices (silence in real time, Opus):", ""]
    rows = [
        ["server CPU, no device (% of a core)", f"{idle.baseline.server_pct}"],
        [f"server CPU, {idle.devices} devices (% of a core)", f"{idle.loaded.server_pct}"],
        ["server CPU per device (% of a core)", f"{idle.server_pct_per_device}"],
        ["client CPU, the devices (% of a core)", f"{idle.loaded.client_pct}"],
        ["connecting them all (s)", f"{idle.connect_s}"],
        ["heartbeats unanswered", f"{idle.heartbeats_unanswered}"],
    ]
    lines += table(["", "value"], rows, align=["---", "---:"])
    lines += ["", "Heartbeat round trip on `events` (ms), and reply-track frames per second per device:", ""]
    rows = [
        ["heartbeat round trip (ms)", *summary_cells(idle.heartbeat_rtt_ms)],
        ["reply frames / s (50 = real time)", *summary_cells(idle.reply_frames_per_s)],
    ]
    lines += table(["", *SUMMARY_HEADER], rows, align=ALIGN)
    lines += [
        "",
        f"- no device: {cpu_line(idle.baseline)}",
        f"- {idle.devices} devices: {cpu_line(idle.loaded)}",
    ]
    return lines
