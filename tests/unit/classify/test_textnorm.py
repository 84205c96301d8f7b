from common.textnorm import clean, tokens, translit_word


def test_markup_entities_links_mentions_emoji_go() -> None:
    out = clean("<p>Нет&nbsp;воды!!!&lt;br&gt;</p><br/>см. https://vk.com/wall-1_2 @admin_tuapse 😡😡")
    assert "<" not in out and "http" not in out and "@" not in out and "😡" not in out
    assert tokens(out)[:2] == ["Нет", "воды"]


def test_hashtags_split_into_words_and_yo_and_letter_runs() -> None:
    assert tokens(clean("#НетВоды ужаааас, всё плохо")) == ["Нет", "Воды", "ужас", "все", "плохо"]


def test_latin_lookalikes_inside_russian_words() -> None:
    assert clean("нет cвета в Нoвомихайловском") == "нет света в Новомихайловском"


def test_whole_message_in_transliteration() -> None:
    assert clean("net vody v Dzhubge uzhe tri dnya") == "нет воды в Джубге уже три дня"
    assert translit_word("Novomikhaylovskiy") == "Новомихайловский"


def test_a_brand_in_a_russian_message_stays() -> None:
    assert "WhatsApp" in clean("пишу в WhatsApp, никто не отвечает")
