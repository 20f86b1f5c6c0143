"""The faithfulness guard: every number and capitalised name in a summary must be in its source.

A language model that summarizes can write "by 8 minutes" for "from 25 to 8 minutes"
or invent a company. Checking every claim needs a model; checking the two kinds of
token that carry most invented facts, numbers and proper names, needs none, and it
never flags a faithful extractive summary. The LLM summarizers (local and chat API)
retry once with a stricter prompt when this finds anything, then fall back to the
extractive summarizer; ``bench/quality.py`` counts what it finds per summary.

Rules, chosen so a faithful paraphrase passes:
- a number passes when its value appears in the source (``1,500`` = ``1500``,
  ``25%`` = ``25 percent``), or as a spelled-out number ("three" = ``3``, "five and a
  half" = ``5.5``);
- a name is a capitalised word that does not start a sentence; it passes when the
  source contains it in any case, or as part of a longer word ("Kubernetes'");
- sentence-initial words, "I", and unit abbreviations ("GB", "km", "PM") are not names.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f][\w'\u2019\-]*")
_SENTENCE_END = re.compile(r"[.!?:;\n\u2026]")

_SPELLED = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000",
    "half": "0.5", "dozen": "12", "once": "1", "twice": "2",
}  # fmt: skip

#: Capitalised words that are not names even mid-sentence: "I", and unit abbreviations
#: that a faithful summary may write for a spelled-out unit ("8 GB" for "8 gigabytes").
_NOT_NAMES = frozenset({
    "i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "am", "pm", "kb", "mb", "gb", "tb", "km",
    "kg", "cm", "mm", "ghz", "mhz", "kw", "kwh", "mph", "usd", "eur",
})  # fmt: skip
_AND_A_HALF = re.compile(r"\b(\d+|[a-z]+) and a half\b", re.IGNORECASE)


def _canonical_number(token: str) -> str:
    value = token.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value.lstrip("0") or "0"


def numbers(text: str) -> set[str]:
    """The numeric values in ``text``, written as digits or as common number words."""
    found = {_canonical_number(m.group()) for m in _NUMBER.finditer(text)}
    found |= {_SPELLED[w.lower()] for w in _WORD.findall(text) if w.lower() in _SPELLED}
    for match in _AND_A_HALF.finditer(text):  # "five and a half" = 5.5
        whole = _SPELLED.get(match.group(1).lower(), match.group(1))
        if whole.isdigit():
            found.add(f"{int(whole)}.5")
    return found


def names(text: str) -> list[str]:
    """Capitalised words that do not open a sentence, in order (each once)."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text):
        word = match.group().rstrip("'\u2019-")
        if not word[:1].isupper() or word.lower() in _NOT_NAMES:
            continue
        before = text[: match.start()].rstrip(" \t\"'(\u201c\u2018*-")
        if not before or _SENTENCE_END.match(before[-1]):
            continue
        seen.setdefault(word, None)
    return list(seen)


def unsupported(summary: str, source: str) -> list[str]:
    """The numbers and names in ``summary`` that ``source`` does not contain (empty = faithful)."""
    source_numbers = numbers(source)
    source_lower = source.lower()
    missing = [
        m.group()
        for m in _NUMBER.finditer(summary)
        if _canonical_number(m.group()) not in source_numbers
    ]
    missing += [n for n in names(summary) if n.lower() not in source_lower]
    return list(dict.fromkeys(missing))
