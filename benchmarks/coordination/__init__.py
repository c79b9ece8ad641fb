"""Group activity and broadcast fan-out: spread of the devices' sync_event arrival
(`python -m benchmarks.coordination`)."""
