"""Synthetic speakers: espeak-ng accent x voice variant x pitch x rate.

A *speaker* is the tuple (accent voice, variant, pitch, rate, word gap).
The accent voice sets pronunciation and intonation (British, American,
Scottish, Lancashire, Received Pronunciation, West Midlands, Caribbean,
New York City); the variant sets the "vocal tract" (formant scaling,
pitch range, breathiness, roughness, or a different synthesis method for
the Klatt variants); pitch (0-99) moves the voice within the variant's
range and rate is speed in words per minute. espeak-ng is deterministic,
so a speaker id alone reproduces its voice exactly.

Speaker ids spell out the parameters: ``us-f3-p55-s170`` is the American
voice with variant f3 at pitch 55 and 170 words per minute (``-g2`` is
added for a word gap of 20 ms, ``-a120`` for amplitude 120).

Held-out speakers. ``DEFAULT_HELDOUT`` are six speakers for evaluation and
personalization experiments, three female and three male, each with a
different accent. Their variants (and ``aunty``, which copies ``f4``'s
formants) are *reserved*: no training speaker made by
``training_speakers`` uses them with any accent, pitch or rate, so a model
trained on synthetic data has never heard these vocal tracts.

Only espeak-ng's own voices are used; MBROLA voices (``mb-*``) need
separately installed diphone databases and are not used.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

__all__ = ["Speaker", "ACCENTS", "VARIANTS", "RESERVED_VARIANTS", "DEFAULT_HELDOUT", "training_speakers",
           "heldout_speakers", "parse_speakers"]

#: accent key -> (espeak-ng voice file, description)
ACCENTS: Dict[str, Tuple[str, str]] = {
    "gb": ("gmw/en", "British English"),
    "us": ("gmw/en-US", "American English"),
    "sc": ("gmw/en-GB-scotland", "Scottish English"),
    "lanc": ("gmw/en-GB-x-gbclan", "Lancashire English"),
    "rp": ("gmw/en-GB-x-rp", "Received Pronunciation"),
    "wmid": ("gmw/en-GB-x-gbcwmd", "West Midlands English"),
    "carib": ("gmw/en-029", "Caribbean English"),
    "nyc": ("gmw/en-US-nyc", "New York City English"),
}

# variant key -> (espeak-ng variant file under voices/!v/, gender). Chosen
# from espeak-ng 1.51's variants: the ones that sound like a person
# (whispering, robotic, child-like and effect variants are left out).
_F = "female"
_M = "male"
VARIANTS: Dict[str, Tuple[str, str]] = {
    "f1": ("f1", _F), "f2": ("f2", _F), "f3": ("f3", _F), "f4": ("f4", _F), "f5": ("f5", _F),
    "alicia": ("Alicia", _F), "andrea": ("Andrea", _F), "annie": ("Annie", _F), "aunty": ("aunty", _F),
    "belinda": ("belinda", _F), "linda": ("linda", _F), "steph": ("steph", _F), "steph2": ("steph2", _F),
    "steph3": ("steph3", _F), "anika": ("anika", _F), "grandma": ("grandma", _F),
    "m1": ("m1", _M), "m2": ("m2", _M), "m3": ("m3", _M), "m4": ("m4", _M), "m5": ("m5", _M),
    "m6": ("m6", _M), "m7": ("m7", _M), "m8": ("m8", _M),
    "klatt": ("klatt", _M), "klatt2": ("klatt2", _M), "klatt3": ("klatt3", _M), "klatt4": ("klatt4", _M),
    "adam": ("adam", _M), "alex": ("Alex", _M), "andy": ("Andy", _M), "benjamin": ("benjamin", _M),
    "david": ("david", _M), "ed": ("ed", _M), "edward": ("edward", _M), "gene": ("Gene", _M),
    "grandpa": ("grandpa", _M), "lee": ("Lee", _M), "max": ("max", _M), "michael": ("Michael", _M),
    "mike": ("Mike", _M), "paul": ("paul", _M), "quincy": ("quincy", _M), "rob": ("rob", _M),
    "robert": ("robert", _M), "travis": ("travis", _M), "victor": ("victor", _M), "denis": ("Denis", _M),
    "hugo": ("Hugo", _M),
}

_ID_RE = re.compile(r"^(?P<accent>[a-z]+)-(?P<variant>[a-z0-9]+)-p(?P<pitch>\d+)-s(?P<rate>\d+)"
                    r"(?:-a(?P<amp>\d+))?(?:-g(?P<gap>\d+))?$")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker; ``id`` encodes every parameter."""

    accent: str
    variant: str
    pitch: int = 50
    rate: int = 175
    amplitude: int = 100
    word_gap: int = 0

    def __post_init__(self) -> None:
        if self.accent not in ACCENTS:
            raise ValueError(f"unknown accent {self.accent!r}; choose from {', '.join(ACCENTS)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown voice variant {self.variant!r}; choose from {', '.join(VARIANTS)}")
        if not 0 <= self.pitch <= 99:
            raise ValueError(f"speaker pitch must be in 0..99, got {self.pitch}")
        if not 80 <= self.rate <= 450:
            raise ValueError(f"speaker rate must be 80..450 words per minute, got {self.rate}")
        if not 1 <= self.amplitude <= 200:
            raise ValueError(f"speaker amplitude must be 1..200, got {self.amplitude}")
        if not 0 <= self.word_gap <= 50:
            raise ValueError(f"speaker word gap must be 0..50 (x10 ms), got {self.word_gap}")

    @property
    def id(self) -> str:
        s = f"{self.accent}-{self.variant}-p{self.pitch}-s{self.rate}"
        if self.amplitude != 100:
            s += f"-a{self.amplitude}"
        if self.word_gap:
            s += f"-g{self.word_gap}"
        return s

    @property
    def voice(self) -> str:
        """The espeak-ng accent voice file, e.g. ``gmw/en-US``."""
        return ACCENTS[self.accent][0]

    @property
    def variant_file(self) -> str:
        return VARIANTS[self.variant][0]

    @property
    def gender(self) -> str:
        return VARIANTS[self.variant][1]

    @property
    def espeak_voice(self) -> str:
        """The ``-v`` argument: voice file plus variant (``gmw/en-US+f3``).

        Voice *files* are used rather than language names because espeak-ng
        silently ignores the variant for some names (``en-gb+f3`` speaks
        exactly like ``en-gb``)."""
        return f"{self.voice}+{self.variant_file}"

    def espeak_args(self) -> List[str]:
        return ["-v", self.espeak_voice, "-p", str(self.pitch), "-s", str(self.rate), "-a", str(self.amplitude),
                "-g", str(self.word_gap)]

    def describe(self) -> Dict[str, object]:
        """Manifest fields describing the voice."""
        return {"voice": self.voice, "variant": self.variant_file, "accent": self.accent, "gender": self.gender,
                "pitch": self.pitch, "rate": self.rate, "word_gap": self.word_gap}

    @classmethod
    def from_id(cls, speaker_id: str) -> "Speaker":
        m = _ID_RE.match(speaker_id.strip())
        if not m:
            raise ValueError(f"not a synthetic speaker id: {speaker_id!r} (expected e.g. 'us-f3-p55-s170')")
        return cls(m["accent"], m["variant"], int(m["pitch"]), int(m["rate"]),
                   int(m["amp"]) if m["amp"] else 100, int(m["gap"]) if m["gap"] else 0)


#: Six held-out speakers: female / male, six different accents, variants
#: reserved from training (see module docstring).
DEFAULT_HELDOUT: Tuple[Speaker, ...] = (
    Speaker("sc", "f4", pitch=60, rate=160),
    Speaker("us", "andrea", pitch=45, rate=185),
    Speaker("carib", "annie", pitch=50, rate=165),
    Speaker("wmid", "m6", pitch=40, rate=170),
    Speaker("rp", "klatt3", pitch=50, rate=150),
    Speaker("nyc", "mike", pitch=35, rate=175),
)

#: Variants never used by training speakers: the held-out ones, and
#: ``aunty`` (same formants as ``f4``).
RESERVED_VARIANTS = frozenset({s.variant for s in DEFAULT_HELDOUT} | {"aunty"})


def heldout_speakers() -> List[Speaker]:
    """The default held-out speakers, in a fixed order."""
    return list(DEFAULT_HELDOUT)


def training_speakers(n: int, seed: int = 0, *, pitch: Tuple[int, int] = (25, 75),
                      rate: Tuple[int, int] = (140, 200), word_gap_prob: float = 0.2) -> List[Speaker]:
    """``n`` distinct training speakers, alternating female / male, a fixed
    function of ``seed`` (and a prefix of the list for a larger ``n``).

    Every (accent, variant) pair of the non-reserved variants is used once
    (in a seeded random order) before any pair repeats with another pitch
    and rate. Pitch and rate are uniform in the given ranges; with
    probability ``word_gap_prob`` a word gap of 10-30 ms is added.
    """
    if n < 0:
        raise ValueError(f"training_speakers: n must be >= 0, got {n}")
    rng = random.Random(seed)
    pools = {}
    for gender in (_F, _M):
        pools[gender] = [(a, v) for a in ACCENTS for v, (_, g) in VARIANTS.items()
                         if g == gender and v not in RESERVED_VARIANTS]
    queues = {g: [] for g in pools}
    out: List[Speaker] = []
    ids = set()
    attempts = 0
    while len(out) < n:
        gender = _F if len(out) % 2 == 0 else _M
        if not queues[gender]:
            queues[gender] = list(pools[gender])
            rng.shuffle(queues[gender])
        accent, variant = queues[gender].pop()
        gap = rng.randint(1, 3) if rng.random() < word_gap_prob else 0
        spk = Speaker(accent, variant, rng.randint(*pitch), rng.randint(*rate), 100, gap)
        attempts += 1
        if attempts > 100 * (n + 10):
            raise RuntimeError("training_speakers: could not draw enough distinct speakers")
        if spk.id in ids:
            continue
        ids.add(spk.id)
        out.append(spk)
    return out


def parse_speakers(spec: str, seed: int = 0) -> List[Speaker]:
    """Speakers from a command-line spec: ``heldout``, ``train:N`` (the
    first N training speakers for ``seed``) and speaker ids, joined with
    ``,`` or ``+`` (``heldout+train:4``); duplicates are dropped."""
    out: List[Speaker] = []
    for part in re.split(r"[+,]", spec):
        part = part.strip()
        if part == "heldout":
            out += heldout_speakers()
        elif part.startswith("train:"):
            try:
                k = int(part[6:])
            except ValueError:
                raise ValueError(f"bad speaker spec {part!r}: expected train:N") from None
            out += training_speakers(k, seed)
        elif part:
            out.append(Speaker.from_id(part))
    seen, uniq = set(), []
    for s in out:
        if s.id not in seen:
            seen.add(s.id)
            uniq.append(s)
    if not uniq:
        raise ValueError(f"no speakers in spec {spec!r}")
    return uniq


def check_no_reserved(speakers: Iterable[Speaker]) -> None:
    """Raise if any speaker uses a reserved (held-out) variant."""
    bad = [s.id for s in speakers if s.variant in RESERVED_VARIANTS]
    if bad:
        raise ValueError(f"speakers use held-out variants: {', '.join(bad)}")


def genders(speakers: Sequence[Speaker]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for s in speakers:
        out[s.gender] = out.get(s.gender, 0) + 1
    return out
