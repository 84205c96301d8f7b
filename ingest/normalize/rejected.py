# Every reason code a normaliser may give. Metrics pre-create a dead-letter series at 0 for each
# (mcu/metrics.py), so an alert sees the first burst of a reason; tests/unit/ingest/test_rejected_reasons.py
# fails when a `Rejected("…")` in the code uses a code missing here.
REASONS = frozenset(
    {
        "bad_encoding",
        "bad_envelope",
        "bad_header",
        "bad_json",
        "empty_text",
        "invalid_utf8",
        "not_object",
        "too_large",
        "unsupported",
        "validation",
    }
)


class Rejected(Exception):
    """A record a stage will not take; ``reason`` is a short code the dead letters are counted by."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
