"""Alerts from what residents say: rules kept as data, matched on each final transcript and typed
turn, raised as records in the store, on the operator event stream and by signed webhook."""
