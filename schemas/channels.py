from enum import StrEnum


class Channel(StrEnum):
    """Where a resident's message came from; each has its own raw topic ``raw.<value>``."""

    POS = "pos"  # Платформа обратной связи Госуслуг («Решаем вместе»)
    INCIDENT = "incident"  # АС «Инцидент-менеджмент» (social networks, messengers)
    VK = "vk"
    TELEGRAM = "telegram"
    EMAIL = "email"
    LETTER = "letter"  # written appeal under 59-ФЗ, from the document registry
    RECEPTION = "reception"  # public reception (общественная приёмная)
    ACTIVE_CITIZEN = "active_citizen"  # «Активный гражданин» of the krai
    WEBFORM = "webform"  # generic web form / chatbot
    OPEN311 = "open311"
