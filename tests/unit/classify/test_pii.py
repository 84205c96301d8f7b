import pytest

from classify.pii import mask_pii
from common.morph import Lemmatizer


@pytest.fixture(scope="module")
def lem() -> Lemmatizer:
    return Lemmatizer()


def test_phones_and_emails(lem: Lemmatizer) -> None:
    out = mask_pii("Звоните 8 (918) 123-45-67 или +7 918 1234567, пишите ivanov@mail.ru", lem)
    assert out == "Звоните [телефон] или [телефон], пишите [email]"


def test_full_names_and_initials(lem: Lemmatizer) -> None:
    assert mask_pii("Меня зовут Иванова Мария Петровна, живу в Джубге", lem) == "Меня зовут [ФИО], живу в Джубге"
    assert mask_pii("Глава Петров И.И. не отвечает", lem) == "Глава [ФИО] не отвечает"
    assert mask_pii("С уважением, Грищенко А.В.", lem) == "С уважением, [ФИО]"
    assert mask_pii("ответил А. В. Грищенко", lem) == "ответил [ФИО]"
    assert mask_pii("в лице учредителя Ситниковой  Кристины Мгеровны", lem) == "в лице учредителя [ФИО]"


def test_streets_named_after_people_stay(lem: Lemmatizer) -> None:
    assert mask_pii("ул. Карла Маркса, 16 в Туапсе", lem) == "ул. Карла Маркса, 16 в Туапсе"


def test_house_numbers_and_dates_are_not_phones(lem: Lemmatizer) -> None:
    text = "дом 12, кв. 45, заявка от 18.11.2020 № 3022764"
    assert mask_pii(text, lem) == text
