"""Sentences to speak: a grammar-based generator over an everyday
vocabulary, with deterministic train/dev/test splits.

Why a generator (and not a fixed public sentence list or a text package):

- **Offline and self-contained.** Nothing to download or install: the
  vocabulary and the sentence templates below were written for this project
  (plain English words are facts, not anyone's text), so CI, a laptop and
  the lab all produce the same sentences, with no license question.
- **Unlimited and broad.** 40 templates over ~1,500 everyday words
  (people, names, animals, food, household objects, places, times, weather,
  money, directions, numbers, dates, clock times, playing cards, contractions,
  questions and commands) give billions of distinct sentences, so a large
  training set never repeats a sentence, and the vocabulary covers what the
  real evaluation clips say (commands like "go forward ten meters", digits,
  card names, everyday speech).
- **Exact transcripts.** Numbers are written out as the words that are
  spoken ("half past seven", "nineteen eighty four"), so the transcript of a
  synthetic clip is exactly what the synthesizer said: ``normalize_text``
  of the displayed sentence (which keeps capitals and punctuation for the
  synthesizer's intonation).
- **Disjoint splits by construction.** A sentence's split is a hash of its
  normalised text (90% train, 5% dev, 5% test), so the same sentence lands
  in the same split in every run, for every seed and every speaker: test
  sentences can never appear in training data made by any other command.

Other text (e.g. a Debian ``fortunes`` file, or a user's own prompts) can
be used through ``sentences_from_file``, which applies the same
normalisation and the same hash split.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Union

from .text import normalize_text, number_to_words, ordinal_to_words, year_to_words

__all__ = ["SPLITS", "sentence_split", "SentenceGenerator", "generate_sentences", "sentences_from_file",
           "vocabulary"]

#: Sentence splits and their share of the hash space (out of 1000).
SPLITS = {"train": (0, 900), "dev": (900, 950), "test": (950, 1000)}


def sentence_split(text: str) -> str:
    """The split ("train", "dev" or "test") a sentence belongs to: a fixed
    function of its normalised text (SHA-256), 90/5/5."""
    return _split_of_normalized(normalize_text(text))


def _split_of_normalized(key: str) -> str:
    v = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 1000
    for name, (lo, hi) in SPLITS.items():
        if lo <= v < hi:
            return name
    raise AssertionError("unreachable")


def _words(s: str) -> List[str]:
    return s.split()


def _phrases(s: str) -> List[str]:
    return [p.strip() for p in s.split(",") if p.strip()]


# ---------------------------------------------------------------------------
# Vocabulary (written for this project)
# ---------------------------------------------------------------------------

PEOPLE = _phrases("""man, woman, boy, girl, child, baby, teacher, doctor, nurse, farmer, driver, neighbor,
friend, student, cook, pilot, artist, waiter, baker, lawyer, police officer, bus driver, firefighter,
mechanic, dentist, painter, singer, writer, soldier, sailor, fisherman, gardener, shopkeeper, manager,
engineer, scientist, librarian, plumber, carpenter, tailor, barber, judge, guard, coach, captain,
stranger, visitor, tourist, customer, passenger, patient, player, runner, reporter, photographer,
mail carrier, cashier, clerk, waitress, chef, nanny, grandmother, grandfather, old lady, young man,
little girl, little boy""")

PEOPLE_PLURAL = {"man": "men", "woman": "women", "child": "children", "fisherman": "fishermen",
                 "police officer": "police officers", "old lady": "old ladies", "young man": "young men",
                 "firefighter": "firefighters", "waitress": "waitresses", "coach": "coaches",
                 "little girl": "little girls", "little boy": "little boys", "baby": "babies",
                 "nanny": "nannies"}

RELATIVES = _words("""mother father sister brother aunt uncle cousin grandmother grandfather son daughter
wife husband niece nephew""")

NAMES = _words("""John Mary James Linda Robert Susan Michael Sarah David Emma Peter Anna Paul Lucy Mark Kate
Tom Jane Sam Grace Henry Alice Jack Ruth Daniel Helen George Rose Frank Nora Ben Clara Oliver Amy Simon
Laura Adam Julia Harry Ellen Victor Diana Carl Martha Steven Karen Andrew Olivia Thomas Sophie Richard
Hannah Joseph Rachel Charles Maria Edward Irene Walter Lisa Arthur Molly Louis Nancy Philip Carol Albert
Betty Leo Monica Oscar Fiona Ray Judy Tony Wendy Kevin Paula Alan Megan Ian Chloe Max Joan Ted Ella""")

ANIMALS = _words("""dog cat horse cow pig sheep goat chicken duck goose bird fish rabbit mouse fox bear deer
owl frog bee turtle squirrel donkey kitten puppy parrot pigeon crow swan lion tiger monkey elephant
camel wolf snake spider butterfly hen rooster pony lamb calf""")

ANIMAL_PLURAL = {"sheep": "sheep", "fish": "fish", "deer": "deer", "mouse": "mice", "goose": "geese",
                 "wolf": "wolves", "calf": "calves", "puppy": "puppies", "butterfly": "butterflies",
                 "fox": "foxes", "pony": "ponies"}

OBJECTS = _words("""cup plate bowl spoon fork knife glass bottle jar box bag basket book letter pen pencil
key phone watch ring hat coat shirt sweater jacket scarf glove shoe boot sock umbrella blanket pillow
towel ball toy candle lamp clock map ticket card coin wallet purse camera radio bucket ladder hammer
rope brush mirror comb notebook envelope package parcel newspaper magazine calendar picture photo
painting vase kettle pan pot teapot tray napkin belt button needle thread bicycle guitar drum violin
trumpet flashlight battery charger laptop keyboard suitcase backpack helmet tent shovel broom sponge
soap candlestick doll puzzle kite whistle bell flag""")

OBJECT_PLURAL = {"knife": "knives", "glass": "glasses", "box": "boxes", "watch": "watches", "brush": "brushes",
                 "match": "matches", "dress": "dresses", "battery": "batteries"}

SURFACES = _phrases("""table, desk, shelf, chair, bed, floor, counter, bench, windowsill, sofa, stool, cupboard,
kitchen table, top shelf, front step, piano, dresser, stairs, porch, doorstep""")

CONTAINERS = _phrases("""box, basket, drawer, bag, bowl, jar, closet, cupboard, fridge, car, trunk, bucket,
backpack, suitcase, cart, garage, shed, oven""")

PLACES = _phrases("""kitchen, garden, bedroom, bathroom, hallway, garage, attic, basement, office, school,
library, market, station, airport, hospital, church, bank, park, beach, river, lake, forest, village,
city, farm, bridge, harbor, museum, bakery, restaurant, hotel, cinema, theater, stadium, post office,
supermarket, pharmacy, bookstore, cafe, playground, zoo, gym, swimming pool, train station, bus stop,
parking lot, town hall, police station, fire station, corner shop, gas station, factory, castle,
island, valley, hill, field, meadow, orchard, barn, cottage, pier, lighthouse, campsite, mall,
laundromat, barber shop, flower shop, clinic, court, prison, palace, tower, tunnel, square, market
square, city center, train platform, waiting room, living room, dining room, classroom""")

OUTDOOR = _phrases("""field, road, street, bridge, river, park, garden, yard, beach, hill, forest, meadow,
parking lot, square, playground, path, lawn, fence, highway, alley""")

CITIES = _words("""London Paris Boston Chicago Denver Dublin Madrid Rome Berlin Vienna Oslo Cairo Tokyo Sydney
Toronto Seattle Dallas Miami Glasgow Edinburgh Manchester Liverpool Lisbon Athens Prague Warsaw Houston
Phoenix Atlanta Portland Montreal Vancouver Brighton Oxford Cambridge York Bristol Leeds""")

FOOD_COUNT = _words("""apple orange banana potato tomato carrot onion egg lemon peach pear plum cookie
sandwich muffin cake pie pizza sausage pancake cucumber pepper mango melon strawberry cherry biscuit
bagel doughnut burger""")

FOOD_COUNT_PLURAL = {"potato": "potatoes", "tomato": "tomatoes", "peach": "peaches", "sandwich": "sandwiches",
                     "mango": "mangoes", "strawberry": "strawberries", "cherry": "cherries"}

FOOD_MASS = _phrases("""bread, butter, cheese, rice, soup, salad, sugar, salt, honey, jam, flour, pasta, meat,
chicken, fish, beef, corn, cereal, yogurt, chocolate, ice cream, popcorn, oatmeal, pepper, garlic,
spinach, broccoli, toast, bacon, ham""")

DRINKS = _phrases("""coffee, tea, milk, juice, water, lemonade, hot chocolate, orange juice, apple juice,
soda, cocoa""")

COLORS = _words("red blue green yellow black white brown gray orange purple pink silver golden")

ADJECTIVES = _words("""old new small big large tiny huge long short tall clean dirty warm cold hot cool wet
dry heavy light soft hard quiet loud bright dark empty full cheap expensive broken strange simple
beautiful plain fancy round square sharp smooth rough thin thick narrow wide fresh shiny dusty
wooden metal plastic paper glass leather cotton woolen striped spotted lovely useful ordinary
favorite special famous tidy messy""")

PERSON_ADJ = _words("""old young tall short kind friendly busy lazy happy sad tired hungry angry brave careful
clever quiet polite cheerful nervous patient honest proud shy calm lucky lonely sleepy funny serious
strict gentle curious""")

WEATHER = _phrases("""sunny, cloudy, rainy, windy, foggy, snowy, stormy, cold, warm, hot, chilly, freezing,
wet, dry, humid, clear, cold and windy, warm and sunny, cloudy and wet, bright and clear""")

DAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
MONTHS = _words("January February March April May June July August September October November December")
SEASONS = _words("spring summer autumn winter fall")

TIME_PAST = _phrases("""yesterday, last night, this morning, last week, on Monday, on Tuesday, on Wednesday,
on Thursday, on Friday, on Saturday, on Sunday, a few minutes ago, two days ago, last month, last year,
in the afternoon, early this morning, late last night, after lunch, before breakfast, at midnight,
at noon, this afternoon, last summer, last winter, an hour ago, the other day, the day before
yesterday""")

TIME_FUTURE = _phrases("""tomorrow, tonight, next week, on Monday, on Friday, this weekend, next month,
tomorrow morning, tomorrow afternoon, this evening, after dinner, before lunch, next year, in an hour,
in a few minutes, later today, next summer, the day after tomorrow, on Saturday morning""")

# Verbs: base, past, third person singular, -ing.
_TRANSITIVE = """see saw sees seeing|find found finds finding|buy bought buys buying|sell sold sells selling|
carry carried carries carrying|open opened opens opening|close closed closes closing|clean cleaned cleans
cleaning|wash washed washes washing|paint painted paints painting|fix fixed fixes fixing|break broke breaks
breaking|drop dropped drops dropping|lift lifted lifts lifting|hold held holds holding|bring brought brings
bringing|take took takes taking|move moved moves moving|hide hid hides hiding|pack packed packs packing|
fill filled fills filling|borrow borrowed borrows borrowing|lose lost loses losing|need needed needs
needing|want wanted wants wanting|like liked likes liking|keep kept keeps keeping|check checked checks
checking|order ordered orders ordering|cut cut cuts cutting|push pushed pushes pushing|pull pulled pulls
pulling|throw threw throws throwing|catch caught catches catching|wrap wrapped wraps wrapping|sew sewed
sews sewing|polish polished polishes polishing|return returned returns returning|count counted counts
counting|measure measured measures measuring|weigh weighed weighs weighing|drag dragged drags dragging|
shake shook shakes shaking|fold folded folds folding|mend mended mends mending|replace replaced replaces
replacing|steal stole steals stealing|pick up picked up picks up picking up|put away put away puts away
putting away|look for looked for looks for looking for|give away gave away gives away giving away|
leave left leaves leaving|forget forgot forgets forgetting|share shared shares sharing|send sent sends
sending|show showed shows showing|sort sorted sorts sorting|test tested tests testing|use used uses using"""

_INTRANSITIVE = """walk walked walks walking|run ran runs running|sleep slept sleeps sleeping|sit sat sits
sitting|wait waited waits waiting|swim swam swims swimming|dance danced dances dancing|sing sang sings
singing|laugh laughed laughs laughing|shout shouted shouts shouting|jump jumped jumps jumping|climb climbed
climbs climbing|rest rested rests resting|play played plays playing|work worked works working|cry cried
cries crying|smile smiled smiles smiling|hurry hurried hurries hurrying|stay stayed stays staying|arrive
arrived arrives arriving|travel traveled travels traveling|study studied studies studying|cook cooked
cooks cooking|read read reads reading|write wrote writes writing|listen listened listens listening|
whistle whistled whistles whistling|wander wandered wanders wandering"""

_MOTION = """ran ran|walked walked|raced raced|crept crept|hurried hurried|jumped jumped|wandered wandered|
rushed rushed|strolled strolled|flew flew|swam swam|climbed climbed|crawled crawled|marched marched"""

PATH_PREPS = _phrases("across, along, through, around, over, past, toward, into, out of, up, down, behind")
LOC_PREPS = _phrases("on, under, behind, next to, near, beside, in front of, on top of, underneath, by")

ACTIVITIES = _phrases("""play cards, watch a movie, bake a cake, read a book, clean the house, fix the fence,
write some letters, paint the kitchen, plant some flowers, visit grandma, go for a walk, go shopping,
go fishing, go swimming, listen to music, do the laundry, wash the car, cook dinner, practice the piano,
study for the test, play chess, build a snowman, fly a kite, have a picnic""")

WORK_NOUNS = _phrases("""report, project, homework, painting, puzzle, letter, book, garden, kitchen,
presentation, essay, repairs, dishes, laundry, shopping list, budget, map, schedule""")

VEHICLES = _phrases("car, bus, train, taxi, truck, van, boat, plane, subway, tram, ferry")

EVENTS = _phrases("""the rain, the storm, the concert, the game, the movie, the party, the meeting, the
lesson, the show, the race, the snow, the music, the fireworks, the parade, the wedding""")

SUITS = _words("clubs diamonds hearts spades")
RANKS = _phrases("ace, two, three, four, five, six, seven, eight, nine, ten, jack, queen, king")

DIRECTIONS = _words("left right")
UNITS = _phrases("meters, feet, steps, miles, yards, kilometers, inches, blocks")

GREETINGS = _phrases("""Good morning, Good afternoon, Good evening, Hello, Hi there, Excuse me, Thank you,
Sorry, Well, Okay, Listen, Look, Oh dear, By the way""")

FEELINGS = _phrases("""happy, sorry, glad, tired, worried, surprised, excited, afraid, sure, ready, late,
hungry, busy, proud, angry, bored""")


def _parse_verbs(s: str) -> List[tuple]:
    out = []
    for item in s.replace("\n", " ").split("|"):
        w = item.split()
        if not w:
            continue
        if len(w) == 4:
            out.append(tuple(w))
        elif len(w) == 8:  # two-word verbs: "pick up picked up picks up picking up"
            out.append((" ".join(w[0:2]), " ".join(w[2:4]), " ".join(w[4:6]), " ".join(w[6:8])))
        else:
            raise AssertionError(f"bad verb entry {item!r}")
    return out


TRANSITIVE = _parse_verbs(_TRANSITIVE)
INTRANSITIVE = _parse_verbs(_INTRANSITIVE)
#: Verbs that make sense as requests ("please ... the cup").
COMMAND_VERBS = [v for v in TRANSITIVE if v[0] not in {"see", "need", "want", "like", "lose", "steal", "forget",
                                                       "leave", "break"}]
MOTION = [tuple(item.split()) for item in _MOTION.replace("\n", " ").split("|") if item.strip()]


def vocabulary() -> List[str]:
    """Every word the generator can use (normalised, sorted)."""
    gen = SentenceGenerator(0)
    words = set()
    for src in (PEOPLE, list(PEOPLE_PLURAL.values()), RELATIVES, NAMES, ANIMALS, list(ANIMAL_PLURAL.values()),
                OBJECTS, SURFACES, CONTAINERS, PLACES, OUTDOOR, CITIES, FOOD_COUNT, FOOD_MASS, DRINKS, COLORS,
                ADJECTIVES, PERSON_ADJ, WEATHER, DAYS, MONTHS, SEASONS, TIME_PAST, TIME_FUTURE, PATH_PREPS,
                LOC_PREPS, ACTIVITIES, WORK_NOUNS, VEHICLES, EVENTS, SUITS, RANKS, UNITS, GREETINGS, FEELINGS):
        for p in src:
            words.update(normalize_text(p).split())
    for v in TRANSITIVE + INTRANSITIVE + MOTION:
        for form in v:
            words.update(normalize_text(form).split())
    for _ in range(5000):
        words.update(normalize_text(gen.sentence()).split())
    return sorted(words)


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------

def _plural(word: str, table: dict) -> str:
    if word in table:
        return table[word]
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith("f"):
        return word[:-1] + "ves"
    return word + "s"


def _article(phrase: str) -> str:
    w = phrase.lower()
    if w.startswith(("hour", "honest", "honor")):
        return "an"
    if w.startswith(("uni", "use", "usu", "eu", "one", "once")):
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


def _a(phrase: str) -> str:
    return f"{_article(phrase)} {phrase}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


class SentenceGenerator:
    """Draws random everyday English sentences from ~40 templates.

    ``sentence()`` returns display text (capitals, punctuation, numbers in
    words) for the synthesizer; its transcript is ``normalize_text`` of it.
    The stream is a fixed function of ``seed`` (Python's ``random.Random``,
    whose integer methods are stable across Python versions).
    """

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.templates: List[Callable[[], str]] = [getattr(self, n) for n in sorted(dir(self)) if n.startswith("_t_")]

    # small helpers -----------------------------------------------------
    def c(self, seq: Sequence):
        return seq[self.rng.randrange(len(seq))]

    def n(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def num(self, lo: int, hi: int) -> str:
        return number_to_words(self.n(lo, hi))

    def person(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return self.c(NAMES)
        if r < 0.55:
            return f"my {self.c(RELATIVES)}"
        if r < 0.75:
            return f"the {self.c(PERSON_ADJ)} {self.c(PEOPLE)}"
        return f"the {self.c(PEOPLE)}"

    def thing(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"the {self.c(COLORS)} {self.c(OBJECTS)}"
        if r < 0.55:
            return f"the {self.c(ADJECTIVES)} {self.c(OBJECTS)}"
        if r < 0.7:
            return f"{self.c(['my', 'your', 'his', 'her', 'our', 'their'])} {self.c(OBJECTS)}"
        return f"the {self.c(OBJECTS)}"

    def clock(self) -> str:
        h = self.n(1, 12)
        r = self.rng.random()
        if r < 0.25:
            return f"{number_to_words(h)} o'clock"
        if r < 0.4:
            return f"half past {number_to_words(h)}"
        if r < 0.5:
            return f"a quarter to {number_to_words(h)}"
        if r < 0.6:
            return f"a quarter past {number_to_words(h)}"
        if r < 0.65:
            return self.c(["noon", "midnight"])
        m = self.c([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 12, 18, 27, 42, 3, 7])
        mm = number_to_words(m) if m >= 10 else f"oh {number_to_words(m)}"
        return f"{number_to_words(h)} {mm}" + self.c(["", "", " in the morning", " in the evening"])

    def year(self) -> str:
        return year_to_words(self.n(1901, 2029)) if self.rng.random() < 0.85 else year_to_words(self.n(1100, 1899))

    def digits(self, k: int) -> str:
        return ", ".join(" ".join(self.c(["zero", "oh", "one", "two", "three", "four", "five", "six", "seven",
                                             "eight", "nine"]) for _ in range(g)) for g in _groups(k))

    def price(self) -> str:
        d, cents = self.n(1, 99), self.c([0, 0, 5, 10, 25, 50, 75, 99, 20, 45])
        s = f"{number_to_words(d)} {'dollar' if d == 1 else 'dollars'}"
        return s + (f" and {number_to_words(cents)} cents" if cents else "")

    # templates --------------------------------------------------------
    def _t_put(self) -> str:
        v = self.c(["put", "left", "found", "placed", "dropped", "saw", "hid", "kept"])
        return f"{_cap(self.person())} {v} {self.thing()} {self.c(LOC_PREPS)} the {self.c(SURFACES)}."

    def _t_bought(self) -> str:
        v = self.c(TRANSITIVE)
        return f"{_cap(self.person())} {v[1]} {_a(self.c(ADJECTIVES) + ' ' + self.c(OBJECTS))} at the {self.c(PLACES)} {self.c(TIME_PAST)}."

    def _t_can_you(self) -> str:
        v = self.c(COMMAND_VERBS)
        tail = self.c([f" before {self.c(TIME_FUTURE)}", f" when you get to the {self.c(PLACES)}", "", " for me",
                       f" after {self.c(EVENTS)}"])
        return f"{self.c(['Can you', 'Could you', 'Would you', 'Will you'])} {v[0]} {self.thing()}{tail}?"

    def _t_please(self) -> str:
        v = self.c(COMMAND_VERBS)
        return (f"Please {v[0]} the {self.c(ADJECTIVES)} {self.c(OBJECTS)} and put it "
                f"{self.c(LOC_PREPS)} the {self.c(SURFACES)}.")

    def _t_there_are(self) -> str:
        k = self.n(2, 40)
        noun = self.c([lambda: _plural(self.c(OBJECTS), OBJECT_PLURAL),
                       lambda: _plural(self.c(FOOD_COUNT), FOOD_COUNT_PLURAL),
                       lambda: _plural(self.c(ANIMALS), ANIMAL_PLURAL)])()
        return f"There are {number_to_words(k)} {self.c(COLORS + ADJECTIVES)} {noun} in the {self.c(CONTAINERS + PLACES)}."

    def _t_meet(self) -> str:
        return f"{self.c(['We will', 'We should', 'Let us', 'I will', 'They will'])} meet at the {self.c(PLACES)} at {self.clock()} {self.c(TIME_FUTURE)}."

    def _t_opens(self) -> str:
        return f"The {self.c(PLACES)} opens at {self.clock()} and closes at {self.clock()}."

    def _t_every(self) -> str:
        v = self.c(TRANSITIVE)
        return f"My {self.c(RELATIVES)} {v[2]} {_a(self.c(FOOD_COUNT + OBJECTS))} every {self.c(DAYS + ['morning', 'evening', 'week', 'day'])}."

    def _t_cost(self) -> str:
        return self.c([f"How much does the {self.c(ADJECTIVES)} {self.c(OBJECTS)} cost?",
                       f"The {self.c(OBJECTS)} costs {self.price()}.",
                       f"{_cap(self.person())} paid {self.price()} for {_a(self.c(ADJECTIVES) + ' ' + self.c(OBJECTS))}."])

    def _t_born(self) -> str:
        return (f"{self.c(NAMES)} was born on the {ordinal_to_words(self.n(1, 31))} of {self.c(MONTHS)}, "
                f"{self.year()}.")

    def _t_directions(self) -> str:
        return (f"Turn {self.c(DIRECTIONS)} at the {self.c(PLACES)} and walk {self.num(2, 12)} blocks "
                f"to the {self.c(PLACES)}.")

    def _t_robot(self) -> str:
        verb = self.c(["Go forward", "Go back", "Move forward", "Move back", "Drive forward", "Walk forward",
                       "Go backward", "Step forward"])
        tail = self.c(["", f" and then turn {self.c(DIRECTIONS)}", f" and stop", f" and turn around",
                       f" and turn {self.c(DIRECTIONS)} {self.num(10, 180)} degrees"])
        return f"{verb} {self.num(1, 100)} {self.c(UNITS)}{tail}."

    def _t_weather(self) -> str:
        return self.c([f"It will be {self.c(WEATHER)} {self.c(TIME_FUTURE)}.",
                       f"It was {self.c(WEATHER)} {self.c(TIME_PAST)}.",
                       f"The weather in {self.c(CITIES)} is {self.c(WEATHER)} today.",
                       f"The temperature dropped to {self.num(0, 40)} degrees {self.c(TIME_PAST)}."])

    def _t_dont_forget(self) -> str:
        v = self.c(COMMAND_VERBS)
        return f"{self.c(['Do not', 'Don’t', 'Please don’t', 'Never'])} forget to {v[0]} {self.thing()} before you {self.c(['leave', 'go to bed', 'go out', 'lock the door', 'go to work'])}."

    def _t_been(self) -> str:
        v = self.c(INTRANSITIVE)
        who = self.c(["She’s", "He’s", "They’ve", "We’ve", "I’ve", f"{self.c(NAMES)} has"])
        return f"{who} been {v[3]} in the {self.c(PLACES)} since {self.c(['noon', 'Monday', 'breakfast', 'lunch', 'last week', 'the morning', self.clock()])}."

    def _t_why(self) -> str:
        return self.c([f"Why didn’t you tell me that the {self.c(OBJECTS)} was {self.c(ADJECTIVES)}?",
                       f"Why is {self.person()} so {self.c(PERSON_ADJ)} today?",
                       f"Why did {self.person()} go to the {self.c(PLACES)} {self.c(TIME_PAST)}?"])

    def _t_if(self) -> str:
        cond = self.c(["it rains", "it snows", "it’s sunny", "the bus is late", "we finish early",
                       "you are free", "the shop is closed", "it gets cold"])
        return f"If {cond} {self.c(TIME_FUTURE)}, {self.c(['we’ll', 'I’ll', 'they’ll', 'we can'])} {self.c(ACTIVITIES)}."

    def _t_motion(self) -> str:
        who = self.c([f"the {self.c(ANIMALS)}", f"the {self.c(PERSON_ADJ)} {self.c(ANIMALS)}", self.person()])
        return f"{_cap(who)} {self.c(MOTION)[1]} {self.c(PATH_PREPS)} the {self.c(OUTDOOR)}."

    def _t_party(self) -> str:
        k = self.n(2, 60)
        food = _plural(self.c(FOOD_COUNT), FOOD_COUNT_PLURAL)
        return f"{self.c(NAMES)} and {self.c(NAMES)} {self.c(['bought', 'made', 'brought', 'ordered', 'baked'])} {number_to_words(k)} {food} for the {self.c(['party', 'picnic', 'school', 'meeting', 'guests', 'wedding'])}."

    def _t_phone(self) -> str:
        return self.c([f"Call me at {self.digits(7)}.", f"My number is {self.digits(10)}.",
                       f"The code is {self.digits(self.n(3, 6))}.", f"{self.digits(self.n(2, 7)).capitalize()}."])

    def _t_order(self) -> str:
        return (f"{self.c(['I would like', 'Can I have', 'We’d like', 'I’ll have'])} {_a(self.c(FOOD_COUNT))} "
                f"and {self.c(['a cup of', 'a glass of', 'some', 'a bottle of'])} {self.c(DRINKS)}, please.")

    def _t_train(self) -> str:
        return (f"The {self.c(['train', 'bus', 'ferry', 'plane', 'coach'])} to {self.c(CITIES)} leaves from "
                f"{self.c(['platform', 'gate', 'stop'])} {self.num(1, 30)} at {self.clock()}.")

    def _t_lives(self) -> str:
        return (f"{self.c(NAMES)}'s {self.c(RELATIVES)} lives in {_a(self.c(ADJECTIVES))} house near the "
                f"{self.c(PLACES)} in {self.c(CITIES)}.")

    def _t_finish(self) -> str:
        return f"We have to finish the {self.c(WORK_NOUNS)} by {self.c(DAYS + ['tonight', 'tomorrow', 'next week', 'the end of the month'])}."

    def _t_question(self) -> str:
        v = self.c(TRANSITIVE)
        return self.c([f"Is there {_a(self.c(PLACES))} near here?",
                       f"Where did you {v[0]} {self.thing()}?",
                       f"What time does the {self.c(PLACES)} open?",
                       f"Who {v[1]} {self.thing()}?",
                       f"When will {self.person()} arrive?",
                       f"Have you seen {self.thing()}?",
                       f"Do you know where the {self.c(PLACES)} is?",
                       f"How long does it take to get to {self.c(CITIES)}?"])

    def _t_next_to(self) -> str:
        return (f"The {self.c(OBJECTS)} is {self.c(LOC_PREPS)} the {self.c(SURFACES)} next to the "
                f"{self.c(ADJECTIVES)} {self.c(OBJECTS)}.")

    def _t_size(self) -> str:
        return (f"The {self.c(['room', 'garden', 'table', 'yard', 'boat', 'hall', 'pool'])} is "
                f"{self.num(2, 90)} feet long and {self.num(2, 60)} feet wide.")

    def _t_minutes(self) -> str:
        return (f"It takes about {self.num(2, 59)} minutes to {self.c(['walk', 'drive', 'cycle', 'get'])} from the "
                f"{self.c(PLACES)} to the {self.c(PLACES)}.")

    def _t_when(self) -> str:
        v = self.c(INTRANSITIVE)
        return f"The {_plural(self.c(PEOPLE), PEOPLE_PLURAL)} were {v[3]} in the {self.c(PLACES)} when {self.c(EVENTS)} started."

    def _t_recipe(self) -> str:
        k = self.n(1, 6)
        unit = self.c(["cup", "spoon", "pinch", "handful"])
        return (f"Add {number_to_words(k)} {unit if k == 1 else _plural(unit, {})} of {self.c(FOOD_MASS)} "
                f"and {self.c(['stir', 'bake', 'cook', 'mix', 'boil'])} for {self.num(2, 45)} minutes.")

    def _t_score(self) -> str:
        return self.c([f"Our team won the game by {self.num(1, 30)} points.",
                       f"The final score was {self.num(0, 9)} to {self.num(0, 9)}.",
                       f"{self.c(NAMES)} scored {self.num(2, 40)} points in the {self.c(['first', 'second', 'last'])} half."])

    def _t_asked(self) -> str:
        v = self.c(COMMAND_VERBS)
        return (f"{_cap(self.person())} asked {self.c(['us', 'me', 'them', 'him', 'her'])} to {v[0]} the "
                f"{self.c(OBJECTS)} {self.c(['quietly', 'carefully', 'quickly', 'slowly', 'right away', 'again'])}.")

    def _t_cards(self) -> str:
        cards = [f"the {self.c(RANKS)} of {self.c(SUITS)}" for _ in range(self.n(1, 3))]
        return self.c([f"{self.c(NAMES)} drew {' and '.join(cards)}.", f"{_cap(cards[0])}.",
                       f"I have {' and '.join(cards)}."])

    def _t_cant_find(self) -> str:
        return (f"I can’t find {self.c(['my', 'the', 'our'])} {self.c(OBJECTS)}; I think I left it in the "
                f"{self.c(VEHICLES + PLACES)}.")

    def _t_greeting(self) -> str:
        return (f"{self.c(GREETINGS)}, {self.c(NAMES)}. {self.c(['I’m', 'We’re', 'I am', 'We are'])} "
                f"{self.c(FEELINGS)} {self.c(['to see you', 'about the news', 'that you came', 'today', 'again'])}.")

    def _t_date(self) -> str:
        return self.c([f"The {self.c(EVENTS)[4:]} is on {self.c(DAYS)} the {ordinal_to_words(self.n(1, 31))}.",
                       f"School starts on the {ordinal_to_words(self.n(1, 30))} of {self.c(MONTHS)}.",
                       f"They moved to {self.c(CITIES)} in {self.c(MONTHS)} {self.year()}.",
                       f"We always go to the {self.c(PLACES)} in the {self.c(SEASONS)}."])

    def _t_feel(self) -> str:
        return (f"{_cap(self.person())} {self.c(['was', 'is', 'felt', 'seemed'])} {self.c(FEELINGS)} because "
                f"{self.c(['the', 'her', 'his', 'their'])} {self.c(ANIMALS + OBJECTS)} was {self.c(ADJECTIVES)}.")

    def _t_compare(self) -> str:
        return (f"This {self.c(OBJECTS)} is {self.c(['much', 'a little', 'far', 'a lot'])} "
                f"{self.c(['bigger', 'smaller', 'older', 'newer', 'heavier', 'lighter', 'cheaper', 'nicer', 'cleaner'])} "
                f"than the one {self.c(['we saw', 'I bought', 'you have', 'they sold'])} {self.c(TIME_PAST)}.")

    def _t_percent(self) -> str:
        return self.c([f"About {self.num(2, 99)} percent of the {_plural(self.c(PEOPLE), PEOPLE_PLURAL)} agreed.",
                       f"The {self.c(['shop', 'market', 'bakery', 'bookstore'])} has {self.num(5, 70)} percent off everything {self.c(TIME_FUTURE)}."])

    def _t_routine(self) -> str:
        v = self.c(INTRANSITIVE)
        return (f"Every {self.c(DAYS + ['morning', 'evening', 'weekend'])} {self.person()} {v[2]} "
                f"{self.c(['in the', 'near the', 'at the', 'behind the'])} {self.c(PLACES)} "
                f"{self.c(['for an hour', 'with friends', 'alone', 'before work', 'after school', 'until dark'])}.")

    def sentence(self) -> str:
        """One random display sentence (capitalised, punctuated, numbers in words)."""
        # Templates write contractions with a typographic apostrophe (so
        # they sit inside Python string literals); the synthesizer gets ASCII.
        return self.c(self.templates)().replace("\u2019", "'")


def _groups(k: int) -> List[int]:
    """Group sizes for reading ``k`` digits (3-3-4 style for phone numbers)."""
    if k <= 4:
        return [k]
    if k == 7:
        return [3, 4]
    if k == 10:
        return [3, 3, 4]
    return [k // 2, k - k // 2]


def generate_sentences(n: int, split: str = "train", seed: int = 0, *, max_draws: Optional[int] = None) -> List[str]:
    """``n`` distinct display sentences of one split, a fixed function of
    ``(n, split, seed)`` (a prefix of the list for a larger ``n``).

    The transcript of each is ``normalize_text(sentence)``; distinctness is
    on the transcript.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown sentence split {split!r}; choose from {', '.join(SPLITS)}")
    if n < 0:
        raise ValueError(f"generate_sentences: n must be >= 0, got {n}")
    gen = SentenceGenerator(seed)
    seen, out = set(), []
    share = (SPLITS[split][1] - SPLITS[split][0]) / 1000
    limit = max_draws if max_draws is not None else int(50 * n / share) + 1000
    draws = 0
    while len(out) < n:
        if draws >= limit:
            raise RuntimeError(f"generate_sentences: only {len(out)} distinct {split} sentences after {draws} draws")
        draws += 1
        s = gen.sentence()
        key = normalize_text(s)
        if key in seen or _split_of_normalized(key) != split:
            continue
        seen.add(key)
        out.append(s)
    return out


def sentences_from_file(path: Union[str, Path], split: Optional[str] = None, *, min_words: int = 1,
                        max_words: int = 40) -> List[str]:
    """Sentences from a UTF-8 text file, one per line (blank lines and lines
    starting with ``#`` skipped), deduplicated on the normalised text, kept
    when their hash split is ``split`` (all when None) and their length is
    within ``[min_words, max_words]``. Order of first appearance is kept."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text file not found: {path}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown sentence split {split!r}; choose from {', '.join(SPLITS)}")
    seen, out = set(), []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        key = normalize_text(s)
        nw = len(key.split())
        if key in seen or not (min_words <= nw <= max_words):
            continue
        if split is not None and _split_of_normalized(key) != split:
            continue
        seen.add(key)
        out.append(s)
    return out


def iter_sentences(seed: int = 0) -> Iterator[str]:
    """An endless stream of display sentences (all splits)."""
    gen = SentenceGenerator(seed)
    while True:
        yield gen.sentence()
