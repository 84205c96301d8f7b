"""Russian names of blocks, departments, settlements, channels and terms for what people read."""

from __future__ import annotations

from typing import Any, Protocol

TERM_NAMES = {
    "registration": "регистрация",
    "forwarding": "направление по компетенции",
    "first_response": "первый ответ",
    "resolution": "ответ по существу",
}
CHANNEL_NAMES = {
    "pos": "ПОС «Решаем вместе»",
    "incident": "Инцидент-менеджмент",
    "vk": "ВКонтакте",
    "telegram": "Telegram",
    "email": "электронная почта",
    "letter": "письменное обращение",
    "reception": "общественная приёмная",
    "active_citizen": "«Активный гражданин»",
    "webform": "форма на сайте",
    "open311": "Open311",
}


class Names(Protocol):
    def block(self, number: int) -> str: ...
    def department(self, code: str) -> str: ...
    def settlement(self, code: str) -> str: ...


class CodeNames:
    """Fallback when no directory is at hand: codes as they are."""

    def block(self, number: int) -> str:
        return f"блок {number}" if number else "вне блоков"

    def department(self, code: str) -> str:
        return code or "—"

    def settlement(self, code: str) -> str:
        return code or "—"


class DirectoryNames(CodeNames):
    """Names from route.directory's ``Directory`` (passed in, so this package does not import it)."""

    def __init__(self, directory: Any) -> None:
        self.d = directory

    def block(self, number: int) -> str:
        b = self.d.blocks.get(number)
        return f"блок {number}. {b.name}" if b else super().block(number)

    def department(self, code: str) -> str:
        x = self.d.departments.get(code) or self.d.cross_cutting_units.get(code)
        return x.name if x else super().department(code)

    def settlement(self, code: str) -> str:
        s = self.d.settlements.get(code)
        return s.name if s else super().settlement(code)


def default_names() -> Names:
    """Names from the project's directory, or codes if it cannot be loaded."""
    try:
        from route.directory import default_directory

        return DirectoryNames(default_directory())
    except Exception:  # the directory is optional for notifications: codes still identify units
        return CodeNames()
