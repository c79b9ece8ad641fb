"""The Litestar app: REST control plane, device WebSocket, auth, state, settings."""
