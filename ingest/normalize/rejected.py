class Rejected(Exception):
    """A record a stage will not take; ``reason`` is a short code the dead letters are counted by."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
