"""The device WebSocket (§8.8): presence, text turns, commands pushed down, acks."""
