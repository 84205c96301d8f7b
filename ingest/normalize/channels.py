"""Every channel's own mapper, registered in one place (imported by ingest.normalize).

A payload that is not in its channel's own shape (e.g. posted to ``POST /ingest/vk`` by a script
in the generic shape) is read by the generic mapper, as before channels had mappers.
"""

from collections.abc import Callable
from typing import Any

from ingest.normalize import (
    MAPPERS,
    FieldMapper,
    active_citizen,
    email,
    incident,
    letter,
    open311,
    pos,
    reception,
    telegram,
    vk,
    webform,
)
from ingest.normalize.generic import generic_fields
from schemas import Channel, RawEnvelope


def _own_shape(keys: tuple[str, ...], mapper: FieldMapper) -> FieldMapper:
    def fields(env: RawEnvelope) -> dict[str, Any]:
        if any(k in env.payload for k in keys):
            return mapper(env)
        return generic_fields(env)

    return fields


SHAPES: dict[Channel, tuple[tuple[str, ...], Callable[[RawEnvelope], dict[str, Any]]]] = {
    Channel.VK: (("from_id", "owner_id", "post_owner_id", "post_id"), vk.fields),
    Channel.TELEGRAM: (("update_id", "message", "edited_message", "channel_post"), telegram.fields),
    Channel.EMAIL: (("uid", "uidvalidity", "mailbox", "oversized"), email.fields),
    Channel.OPEN311: (("service_code", "service_request_id"), open311.fields),
}

MAPPERS.update({channel: _own_shape(keys, fn) for channel, (keys, fn) in SHAPES.items()})
MAPPERS.update({
    Channel.POS: pos.fields,
    Channel.INCIDENT: incident.fields,
    Channel.LETTER: letter.fields,
    Channel.RECEPTION: reception.fields,
    Channel.ACTIVE_CITIZEN: active_citizen.fields,
    Channel.WEBFORM: webform.fields,
})  # fmt: skip
