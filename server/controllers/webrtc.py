"""WebRTC devices: the SDP offer/answer that opens a device's peer connection (server/webrtc)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from server.auth import require_device_access
from server.controllers.common import AnyRequest, principal_of, public_base_url, services_of
from server.controllers.openapi import DEVICE_NOT_FOUND, OTHER_DEVICE, Failure, declare
from server.schemas.webrtc import WebRTCAnswer, WebRTCIceServer, WebRTCIceServers, WebRTCOffer
from server.webrtc.peers import Peers

INVALID_SDP = Failure(
    400,
    "INVALID_SDP",
    "the offer is not SDP aiortc can parse, has no data channel, more than one audio track, or nothing "
    "in common with the server (`details.reason`)",
)

PEERS_FULL = Failure(
    503,
    "SERVER_BUSY",
    "the instance holds `COMPANION_WEBRTC_MAX_PEERS` peers and this device none: retry after "
    "`Retry-After`, or connect over WebSocket",
)


class WebRTCController(Controller):
    path = "/devices"
    tags = ["webrtc"]

    @post(
        "/{device_id:str}/webrtc/offer",
        summary="Open a device's WebRTC peer connection",
        status_code=HTTP_200_OK,
        **declare(INVALID_SDP, PEERS_FULL, OTHER_DEVICE, DEVICE_NOT_FOUND, body=True),
    )
    async def offer(
        self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[WebRTCOffer]
    ) -> WebRTCAnswer:
        """The device's own token, or an operator's. Complete ICE: the offer carries all the device's
        candidates and the answer all the server's. The offer has one audio track (the microphone,
        Opus) and a data channel labelled `events`; the answer adds the reply's audio track. Once
        connected, the peer is the device's connection (the newest connection of a device wins: its
        WebSocket, if any, is closed with 4409), speaking the WebSocket protocol on `events`."""
        principal = principal_of(request)
        require_device_access(principal, device_id)
        services = services_of(request)
        await services.devices.get(device_id)
        peers: Peers = request.app.state["peers"]
        sdp, connection_id = await peers.answer(
            device_id=device_id, principal=principal, sdp=data.sdp, base_url=public_base_url(request)
        )
        return WebRTCAnswer(sdp=sdp, connection_id=connection_id)

    @get(
        "/{device_id:str}/webrtc/ice-servers",
        summary="The STUN/TURN servers a device's peer connection should use",
        cache_control=CacheControlHeader(no_store=True),  # TURN credentials: kept by no cache
        **declare(OTHER_DEVICE, DEVICE_NOT_FOUND),
    )
    async def ice_servers(self, request: AnyRequest, device_id: FromPath[str]) -> WebRTCIceServers:
        """The device's own token, or an operator's. The servers `COMPANION_WEBRTC_ICE_SERVERS`
        configures (TURN credentials included: the device needs them to relay), to put in the
        device's `RTCPeerConnection` configuration before it gathers candidates for its offer (the
        console does); empty: host candidates only."""
        principal = principal_of(request)
        require_device_access(principal, device_id)
        services = services_of(request)
        await services.devices.get(device_id)
        return WebRTCIceServers(
            ice_servers=[
                WebRTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in services.settings.webrtc_ice_servers
            ]
        )
