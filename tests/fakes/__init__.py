"""Local stand-ins for remote services, reachable over real sockets, with failure knobs."""
