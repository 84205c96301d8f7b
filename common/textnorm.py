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
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:ru|com|org|net|su)\b(?:/\S*)?", re.IGNORECASE)
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
    # Portals send markup, sometimes escaped once or twice (&lt;br&gt;, &amp;quot;): peel both.
    for _ in range(3):
        text = _TAG.sub(lambda m: "\n" if m.group(1) else " ", text)
        if "&" not in text:
            break
        text = html.unescape(text)
    return text


# Emoji, pictographs, dingbats, arrows, variation selectors, joiners and control characters
# carry no words; a character class is ~50x faster than asking unicodedata char by char.
_SYMBOLS = re.compile(
    "[\U0001f000-\U0001faff\U0001fc00-\U0001ffff\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf"
    "\u2900-\u2bff\u3030\u303d\u3297\u3299\ufe00-\ufe0f\u200c-\u200f\u2060-\u206f\ufff0-\uffff"
    "\x00-\x09\x0b-\x1f\x7f-\x9f\u00a6\u00a9\u00ae\u00b0\u2122\u2139\u2600-\u26ff]"
)


def _drop_symbols(text: str) -> str:
    return _SYMBOLS.sub(" ", text)


def translit_word(word: str) -> str:
    """Latin transliteration of one Russian word back to Cyrillic ("vody" -> "воды")."""
    low = word.lower()
    out = _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group(0)], low)
    # "y" after a vowel is "й" (Novomikhaylovskiy -> Новомихайловский), not "ы".
    out = re.sub(r"(?<=[аеёиоуыэюя])ы(?![аеёиоуыэюя])", "й", out)
    return out.capitalize() if word[:1].isupper() else out


_MIXED = re.compile(r"[а-яё][a-z]|[a-z][а-яё]", re.IGNORECASE)
_LAT_WORD = re.compile(r"(?<![^\W\d_])[a-z]+(?![^\W\d_])", re.IGNORECASE)
_CYR_WORD = re.compile(r"[а-яё]+", re.IGNORECASE)


def _fix_scripts(text: str) -> str:
    lat = len(_LAT_WORD.findall(text))
    translit_all = lat >= 2 and lat > len(_CYR_WORD.findall(text))  # typed in Latin: transliterate it all
    if not translit_all and not _MIXED.search(text):
        return text  # Latin words among Russian ones (brands, "XXXX" masks) stay as they are

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
    # Each pass runs only when its trigger character is there: most messages need few of them.
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if "<" in text or "&" in text:
        text = _strip_markup(text)
    if _HAS_LAT.search(text):
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
        text = _MENTION.sub(" ", text)
    if "#" in text:
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
