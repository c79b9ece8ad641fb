"""Garbage-collector stalls of the server with many connected devices."""
