"""A device's live session: the one owner of its running voice loop, and the typed changes it applies."""
