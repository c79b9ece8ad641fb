"""WebRTC devices (aiortc): an SDP offer answered, and the peer run as a device connection."""
