import uuid

# Fixed namespace so that the same (channel, source id) maps to the same message id forever,
# on every worker and every replay: downstream idempotence rests on it.
MCU_NAMESPACE = uuid.UUID("5b0c6f1e-3a51-4c1e-9d7e-0b6f2f3c9a11")


def message_id_for(channel: str, source_id: str) -> str:
    return str(uuid.uuid5(MCU_NAMESPACE, f"{channel}:{source_id}"))
