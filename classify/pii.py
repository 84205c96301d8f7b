"""Mask personal data in message text (152-ФЗ): phone numbers, e-mail addresses, people's names.

Names are found with the morphology dictionary's Name/Surn/Patr readings on capitalised words
("Иванов Иван Петрович", "Мария Ивановна", "Петров И.И."): a single capitalised surname alone is
left, since too many of them are also place or street names.
"""

import re

from common.morph import Lemmatizer

_PHONE = re.compile(r"(?<![\d\w])(?:\+7|8|7)[\s\-(]*\d{3}[\s\-)]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")
_SHORT_PHONE = re.compile(r"(?<![\d\w])\d{1,3}-\d{2}-\d{2}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_WORD = re.compile(r"[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?")
# "Грищенко А.В.", "А. В. Грищенко": two initials next to a capitalised word are a person whatever
# the dictionary knows of the surname.
_INITIALS = re.compile(r"\b[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?\s+[А-ЯЁA-Z]\.\s?[А-ЯЁA-Z]\.?")
_INITIALS_FIRST = re.compile(r"\b[А-ЯЁA-Z]\.\s?[А-ЯЁA-Z]\.\s?[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?")
PHONE, EMAIL, NAME = "[телефон]", "[email]", "[ФИО]"
# Names after these are streets, schools and monuments, not people writing or written about.
_NOT_PERSON = re.compile(
    r"(?:ул|улица|улице|улицы|улицу|пр|проспект|пер|переулок|им|имени|пл|площадь|бульвар|памятник|сквер)\.?\s*$",
    re.IGNORECASE,
)


def mask_pii(text: str, lemmatizer: Lemmatizer) -> str:
    text = _EMAIL.sub(EMAIL, text)
    text = _PHONE.sub(PHONE, text)
    text = _SHORT_PHONE.sub(PHONE, text)
    text = _INITIALS.sub(NAME, text)
    text = _INITIALS_FIRST.sub(NAME, text)
    words = list(_WORD.finditer(text))
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j = i
        parts: list[str] = []
        while j < len(words):
            if j > i and text[words[j - 1].end() : words[j].start()].strip():
                break  # only adjacent words (spaces between) make one name
            tag = lemmatizer.name_part(words[j].group(0))
            if tag is None:
                break
            parts.append(tag)
            j += 1
        # Two or more name parts, at least one a first name or patronymic: a person.
        street = _NOT_PERSON.search(text[max(0, words[i].start() - 12) : words[i].start()])
        if j - i >= 2 and ({"Name", "Patr"} & set(parts)) and not street:
            start = words[i].start()
            # "Ситниковой Кристины Мгеровны": a surname the dictionary does not know, right before
            # a first name and patronymic, is part of the name too.
            if parts[-1] == "Patr" and i > 0 and not text[words[i - 1].end() : start].strip():
                start = words[i - 1].start()
            spans.append((start, words[j - 1].end()))
            i = j
        else:
            i += 1
    for a, b in reversed(spans):
        text = text[:a] + NAME + text[b:]
    return text
