"""The export/push formats of the channels that arrive as tables or flat JSON records.

Column names are aliases compared loosely (``tables.norm_header``). What is confirmed and what is
assumed is written in each format's ``provenance``: none of these systems publishes its export
layout, so the aliases are what an operator's screen and the public descriptions show, plus the
English keys of the JSON push form. A file with other headers fails loudly ("no header row with
the expected columns"); add its headers here as aliases, not in code elsewhere.
"""

from __future__ import annotations

from typing import Any

from ingest.connectors.file_import import RowFormat
from ingest.connectors.statuses import row_events
from schemas import CaseEvent, Channel

COMMON: dict[str, tuple[str, ...]] = {
    "status": ("Статус", "Состояние", "Статус обращения", "Статус сообщения", "status"),
    "status_at": ("Дата статуса", "Дата изменения статуса", "status_at", "statusChangedAt"),
    "answer": ("Ответ", "Текст ответа", "Результат рассмотрения", "Результат", "answer", "answerText"),
    "answer_at": ("Дата ответа", "Дата исполнения", "Дата направления ответа", "answer_at", "answeredAt"),
    "rating": ("Оценка", "Оценка заявителя", "Оценка пользователя", "Оценка ответа", "rating"),
    "rated_at": ("Дата оценки", "rated_at", "ratedAt"),
    "deadline": ("Срок исполнения", "Контрольный срок", "Срок ответа", "Продлено до", "deadline"),
    "actor": ("Исполнитель", "Ответственный исполнитель", "Ответственный", "executor"),
    "settlement": (
        "Поселение",
        "Населенный пункт",
        "Муниципальное образование",
        "Муниципалитет",
        "settlement",
    ),
    "address": ("Адрес", "Адрес проблемы", "Адрес заявителя", "address"),
    "lat": ("Широта", "lat", "latitude"),
    "lon": ("Долгота", "lon", "long", "longitude"),
}


def _events(fmt_channel: Channel) -> Any:
    def events(source_id: str, row: dict[str, Any]) -> list[CaseEvent]:
        fmt = FORMATS[fmt_channel]
        g = fmt.get
        return row_events(
            fmt_channel.value,
            source_id,
            status=g(row, "status"),
            status_at=g(row, "status_at"),
            answer=g(row, "answer"),
            answer_at=g(row, "answer_at"),
            rating=g(row, "rating"),
            rated_at=g(row, "rated_at"),
            deadline=g(row, "deadline"),
            actor=g(row, "actor"),
        )

    return events


def _format(channel: Channel, provenance: str, **columns: tuple[str, ...]) -> RowFormat:
    return RowFormat(
        channel=channel,
        columns={**COMMON, **columns},
        id_field="id",
        events=_events(channel),
        provenance=provenance,
    )


LETTER = _format(
    Channel.LETTER,
    "Registry of written appeals (59-ФЗ) as document-management systems (СЭД) export their journal: "
    "registration number and date are what 59-ФЗ art. 8 requires; the other headers are typical "
    "journal columns, not a confirmed export layout of a specific СЭД.",
    id=("Рег. номер", "Регистрационный номер", "Рег номер", "Номер регистрации", "reg_number"),
    reg_date=("Дата регистрации", "Дата рег.", "reg_date"),
    created_at=("Дата обращения", "Дата документа", "Дата письма", "created_at"),
    author=("Корреспондент", "Заявитель", "ФИО заявителя", "Автор", "author"),
    text=("Краткое содержание", "Содержание", "Аннотация", "Текст обращения", "Суть обращения", "text"),
    kind=("Вид обращения", "Тип обращения", "Форма обращения", "kind"),
    rubric=("Тематика", "Рубрика", "Вопрос", "Код вопроса", "Тематический классификатор", "rubric"),
    via=("Поступило из", "Канал поступления", "Источник поступления", "via"),
    addressee=("Адресат", "Кому адресовано", "Кому", "addressee"),
)

RECEPTION = _format(
    Channel.RECEPTION,
    "Journal of the public reception (личный приём / общественная приёмная): record number, date "
    "of the visit, who received, the question. Assumed layout; no public export schema exists.",
    id=("Номер записи", "Рег. номер", "Регистрационный номер", "Номер карточки", "reg_number"),
    reg_date=("Дата регистрации", "reg_date"),
    created_at=("Дата приема", "Дата приёма", "Дата обращения", "created_at"),
    author=("Заявитель", "ФИО заявителя", "Посетитель", "author"),
    text=("Содержание вопроса", "Суть вопроса", "Краткое содержание", "Содержание", "text"),
    rubric=("Тематика", "Рубрика", "Вопрос", "rubric"),
    addressee=("Ведущий прием", "Ведущий приём", "Принимающее лицо", "Должностное лицо", "addressee"),
)

POS = _format(
    Channel.POS,
    "ПОС («Решаем вместе», pos.gosuslugi.ru): public descriptions confirm a message has a unique "
    "number, a category/subcategory chosen by the resident, text, address/point on a map, a status "
    "(e.g. «Принято», «В работе», «Ответ дан»), an official answer and the resident's rating of it. "
    "Field names of its integration API are NOT public; the English keys here are our own names "
    "for a JSON form, the Russian ones those of the operator's table export.",
    id=("Номер", "Номер сообщения", "ID сообщения", "№ сообщения", "id"),
    created_at=("Дата создания", "Дата подачи", "Дата и время создания", "created_at", "createdAt"),
    text=("Текст сообщения", "Текст", "Описание", "text"),
    title=("Тема", "Подкатегория", "title", "subject"),
    rubric=("Категория", "Подкатегория", "category", "subcategory"),
    url=("Ссылка", "url"),
    author=("Автор", "Пользователь", "author"),
)

INCIDENT = _format(
    Channel.INCIDENT,
    "АС «Инцидент-менеджмент» (ЦУР): an incident is a social-network post or comment with its link, "
    "network, author, time, category, municipality and processing status. Export headers are assumed "
    "from operators' descriptions; the JSON push form uses the English keys.",
    id=("ID инцидента", "Номер инцидента", "ID", "id"),
    created_at=("Дата публикации", "Дата создания", "Дата", "created_at", "published_at"),
    text=("Текст публикации", "Текст инцидента", "Текст", "text"),
    url=("Ссылка на публикацию", "Ссылка", "URL", "url", "link"),
    network=("Соцсеть", "Социальная сеть", "Источник", "Площадка", "network", "source"),
    author=("Автор", "author"),
    rubric=("Категория", "Рубрика", "category"),
)

ACTIVE_CITIZEN = _format(
    Channel.ACTIVE_CITIZEN,
    "«Активный гражданин» of Краснодарский край: export layout not public; assumed columns "
    "(number, date, theme, description, address, coordinates, status, answer, rating).",
    id=("Номер", "ID", "№ обращения", "Номер обращения", "id"),
    created_at=("Дата создания", "Дата обращения", "Дата", "created_at"),
    text=("Описание", "Текст", "Текст обращения", "text"),
    title=("Тема", "title"),
    rubric=("Категория", "Рубрика", "category"),
    author=("Автор", "author"),
)

FORMATS: dict[Channel, RowFormat] = {f.channel: f for f in (LETTER, RECEPTION, POS, INCIDENT, ACTIVE_CITIZEN)}
