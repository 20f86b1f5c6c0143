"""Plain-text helpers shared by chunking and summaries: sentences, clauses, words, stopwords.

Pure and dependency-free on purpose: the splitter is a careful regex, not a model,
so chunk boundaries are deterministic and cheap on very long inputs. It knows the
common English abbreviations and decimals ("Dr. Smith paid $3.50.") and treats
blank lines and bullet lines as hard breaks, which is how scraped pages and Reddit
posts separate their thoughts.
"""

from __future__ import annotations

import itertools
import re

#: Abbreviations after which a period does not end a sentence (lower case, no dot).
_ABBREVIATIONS_TEXT = """
    mr mrs ms dr prof sr jr st vs etc inc ltd co corp dept fig eq no vol approx est jan
    feb mar apr jun jul aug sep sept oct nov dec e.g i.e u.s u.k a.m p.m cf al
    """

#: Function words that never start or end a key phrase (a compact English list).
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his
    how i if in into is it its itself just let like made make many may me might more
    most much must my myself new no nor not now of off often on once one only or other
    our ours ourselves out over own per said same say says she should since so some
    still such than that the their theirs them themselves then there these they this
    those through thus to too two under until up upon us use used using very was way we
    well were what when where which while who whom whose why will with within without
    would yet you your yours yourself yourselves get got first last next year years time
    times three four five among across around however although though every even ever
    back
    """

ABBREVIATIONS = frozenset(_ABBREVIATIONS_TEXT.split())
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)])\s)")
_CANDIDATE_END = re.compile(r"""([.!?\u2026]+)(["')\]\u201d\u2019]*)(\s+)""")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\u2019\-]*")


def _ends_sentence(before: str, after: str) -> bool:
    """Whether the punctuation between ``before`` and ``after`` closes a sentence."""
    if not after:
        return True
    last = before.rsplit(None, 1)[-1] if before.strip() else ""
    token = last.rstrip(".").lower().lstrip("(\"'")
    if token in ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isalpha():  # initials: "J. R. R. Tolkien"
        return False
    first = after.lstrip()[:1]
    return not (first.islower() or first in ",;:")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` in order, whitespace-normalised, empty ones dropped."""
    sentences: list[str] = []
    for block in _BREAK.split(text):
        block = " ".join(block.split())
        if not block:
            continue
        start = 0
        for match in _CANDIDATE_END.finditer(block + " "):
            end = match.end(2)
            if _ends_sentence(block[start : match.start(1)], block[match.end() :]):
                piece = block[start:end].strip()
                if piece:
                    sentences.append(piece)
                start = match.end()
        tail = block[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


def words(text: str) -> list[str]:
    """The word tokens of ``text`` (letters, digits, inner apostrophes and hyphens)."""
    return _WORD.findall(text)


def word_count(text: str) -> int:
    return len(words(text))


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token estimate for English BPE vocabularies (errs high).

    OpenAI's rule of thumb is ~4 characters or ~0.75 words per token; taking the
    larger of the two keeps budget reservations on the safe side.
    """
    if not text:
        return 0
    return max(1, round(len(text) / 4), round(word_count(text) * 4 / 3))


def truncate_words(text: str, limit: int) -> str:
    """The first ``limit`` words of ``text``, with an ellipsis when cut."""
    tokens = text.split()
    if len(tokens) <= limit:
        return text.strip()
    return " ".join(tokens[:limit]).rstrip(",;:") + "\u2026"


#: Words that start a new thought in speech; a run-on is cut before them.
_MARKERS_TEXT = "and but so now okay ok then because which first second third"
_MARKERS = frozenset(_MARKERS_TEXT.split())
#: Markers that only join: dropped where the cut is made ("..., and the queue" -> "The queue").
_JOINERS_TEXT = "and but so now okay ok then"
_JOINERS = frozenset(_JOINERS_TEXT.split())
#: Fillers a spoken clause may open with; they add nothing quoted.
_FILLERS_TEXT = "okay ok so well um uh like basically anyway right yeah alright"
_FILLERS = frozenset(_FILLERS_TEXT.split())


def split_clauses(sentence: str, *, min_words: int = 8, max_words: int = 30) -> list[str]:
    """A run-on (a transcript with few full stops) cut into clauses that read as sentences.

    Cuts fall after a comma or semicolon, or before a marker word ("and", "so", "now",
    "because", ...), only where both sides keep ``min_words``, not inside a number
    ("five and a half") and not after an article ("the second thing"); a clause still
    longer than ``max_words`` is cut where a new clause most likely starts (``_best_cut``).
    Joining words and opening fillers are dropped, and each clause is capitalised and
    closed with a full stop. Text without such cuts comes back whole.
    """
    tokens = sentence.split()
    cuts = [0]
    for i in range(1, len(tokens)):
        word = _bare(tokens[i])
        after_punct = tokens[i - 1].endswith((",", ";"))
        before = tokens[i - 1]
        if not (after_punct or word in _MARKERS) or _numeric(before) or _bare(before) in _BINDS:
            continue
        if i - cuts[-1] >= min_words and len(tokens) - i >= min_words:
            cuts.append(i)
    pieces = [tokens[a:b] for a, b in zip(cuts, [*cuts[1:], len(tokens)], strict=True)]
    short: list[list[str]] = []
    while pieces:
        piece = pieces.pop(0)
        if len(piece) <= max_words:
            short.append(piece)
            continue
        cut = _best_cut(piece, min_words)
        pieces[:0] = [piece[:cut], piece[cut:]]
    if len(short) == 1:
        return [sentence]
    return [c for c in (_tidy(p) for p in short) if c]


#: Words that usually open a clause in speech: a good place to cut a long run-on.
_OPENERS_TEXT = """
    i i'm i've we we're we've you you're it it's they he she my our the this there that's
    what when if
    """
_OPENERS = frozenset(_OPENERS_TEXT.split())
#: Words that bind to the next one ("the second thing"): never cut right after them.
_BINDS_TEXT = "the a an my our your their his her its this that these those of to"
_BINDS = frozenset(_BINDS_TEXT.split())
_NUMBER_WORDS_TEXT = """
    one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty
    forty fifty hundred thousand million half
    """
_NUMBER_WORDS = frozenset(_NUMBER_WORDS_TEXT.split())


def _bare(token: str) -> str:
    return token.lower().strip(",;.!?\"'\u2019")


def _numeric(token: str) -> bool:
    word = _bare(token)
    return word in _NUMBER_WORDS or any(c.isdigit() for c in word)


def _best_cut(piece: list[str], min_words: int) -> int:
    """Where to cut an over-long clause: before an opener, not after a stopword, near the middle."""
    lo, hi = min_words, len(piece) - min_words
    if lo >= hi:
        return len(piece) // 2
    middle = len(piece) / 2

    def merit(i: int) -> float:
        opener = 2.0 if _bare(piece[i]) in _OPENERS else 0.0
        clean = 1.0 if _bare(piece[i - 1]) not in STOPWORDS else 0.0
        return opener + clean - abs(i - middle) / len(piece)

    return max(range(lo, hi + 1), key=merit)


def _tidy(tokens: list[str]) -> str:
    while len(tokens) > 1 and tokens[0].lower().strip(",;.") in _JOINERS | _FILLERS:
        tokens = tokens[1:]
    text = " ".join(tokens).rstrip(",;")
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "\u2026")) else text + "."


#: Sentences longer than this are cut at clause breaks (spoken style runs on).
RUN_ON_WORDS = 40

#: Characters that close a sentence.
CLOSERS = (".", "!", "?", '"', "'", ")", "\u201d", "\u2019", "\u2026", ":")


def is_heading(sentence: str) -> bool:
    """A title or section heading: no closing punctuation, and short or in Title Case."""
    if sentence.rstrip().endswith(CLOSERS):
        return False
    tokens = sentence.split()
    capitalised = sum(1 for t in tokens if t[:1].isupper())
    return len(tokens) < 12 or (len(tokens) <= 20 and capitalised >= 0.6 * len(tokens))


def closed(sentence: str) -> str:
    """``sentence`` ending in punctuation, so joined picks read as separate sentences."""
    return sentence if sentence.endswith(CLOSERS) else sentence + "."


def summary_units(text: str) -> list[str]:
    """The sentences a summary picks from: headings dropped, run-ons cut into clauses."""
    every = [s for line in text.splitlines() for s in split_sentences(line)]
    sentences = [closed(s) for s in every if not is_heading(s)] or every
    return list(
        itertools.chain.from_iterable(
            split_clauses(s) if word_count(s) > RUN_ON_WORDS else [s] for s in sentences
        )
    )
