"""Connectors, the raw-record producer and the normaliser."""
