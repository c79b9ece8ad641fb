"""State shared by every server instance: a `Store` and a `Bus`, in memory or in Redis."""
