"""Building the notifier from settings: contacts file, directory names, senders with their secrets."""

from __future__ import annotations

from collections.abc import MutableMapping

from sinks.notify.contacts import load_contacts
from sinks.notify.names import default_names
from sinks.notify.notifier import DeadLetterSink, Notifier
from sinks.notify.settings import NotifySettings


def make_notifier(
    settings: NotifySettings,
    dead_letter: DeadLetterSink | None = None,
    seen: MutableMapping[str, float] | None = None,
) -> Notifier:
    """Without MCU_CONTACTS_FILE the documented example is used: its addresses are made up."""
    return Notifier.from_settings(
        settings, load_contacts(settings.contacts_file), default_names(), dead_letter=dead_letter, seen=seen
    )
