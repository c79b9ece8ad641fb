"""Idle attacker connections (slow-loris and bare TCP) against legitimate REST requests and device sockets."""
