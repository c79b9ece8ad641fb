"""WebRTC devices against WebSocket devices: voice-to-voice in one run, and idle WebRTC capacity."""
