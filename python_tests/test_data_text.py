"""normalize_text and the number words: the spec cases of docs/data.md, an
independent inverse (words -> number) for random numbers, and properties
(idempotence, alphabet) over generated and hand-made inputs."""

import random

import pytest

from qasr_native.data.text import (ALPHABET, is_normalized, normalize_text, number_to_words, ordinal_to_words,
                                   year_to_words)

# An independent reader of spelled-out numbers (the inverse of number_to_words).
_SMALL = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                      "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_SCALE = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}


def words_to_number(text: str) -> int:
    words = text.split()
    sign = 1
    if words and words[0] == "minus":
        sign, words = -1, words[1:]
    total, group = 0, 0
    for w in words:
        if w in _SMALL:
            group += _SMALL[w]
        elif w in _TENS:
            group += _TENS[w]
        elif w == "hundred":
            group *= 100
        elif w in _SCALE:
            total += group * _SCALE[w]
            group = 0
        else:
            raise ValueError(w)
    return sign * (total + group)


def test_number_words_inverse_random():
    rng = random.Random(1)
    values = [0, 1, 10, 11, 19, 20, 21, 99, 100, 101, 110, 999, 1000, 1001, 10**6, 10**9 + 7, 10**15 - 1]
    values += [rng.randrange(10**k) for k in range(1, 16) for _ in range(300)]
    for v in values:
        for n in (v, -v):
            w = number_to_words(n)
            assert words_to_number(w) == n, (n, w)
            assert "and" not in w.split() and all(c in ALPHABET for c in w)


@pytest.mark.parametrize("n,words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (45, "forty five"), (100, "one hundred"),
    (105, "one hundred five"), (1205, "one thousand two hundred five"), (10**6, "one million"),
    (2_000_017, "two million seventeen"), (-3, "minus three")])
def test_number_words_cases(n, words):
    assert number_to_words(n) == words


def test_number_words_errors():
    with pytest.raises(ValueError, match="too large"):
        number_to_words(10**15)
    with pytest.raises(TypeError):
        number_to_words(1.5)


@pytest.mark.parametrize("n,words", [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (8, "eighth"),
                                     (9, "ninth"), (12, "twelfth"), (20, "twentieth"), (21, "twenty first"),
                                     (40, "fortieth"), (100, "one hundredth"), (103, "one hundred third")])
def test_ordinals(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize("n,words", [(1995, "nineteen ninety five"), (1905, "nineteen oh five"),
                                     (1900, "nineteen hundred"), (2005, "two thousand five"),
                                     (2000, "two thousand"), (2024, "twenty twenty four"), (2010, "twenty ten"),
                                     (1100, "eleven hundred")])
def test_years(n, words):
    assert year_to_words(n) == words


CASES = [
    # punctuation, case, whitespace
    ("Hello, World!", "hello world"),
    ("  Multiple   spaces\tand\nnewlines  ", "multiple spaces and newlines"),
    ("Wait... what?! (Really.)", "wait what really"),
    ("semi;colon:colon \"quoted\"", "semi colon colon quoted"),
    # apostrophes
    ("Don't stop; it's John's.", "don't stop it's john's"),
    ("He said 'hello' to the students' teacher.", "he said hello to the students teacher"),
    ("It\u2019s nine o\u2019clock", "it's nine o'clock"),
    ("rock 'n' roll", "rock n roll"),
    # hyphens, dashes, slashes, accents
    ("twenty-one well-known ideas", "twenty one well known ideas"),
    ("yes\u2014no and/or", "yes no and or"),
    ("Caf\u00e9 na\u00efve r\u00e9sum\u00e9", "cafe naive resume"),
    # numbers
    ("I have 3 cats and 12 dogs.", "i have three cats and twelve dogs"),
    ("1,200 people", "one thousand two hundred people"),
    ("In 1995 and 2024 and 2005", "in nineteen ninety five and twenty twenty four and two thousand five"),
    ("pi is 3.14", "pi is three point one four"),
    ("-5 degrees", "minus five degrees"),
    ("pages 10-20", "pages ten twenty"),
    ("the 21st and 2nd and 100th", "the twenty first and second and one hundredth"),
    ("007", "zero zero seven"),
    ("the 1990s and the '80s", "the nineteen nineties and the eighties"),
    ("the 1900s", "the nineteen hundreds"),
    ("mp3 player", "mp three player"),
    ("#1 fan", "number one fan"),
    # money, percent, symbols
    ("$3.50 each", "three dollars fifty cents each"),
    ("$1 and $0.05", "one dollar and five cents"),
    ("\u00a32 and \u20ac1.01", "two pounds and one euro one cent"),
    ("$1,000,000", "one million dollars"),
    ("50% off", "fifty percent off"),
    ("2.5%", "two point five percent"),
    ("salt & pepper + oil @ home", "salt and pepper plus oil at home"),
    # times and abbreviations
    ("At 10:30 a.m.", "at ten thirty a m"),
    ("at 7:05", "at seven oh five"),
    ("9:00 pm", "nine p m"),
    ("meet at 10pm", "meet at ten p m"),
    ("at 9:00", "at nine o'clock"),
    ("Mr. Smith, Mrs. Jones and Dr. Who vs. etc.", "mister smith missus jones and doctor who versus et cetera"),
    # degenerate
    ("", ""),
    ("...!?", ""),
    ("'", ""),
]


@pytest.mark.parametrize("raw,expected", CASES)
def test_normalize_cases(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_properties():
    from qasr_native.data.sentences import SentenceGenerator

    gen = SentenceGenerator(7)
    inputs = [c[0] for c in CASES] + [gen.sentence() for _ in range(800)]
    rng = random.Random(3)
    printable = "abcXYZ019 .,;:!?'\"-/$%&@#()\u2019\u00e9\t"
    inputs += ["".join(rng.choice(printable) for _ in range(rng.randrange(40))) for _ in range(800)]
    for s in inputs:
        n = normalize_text(s)
        assert set(n) <= set(ALPHABET), (s, n)
        assert n == n.strip() and "  " not in n
        assert normalize_text(n) == n, s
        assert is_normalized(n)


def test_normalize_rejects_non_text():
    with pytest.raises(TypeError):
        normalize_text(None)
