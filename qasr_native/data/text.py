"""Transcript normalisation shared by training (CTC character targets) and
evaluation (WER/CER).

``normalize_text`` maps any English transcript onto the 28-symbol alphabet
of the character models: lowercase ``a``-``z``, the apostrophe and the
space. Training targets, reference transcripts and model hypotheses all go
through this one function before they are compared, so that differences in
case, punctuation or the way numbers are written are never counted as
recognition errors ("At 9 o'clock." and "at nine o'clock" are the same
words).

The rules, in order:

1. Unicode is decomposed and accents dropped (``café`` -> ``cafe``); curly
   quotes and similar marks become the ASCII apostrophe; dashes, hyphens
   and slashes separate words (``twenty-one`` -> ``twenty one``).
2. A few unambiguous abbreviations are spelled out: ``mr`` -> ``mister``,
   ``mrs`` -> ``missus``, ``dr`` -> ``doctor``, ``vs`` -> ``versus``,
   ``etc`` -> ``et cetera``; ``a.m.``/``p.m.`` -> ``a m``/``p m``.
3. Symbols that are spoken are spelled out: ``&`` -> ``and``, ``%`` ->
   ``percent``, ``+`` -> ``plus``, ``@`` -> ``at``, ``#N`` -> ``number N``;
   currency ``$ £ €`` before an amount -> ``dollars``/``pounds``/``euros``
   after it (``$3.50`` -> ``three dollars fifty cents``).
4. Numbers are spelled out (American style, no "and": 105 -> ``one hundred
   five``):

   - integers, with or without thousands commas (``1,200`` -> ``one
     thousand two hundred``); a leading minus -> ``minus``;
   - bare four-digit numbers (no comma) 1100-1999 and 2010-2099 are read
     as years
     (``1995`` -> ``nineteen ninety five``, ``1905`` -> ``nineteen oh
     five``, ``1900`` -> ``nineteen hundred``, ``2024`` -> ``twenty twenty
     four``); 2000-2009 read as cardinals (``two thousand five``);
   - decimals digit by digit after ``point`` (``3.14`` -> ``three point one
     four``);
   - ordinals ``1st 2nd 3rd 4th ... 21st`` -> ``first second third fourth
     ... twenty first``; decades ``1990s``/``'80s`` -> ``nineteen nineties``
     / ``eighties``;
   - clock times ``H:MM`` -> ``ten thirty``, ``ten oh five``; ``H:00`` ->
     ``ten o'clock``, or just ``ten`` when a.m./p.m. follows;
   - numbers with a leading zero (``007``) and numbers longer than 15
     digits are read digit by digit; digits glued to letters are split
     off (``mp3`` -> ``mp three``).
5. Everything else that is not a letter or an apostrophe inside a word is
   punctuation and becomes a word break; apostrophes at word edges
   (quotes, plural possessives ``students'``) are dropped; ``'s``,
   ``don't``, ``o'clock`` keep theirs.
6. Lowercase, whitespace collapsed to single spaces, no leading/trailing
   space.

The output is idempotent: ``normalize_text(normalize_text(s)) ==
normalize_text(s)``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ALPHABET", "normalize_text", "number_to_words", "ordinal_to_words", "year_to_words", "is_normalized"]

#: The symbols a normalised transcript may contain (besides nothing else).
ALPHABET = "abcdefghijklmnopqrstuvwxyz' "

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand")]
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                      "nine": "ninth", "twelve": "twelfth"}


def _below_thousand(n: int) -> list:
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def number_to_words(n: int) -> str:
    """Spell out an integer in American English without "and".

    ``number_to_words(1205) == "one thousand two hundred five"``; negative
    numbers get ``minus``. Magnitudes up to 10**15 - 1 are supported; larger
    ones raise ValueError (callers read those digit by digit).
    """
    if not isinstance(n, int):
        raise TypeError(f"number_to_words expects an int, got {type(n).__name__}")
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10**15:
        raise ValueError(f"number_to_words: {n} is too large (at most 15 digits)")
    if n == 0:
        return "zero"
    words = []
    for value, name in _SCALES:
        if n >= value:
            words += _below_thousand(n // value) + [name]
            n %= value
    if n:
        words += _below_thousand(n)
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """``21 -> "twenty first"``, ``100 -> "one hundredth"``."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return " ".join(words[:-1] + [last])


def year_to_words(n: int) -> str:
    """Read a four-digit year the way it is spoken.

    ``1995 -> "nineteen ninety five"``, ``1905 -> "nineteen oh five"``,
    ``1900 -> "nineteen hundred"``, ``2024 -> "twenty twenty four"``,
    ``2005 -> "two thousand five"``.
    """
    if not 1000 <= n <= 9999:
        raise ValueError(f"year_to_words: {n} is not a four-digit year")
    hi, lo = divmod(n, 100)
    if hi % 10 == 0 and lo < 10:  # 2000-2009, 1000-1009, ...
        return number_to_words(n)
    if lo == 0:
        return number_to_words(hi) + " hundred"
    if lo < 10:
        return number_to_words(hi) + " oh " + _ONES[lo]
    return number_to_words(hi) + " " + number_to_words(lo)


def _digits(s: str) -> str:
    return " ".join(_ONES[int(c)] for c in s)


def _cardinal_str(s: str) -> str:
    """Spell a digit string: cardinals, or digit by digit when it has a
    leading zero or is too long to be read as one number."""
    if len(s) > 1 and s[0] == "0":
        return _digits(s)
    if len(s) > 15:
        return _digits(s)
    return number_to_words(int(s))


def _integer_str(s: str) -> str:
    """Like _cardinal_str, but four-digit numbers in year ranges are years."""
    if len(s) == 4 and s[0] != "0":
        v = int(s)
        if 1100 <= v <= 1999 or 2010 <= v <= 2099:
            return year_to_words(v)
    return _cardinal_str(s)


_QUOTE_CHARS = dict.fromkeys(map(ord, "\u2018\u2019\u201b\u02bc\u02b9\u0060\u00b4\u2032"), "'")
_DASH_CHARS = dict.fromkeys(map(ord, "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212/_"), " ")

_ABBREVIATIONS = [
    (re.compile(r"\bmrs\b\.?"), " missus "),
    (re.compile(r"\bmr\b\.?"), " mister "),
    (re.compile(r"\bdr\b\.?"), " doctor "),
    (re.compile(r"\bvs\b\.?"), " versus "),
    (re.compile(r"\betc\b\.?"), " et cetera "),
    (re.compile(r"\b([ap])\.\s?m\b\.?"), r" \1 m "),
    (re.compile(r"(?<=\d)\s?([ap])m\b"), r" \1 m "),
]

_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_NUM = r"\d{1,3}(?:,\d{3})+|\d+"
_RE_MONEY = re.compile(r"([$£€])\s?(" + _NUM + r")(?:\.(\d{1,2}))?(?!\d)")
_RE_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b(\s*[ap] m\b)?")
_RE_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_RE_DECADE = re.compile(r"(?<![\d.,])'?(\d{2}|\d{4})'?s\b")
_RE_PERCENT = re.compile(r"(" + _NUM + r"(?:\.\d+)?)\s?%")
_RE_DECIMAL = re.compile(r"(?<![\d.])(" + _NUM + r")\.(\d+)(?![\d.]*\d)")
_RE_NEGATIVE = re.compile(r"(?<![\w])-(?=\d)")
_RE_INTEGER = re.compile(r"(?<!\d)(\d{1,3}(?:,\d{3})+|\d+)(?!\d)")
_RE_HASHNUM = re.compile(r"#\s?(?=\d)")
_RE_NOT_ALLOWED = re.compile(r"[^a-z' ]+")
_RE_EDGE_APOSTROPHE = re.compile(r"(?:(?<=\s)|^)'+|'+(?=\s|$)")
_RE_SPACES = re.compile(r"\s+")
_RE_ANY_DIGIT = re.compile(r"\d")
_RE_ANY_ABBREVIATION = re.compile(r"\b(?:mrs?|dr|vs|etc)\b|\b[ap]\.\s?m\b")


def _plain(num: str) -> str:
    return num.replace(",", "")


def _money(m: "re.Match") -> str:
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    whole = int(_plain(m.group(2)))
    frac = m.group(3)
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if whole or not cents:
        parts.append(f"{_cardinal_str(_plain(m.group(2)))} {one if whole == 1 else many}")
    if cents:
        parts.append(f"{number_to_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " " + " ".join(parts) + " "


def _time(m: "re.Match") -> str:
    h, mm, ampm = int(m.group(1)), m.group(2), m.group(3)
    if h > 24 or int(mm) > 59:  # not a clock time: read the numbers
        return f" {_cardinal_str(m.group(1))} {_cardinal_str(mm)} {ampm or ''} "
    hour = number_to_words(h)
    if mm == "00":
        return f" {hour} {ampm} " if ampm else f" {hour} o'clock "
    minute = number_to_words(int(mm)) if mm[0] != "0" else "oh " + _ONES[int(mm[1])]
    return f" {hour} {minute} {ampm or ''} "


def _decimal(m: "re.Match") -> str:
    return f" {_cardinal_str(_plain(m.group(1)))} point {_digits(m.group(2))} "


def _decade(m: "re.Match") -> str:
    words = _integer_str(m.group(1)).split()
    last = words[-1]
    words[-1] = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return " " + " ".join(words) + " "


def _percent(m: "re.Match") -> str:
    num = m.group(1)
    if "." in num:
        whole, frac = num.split(".", 1)
        spoken = f"{_cardinal_str(_plain(whole))} point {_digits(frac)}"
    else:
        spoken = _cardinal_str(_plain(num))
    return f" {spoken} percent "


def normalize_text(text: str) -> str:
    """Normalise a transcript to lowercase ``a-z``, apostrophes and single
    spaces, with numbers and spoken symbols written out as words.

    See the module docstring for the exact rules. Used for CTC character
    targets and for both sides of every WER/CER computation.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_text expects a str, got {type(text).__name__}")
    if text.isascii():
        s = text.lower()
    else:
        s = unicodedata.normalize("NFKD", text)
        s = "".join(c for c in s if not unicodedata.combining(c))
        s = s.translate(_QUOTE_CHARS).lower()
        s = s.replace("\u00e6", "ae").replace("\u0153", "oe").replace("\u00df", "ss").replace("\u00f8", "o")
    s = s.replace("`", "'")
    has_digit = _RE_ANY_DIGIT.search(s) is not None
    if has_digit:
        s = _RE_NEGATIVE.sub(" minus ", s)
    s = s.translate(_DASH_CHARS)
    if has_digit or _RE_ANY_ABBREVIATION.search(s):
        for pattern, repl in _ABBREVIATIONS:
            s = pattern.sub(repl, s)
    s = s.replace("&", " and ").replace("+", " plus ").replace("@", " at ")
    if has_digit:
        s = _RE_HASHNUM.sub(" number ", s)
        s = _RE_MONEY.sub(_money, s)
        s = _RE_TIME.sub(_time, s)
        s = _RE_PERCENT.sub(_percent, s)
        s = _RE_ORDINAL.sub(lambda m: f" {ordinal_to_words(int(m.group(1)))} " if len(m.group(1)) <= 15
                            else f" {_digits(m.group(1))} {m.group(2)} ", s)
        s = _RE_DECADE.sub(_decade, s)
        s = _RE_DECIMAL.sub(_decimal, s)
        s = _RE_INTEGER.sub(lambda m: f" {_cardinal_str(_plain(m.group(1))) if ',' in m.group(1) else _integer_str(m.group(1))} ", s)
    s = s.replace("%", " percent ")
    for sym, (_, many, _, _) in _CURRENCY.items():
        s = s.replace(sym, f" {many} ")
    s = _RE_NOT_ALLOWED.sub(" ", s)
    s = _RE_SPACES.sub(" ", s).strip()
    s = _RE_EDGE_APOSTROPHE.sub("", s)
    return _RE_SPACES.sub(" ", s).strip()


def is_normalized(text: str) -> bool:
    """True when ``text`` uses only the normalised alphabet with single
    inner spaces (what ``normalize_text`` returns)."""
    return text == normalize_text(text) and all(c in ALPHABET for c in text)
