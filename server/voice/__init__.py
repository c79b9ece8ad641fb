"""The live voice loop on a device's socket: shared engines, one graph per device, events to messages."""
