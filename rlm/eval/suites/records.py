"""Records for the OOLONG-style suites: short questions people asked, each with a label.

As in OOLONG's trec_coarse split, a record's text is a question and its label is the kind
of answer the question asks for (a person, a place, a number, ...). The label is never
written in the record: it must be inferred from the text. Each line reads
``Record 17 | user 40213 | 2024-03-09 | Who wrote The Silent Orchard?``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass

from rlm.eval.suites.text import tokens_of

LABELS = ("abbreviation", "entity", "description", "human", "location", "numeric")
LABEL_HELP = ("Each record's text is a question someone asked. Its label is the kind of "
              "answer that question asks for: abbreviation (what an abbreviation stands "
              "for), entity (a thing: an animal, an instrument, a food, ...), description "
              "(an explanation or a meaning), human (a person), location (a place) or "
              "numeric (a number, a year, a distance, ...). Labels are not written in the "
              "records: infer each from its text.")
START = dt.date(2023, 1, 1)
DAYS = 730
PER_USER = 4          # records per user on average

ABBRS = ("NASA", "UNESCO", "HTML", "GDP", "DNA", "RSVP", "CPU", "NATO", "ATM", "PIN", "OPEC",
         "LASER", "SCUBA", "AWOL", "FAQ", "UFO")
THINGS = ("the tides", "rainbows", "thunder", "bread dough", "autumn leaves", "the moon",
          "ice", "a compass needle", "soap bubbles", "volcanoes", "echoes", "rust")
DEVICES = ("a steam engine", "a refrigerator", "a barometer", "a sundial", "a telescope",
           "a windmill", "a printing press", "a pendulum clock", "a microwave oven")
WORDS = ("serendipity", "melancholy", "ephemeral", "quixotic", "ubiquitous", "laconic",
         "gregarious", "nostalgia")
WORKS = ("The Silent Orchard", "Winter in Lisbon", "The Glass Harbor", "A Map of Clouds",
         "The Copper Bell", "Letters from Riga", "The Last Lighthouse", "North of Morning")
INVENTIONS = ("the telephone", "the light bulb", "the radio", "the bicycle", "the zipper",
              "the stethoscope", "the typewriter", "the submarine")
PLACES = ("the Eiffel Tower", "Machu Picchu", "the Taj Mahal", "Angkor Wat", "Table Mountain",
          "the Alhambra", "Petra", "the Acropolis", "Uluru", "Mount Fuji")
CITIES = ("Lyon", "Porto", "Kraków", "Osaka", "Valparaíso", "Tbilisi", "Bergen", "Cusco",
          "Zanzibar", "Hobart", "Ghent", "Mombasa")
ANIMALS = ("dog", "horse", "cat", "parrot", "goat", "cow")
ACTIVITIES = ("herding sheep", "long hikes", "small flats", "cold winters", "guarding farms")
PEOPLE = ("Louis Armstrong", "Jimi Hendrix", "Yo-Yo Ma", "Miles Davis", "Ella Fitzgerald")
DISHES = ("marmalade", "guacamole", "pesto", "cider", "chutney", "kimchi")
EVENTS = ("1992 Summer Olympics", "first World Expo", "2010 World Cup final",
          "1900 Paris Exposition", "first Eurovision contest")
UNITS = (("ounces", "pound"), ("feet", "mile"), ("days", "leap year"), ("grams", "kilogram"),
         ("minutes", "day"), ("cups", "gallon"), ("inches", "yard"))

TEMPLATES: dict[str, tuple[str, ...]] = {
    "abbreviation": ("What does {abbr} stand for?", "What is the full form of {abbr}?",
                     "{abbr} is short for what?",
                     "What is the expansion of the acronym {abbr}?"),
    "entity": ("What instrument did {person} play?", "What breed of {animal} is best for "
               "{activity}?", "What fruit is used to make {dish}?",
               "What was the name of the ship in {work}?"),
    "description": ("Why do {thing} behave the way they do?", "How does {device} work?",
                    "What does the word {word} mean?",
                    "What is the difference between {thing} and {thing2}?"),
    "human": ("Who wrote {work}?", "Who invented {invention}?",
              "Which scientist first explained {thing}?", "Who was the first mayor of {city}?"),
    "location": ("Where is {place} located?", "In which country is {city}?",
                 "Which city hosted the {event}?", "What river flows through {city}?"),
    "numeric": ("How many {unit} are in a {whole}?", "In what year was {place} built?",
                "How far is {city} from {city2}?", "What is the population of {city}?"),
}


@dataclass(frozen=True)
class Record:
    """One record: its id, user, date, text and (hidden) label."""

    rid: int
    user: int
    date: dt.date
    text: str
    label: str

    def line(self) -> str:
        return f"Record {self.rid} | user {self.user} | {self.date.isoformat()} | {self.text}"


def record_text(rng: random.Random, label: str) -> str:
    """A question whose answer is of kind ``label``."""
    unit, whole = rng.choice(UNITS)
    thing, thing2 = rng.sample(THINGS, 2)
    city, city2 = rng.sample(CITIES, 2)
    return rng.choice(TEMPLATES[label]).format(
        abbr=rng.choice(ABBRS), person=rng.choice(PEOPLE), animal=rng.choice(ANIMALS),
        activity=rng.choice(ACTIVITIES), dish=rng.choice(DISHES), work=rng.choice(WORKS),
        thing=thing, thing2=thing2, device=rng.choice(DEVICES), word=rng.choice(WORDS),
        invention=rng.choice(INVENTIONS), city=city, city2=city2, place=rng.choice(PLACES),
        event=rng.choice(EVENTS), unit=unit, whole=whole)


def make_records(rng: random.Random, budget: int) -> list[Record]:
    """Records until their lines reach ``budget`` tokens, labels drawn with uneven weights
    (so that label frequencies differ, as in real data)."""
    weights = [rng.uniform(0.4, 2.0) for _ in LABELS]
    users = rng.sample(range(10_000, 100_000), max(3, budget // (25 * PER_USER)))
    records: list[Record] = []
    used = 0
    while used < budget or not records:
        label = rng.choices(LABELS, weights)[0]
        record = Record(rid=len(records) + 1, user=rng.choice(users),
                        date=START + dt.timedelta(days=rng.randrange(DAYS)),
                        text=record_text(rng, label), label=label)
        records.append(record)
        used += tokens_of(record.line() + "\n", sep="")  # "?\n" is one token
    return records


def label_counts(records: list[Record]) -> Counter[str]:
    """How many records carry each label (every label present, zero or not)."""
    counts = Counter({label: 0 for label in LABELS})
    counts.update(r.label for r in records)
    return counts


def context_of(records: list[Record]) -> str:
    return "\n".join(r.line() for r in records)
