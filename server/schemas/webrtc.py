"""`POST /devices/{device_id}/webrtc/offer`: an SDP offer and its answer (complete ICE, no trickle)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from server.schemas.common import RequestBody

MAX_SDP_CHARS = 64 * 1024


class WebRTCOffer(RequestBody):
    """The device's offer, sent once its ICE gathering has completed (its candidates are in `sdp`)."""

    sdp: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SDP_CHARS)]
    type: Literal["offer"]


class WebRTCAnswer(msgspec.Struct, kw_only=True):
    """The server's answer, with all its candidates; `connection_id` names the peer connection as the
    device's presence does (`GET /devices/{id}/state`) once it has connected."""

    sdp: str
    type: Literal["answer"] = "answer"
    connection_id: str


class WebRTCIceServer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A STUN or TURN server, as a browser's `RTCPeerConnection` configuration takes it."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class WebRTCIceServers(msgspec.Struct, kw_only=True):
    """The STUN/TURN servers the server gathers its own candidates with (`COMPANION_WEBRTC_ICE_SERVERS`),
    for the device's `RTCPeerConnection`; empty: host candidates only."""

    ice_servers: list[WebRTCIceServer]
