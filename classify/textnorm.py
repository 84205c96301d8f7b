"""Clean Russian portal and social-network text before anything reads it.

What residents send: HTML markup and entities, links, @mentions, #хэштеги, emoji, «ужааас» with
repeated letters, Latin look-alike letters inside Russian words, and sometimes whole messages in
Latin transliteration ("net vody v Dzhubge"). `clean` turns all of that into plain text with the
case kept (case helps tell a place name from a common word); `tokens` splits it into words.
"""

import html
import re
import unicodedata

_TAG = re.compile(r"<\s*(br|p|div|li|tr|h\d)\b[^>]*>|<[^>]+>", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:ru|рф|com|org|net|su)(?:/\S*)?", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[а-яёa-z])(?=[А-ЯЁA-Z])")
_REPEAT = re.compile(r"([^\W\d_])\1{2,}", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")

# Latin letters that look like Cyrillic ones: inside an otherwise Cyrillic word they are noise.
_LOOKALIKE = str.maketrans("aAeEoOpPcCxXyKkMTHBu", "аАеЕоОрРсСхХуКкМТНВи")
_HAS_CYR = re.compile(r"[а-яё]", re.IGNORECASE)
_HAS_LAT = re.compile(r"[a-z]", re.IGNORECASE)

# Practical (not ГОСТ) transliteration as residents type it; longest sequences first.
_TRANSLIT = [
    ("shch", "щ"),
    ("sch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("ts", "ц"),
    ("tz", "ц"),
    ("yu", "ю"),
    ("ju", "ю"),
    ("ya", "я"),
    ("ja", "я"),
    ("yo", "ё"),
    ("jo", "ё"),
    ("ye", "е"),
    ("ie", "ие"),
    ("iy", "ий"),
    ("ii", "ий"),
    ("y", "ы"),
    ("a", "а"),
    ("b", "б"),
    ("c", "ц"),
    ("d", "д"),
    ("e", "е"),
    ("f", "ф"),
    ("g", "г"),
    ("h", "х"),
    ("i", "и"),
    ("j", "й"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("q", "к"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("v", "в"),
    ("w", "в"),
    ("x", "кс"),
    ("z", "з"),
    ("'", "ь"),
]
_TRANSLIT_RE = re.compile("|".join(re.escape(k) for k, _ in _TRANSLIT))
_TRANSLIT_MAP = dict(_TRANSLIT)
_VOWELS = set("аеёиоуыэюя")


def _strip_markup(text: str) -> str:
    text = _TAG.sub(lambda m: "\n" if m.group(1) else " ", text)
    return html.unescape(html.unescape(text))  # portals sometimes escape twice (&amp;quot;)


def _drop_symbols(text: str) -> str:
    # Emoji, pictographs, variation selectors and control characters carry no words.
    return "".join(ch if ch in "\n" or unicodedata.category(ch)[0] not in "SC" or ch in "№%+-" else " " for ch in text)


def translit_word(word: str) -> str:
    """Latin transliteration of one Russian word back to Cyrillic ("vody" -> "воды")."""
    low = word.lower()
    out = _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group(0)], low)
    # "y" after a vowel is "й" (Novomikhaylovskiy -> Новомихайловский), not "ы".
    out = re.sub(r"(?<=[аеёиоуыэюя])ы(?![аеёиоуыэюя])", "й", out)
    return out.capitalize() if word[:1].isupper() else out


def _fix_scripts(text: str) -> str:
    words = _TOKEN.findall(text)
    cyr = sum(1 for w in words if _HAS_CYR.search(w))
    lat = sum(1 for w in words if _HAS_LAT.search(w) and not _HAS_CYR.search(w))
    translit_all = lat >= 2 and lat > cyr  # a message typed in Latin: transliterate every word

    def fix(m: re.Match[str]) -> str:
        w = m.group(0)
        if _HAS_CYR.search(w) and _HAS_LAT.search(w):
            return w.translate(_LOOKALIKE)
        if translit_all and _HAS_LAT.search(w):
            return translit_word(w)
        return w

    return _TOKEN.sub(fix, text)


def clean(text: str) -> str:
    """Plain text with case kept; ё -> е; no markup, links, mentions, emoji or letter runs."""
    text = unicodedata.normalize("NFC", text)
    if "<" in text or "&" in text:
        text = _strip_markup(text)
    text = _URL.sub(" ", text)
    text = _EMAIL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1).replace("_", " ")) + " ", text)
    if not text.isascii():
        text = _drop_symbols(text)
    text = text.replace("ё", "е").replace("Ё", "Е")
    text = _REPEAT.sub(r"\1", text)
    if _HAS_LAT.search(text):
        text = _fix_scripts(text)
    return _SPACES.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    """Words (with inner hyphens) and numbers of cleaned text, case kept."""
    return _TOKEN.findall(text)
