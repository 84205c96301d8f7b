"""Connectors: one module per channel, all with the contract of ``ingest.connectors.base``.

fetch since cursor → raw items (+ status events) → publish → flush → only then save the cursor.
"""
