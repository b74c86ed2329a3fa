"""Character tokenizer for CTC training, in the `.qasr` header format.

Pieces: blank ``<blank>`` at id 0, the word boundary ``|`` (the C++
tokenizer turns it into a space, csrc/decode/tokenizer.h), then every other
character of the training text in sorted order. Transcripts are expected to
be normalised (qasr_native.data.normalize_text: a-z, apostrophe, space), but
any character set works.
"""

from __future__ import annotations

from typing import Iterable, List, Sequence

BLANK = "<blank>"
WORD_BOUNDARY = "|"


class CharTokenizer:
    def __init__(self, pieces: Sequence[str]) -> None:
        pieces = list(pieces)
        if len(pieces) < 2 or pieces[0] != BLANK:
            raise ValueError(f"a char tokenizer needs {BLANK!r} at id 0 and at least one more piece")
        if len(set(pieces)) != len(pieces):
            raise ValueError("tokenizer pieces must be unique")
        for p in pieces[1:]:
            if len(p) != 1:
                raise ValueError(f"char tokenizer pieces are single characters, got {p!r}")
        self.pieces = pieces
        self.ids = {p: i for i, p in enumerate(pieces)}

    @classmethod
    def train(cls, texts: Iterable[str]) -> "CharTokenizer":
        """The characters of ``texts`` (space becomes the word boundary)."""
        chars = set()
        for t in texts:
            chars.update(t)
        chars.discard(" ")
        if WORD_BOUNDARY in chars:
            raise ValueError(f"training text contains the word-boundary character {WORD_BOUNDARY!r}")
        if not chars:
            raise ValueError("no characters in the training text")
        return cls([BLANK, WORD_BOUNDARY] + sorted(chars))

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        if d.get("kind") != "char" or int(d.get("blank", 0)) != 0:
            raise ValueError(f"not a char tokenizer with blank 0: kind={d.get('kind')!r} blank={d.get('blank')!r}")
        return cls(d["pieces"])

    def to_dict(self) -> dict:
        """The `.qasr` header section."""
        return {"kind": "char", "pieces": list(self.pieces), "blank": 0}

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def blank(self) -> int:
        return 0

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text``; runs of spaces are one boundary, ends trimmed."""
        out = []
        for c in " ".join(text.split()):
            key = WORD_BOUNDARY if c == " " else c
            if key not in self.ids:
                raise ValueError(f"character {c!r} is not in the tokenizer (text {text!r})")
            out.append(self.ids[key])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (blanks dropped, no CTC collapsing)."""
        chars = []
        for i in ids:
            i = int(i)
            if i == 0:
                continue
            p = self.pieces[i]
            chars.append(" " if p == WORD_BOUNDARY else p)
        return " ".join("".join(chars).split())
