"""Hostile-server tests: raw-socket servers (``tests/rawws.py``) that send what no polite
server sends, and the guarantees zenws keeps against them (docs/errors.md)."""
