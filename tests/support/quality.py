"""The quality benchmark's data (``tests/data/quality/``) and its scoring rules.

Shared by ``bench/quality.py``, which measures, and ``tests/unit/test_quality_data.py``,
which holds the data to its own rules (every listed fact is in its source), so the
rules that decide whether a summary covers a fact or a transcript word is right are
written once. Pure: no model, no I/O beyond reading the data files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "quality"


@dataclass(frozen=True, slots=True)
class Utterance:
    """One sentence to speak with espeak-ng, and its language (ISO 639-1)."""

    id: str
    text: str
    language: str


@dataclass(frozen=True, slots=True)
class Fact:
    """A key fact of a text: covered when each group of ``must`` has one alternative present."""

    label: str
    must: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Document:
    """An article or a spoken-style transcript with its hand-listed facts."""

    id: str
    kind: str
    style: str
    file: str
    facts: tuple[Fact, ...]

    @cached_property
    def text(self) -> str:
        return (DATA / self.file).read_text(encoding="utf-8")


def load_speech() -> tuple[list[Utterance], list[Utterance]]:
    """The English sentences and the German/Spanish/French ones (``speech.json``)."""
    raw = json.loads((DATA / "speech.json").read_text(encoding="utf-8"))
    english = [Utterance(u["id"], u["text"], "en") for u in raw["en"]]
    others = [Utterance(u["id"], u["text"], u["language"]) for u in raw["multilingual"]]
    return english, others


def load_documents() -> list[Document]:
    """The 15 texts of ``documents.json``, in file order."""
    raw = json.loads((DATA / "documents.json").read_text(encoding="utf-8"))
    return [
        Document(
            id=d["id"],
            kind=d["kind"],
            style=d["style"],
            file=d["file"],
            facts=tuple(
                Fact(f["label"], tuple(tuple(group) for group in f["must"])) for f in d["facts"]
            ),
        )
        for d in raw["documents"]
    ]


# -- facts ------------------------------------------------------------------------------

_DASHES = re.compile(r"[-\u2010-\u2015]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def normalise(text: str) -> str:
    """Lower case, dashes as spaces, no thousands separators, single spaces."""
    text = _THOUSANDS.sub("", text.lower().replace("\u2019", "'"))
    return " ".join(_DASHES.sub(" ", text).split())


def present(term: str, text: str) -> bool:
    """``term`` occurs in ``text`` at word boundaries, after ``normalise`` on both."""
    pattern = r"(?<!\w)" + re.escape(normalise(term)) + r"(?!\w)"
    return re.search(pattern, normalise(text)) is not None


def covers(summary: str, fact: Fact) -> bool:
    """Every ``must`` group of ``fact`` has at least one alternative in ``summary``."""
    return all(any(present(alt, summary) for alt in group) for group in fact.must)


# -- word error rate --------------------------------------------------------------------

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_MONEY = re.compile(r"\$(\d[\d,]*(?:\.\d+)?)(\s+(?:thousand|million|billion))?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: Spoken and written forms a transcriber may choose either way.
_EXPANSIONS = {
    "dr": "doctor", "mr": "mister", "mrs": "missus", "ok": "okay", "%": "percent", "hz": "hertz",
}  # fmt: skip
#: A hyphen inside a word joins it ("start-up" = "startup"), except after a tens word.
_JOINING_HYPHEN = re.compile(r"(?<=[^\W\d_])(?<!ty)-(?=[^\W\d_])")


def spell(n: int) -> str:
    """An integer in English words: 1299 -> "one thousand two hundred ninety nine"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in _SCALES:
        if n >= size:
            rest = n % size
            return f"{spell(n // size)} {name}" + (f" {spell(rest)}" if rest else "")
    raise AssertionError(n)  # unreachable: every n >= 100 has a scale


def _spell_match(match: re.Match[str]) -> str:
    whole, _, decimals = match.group().partition(".")
    words = spell(int(whole))
    if decimals:
        words += " point " + " ".join(_ONES[int(d)] for d in decimals)
    return f" {words} "


def wer_normalise(text: str, language: str) -> str:
    """Text as WER compares it: lower case, no punctuation, English numbers spelled out.

    Applied to the reference and the transcript alike, so "40 million dollars" and
    "$40 million", "9" and "nine", "120Hz" and "120 hertz", or "start-up" and
    "startup" count as the same words.
    """
    text = text.lower().replace("\u2019", "'")
    text = _MONEY.sub(lambda m: f"{m.group(1)}{m.group(2) or ''} dollars", text)
    text = _THOUSANDS.sub("", text).replace("%", " % ")
    if language == "en":
        text = _NUMBER.sub(_spell_match, text)
    text = _DASHES.sub(" ", _JOINING_HYPHEN.sub("", text))
    tokens = re.findall(r"[^\W_]+(?:'[^\W_]+)*|%", text)
    return " ".join(_EXPANSIONS.get(t, t) for t in tokens)


def wer(reference: str, hypothesis: str, language: str = "en") -> float:
    """Word error rate after ``wer_normalise`` on both sides (the one WER every bench uses)."""
    import jiwer  # a dev dependency; imported here so the data test does not need it

    return float(jiwer.wer(wer_normalise(reference, language), wer_normalise(hypothesis, language)))


# -- tags -------------------------------------------------------------------------------


def _stem(word: str) -> str:
    """Simple plural folding: "queues" -> "queue", "batteries" -> "battery"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tag_words(tag: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:'[^\W_]+)*", normalise(tag))


def grounded(tag: str, source: str) -> bool:
    """Every word of ``tag`` is a word of ``source``, modulo case and simple plurals."""
    vocabulary = {_stem(w) for w in tag_words(source)}
    words = tag_words(tag)
    return bool(words) and all(_stem(w) in vocabulary for w in words)


def fragment(tag: str, stopwords: frozenset[str]) -> bool:
    """``tag`` starts or ends with a stopword: "by the sea" does ("street became" passes)."""
    words = tag_words(tag)
    return not words or words[0] in stopwords or words[-1] in stopwords
