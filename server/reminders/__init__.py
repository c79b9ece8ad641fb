"""Reminders that are spoken: scheduled by operators, said on the device, confirmed by voice."""
