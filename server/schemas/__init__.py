"""Wire schemas: msgspec Structs mirroring the spec's models field for field (§8.3 to §8.9)."""
