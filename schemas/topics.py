"""Every topic name, in one place."""

from schemas.channels import Channel

RAW_PREFIX = "raw."
CASES = "cases"
CASE_EVENTS = "case.events"
SLA_EVENTS = "sla.events"
NOTIFICATIONS = "notifications"
DLQ = "dlq"


def raw_topic(channel: Channel | str) -> str:
    return f"{RAW_PREFIX}{Channel(channel).value}"


RAW_TOPICS: tuple[str, ...] = tuple(raw_topic(c) for c in Channel)
