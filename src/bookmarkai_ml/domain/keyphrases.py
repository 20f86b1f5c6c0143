"""Tag candidates and the rules a tag passes: noun phrases, normalised, grounded, no boilerplate.

Pure: it reads part-of-speech tagged tokens (Universal Dependencies tags, as spaCy gives
them) and never loads a model; ``providers.pos`` tags the text and ``providers.tagger``
ranks what this module proposes. A candidate is a run of 1..3 adjectives and nouns that
ends in a noun ("quorum queues", "tidal power plant"), never a verb or a stopword at
either edge, so fragments like "quantum cues keep" or "street became" cannot be proposed.
The same rules (``is_fragment``, ``is_boilerplate``, ``grounded``) check tags that other
summarizers (an LLM) propose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bookmarkai_ml.domain.text import STOPWORDS

#: Universal POS tags a tag word may carry; the last word must be a noun.
_INNER = frozenset({"ADJ", "NOUN", "PROPN"})
_HEAD = frozenset({"NOUN", "PROPN"})
_VERBISH = frozenset({"VERB", "AUX"})

#: Page furniture and calls to action that scraped pages and video captions repeat.
_BOILERPLATE_TEXT = """
    subscribe subscriber subscription unsubscribe cookie newsletter click login logout
    signup copyright advertisement advert sponsor promo coupon welcome thanks listener
    viewer today tomorrow yesterday homepage javascript
    """
BOILERPLATE_WORDS = frozenset(_BOILERPLATE_TEXT.split())
#: Nouns too vague to be a tag on their own ("a lot", "the thing").
_VAGUE_TEXT = "lot lots thing things stuff bit kind sort way part version number"
VAGUE = frozenset(_VAGUE_TEXT.split())
#: Verbs that are rarely nouns, in their common forms: a second guard where a tagger
#: reads speech without punctuation ("while that's cooking grab a pan") or a headline.
_VERBS_TEXT = """
    grab grabs grabbed put puts keep keeps kept know knows knew known fail fails failed
    become becomes became get gets got go goes went gone take takes took taken give gives
    gave given make makes made say says said tell tells told think thinks thought seem
    seems seemed want wants wanted try tries tried find finds found bring brings brought
    begin begins began feel feels felt mean means meant stay stays stayed happen happens
    happened decide decides decided realise realised realize realized wins won loses lost
    cracks cracked struggles struggled
    """
VERBS = frozenset(_VERBS_TEXT.split())
BOILERPLATE_PHRASES = (
    "click here",
    "sign up",
    "log in",
    "read more",
    "privacy policy",
    "terms of service",
    "all rights reserved",
    "accept all",
    "notification bell",
    "next week",
    "this week",
    "last week",
)

#: Greetings, sign-offs and calls to action: sentences no summary or tag should quote.
_BOILERPLATE_SENTENCE = re.compile(
    r"\b(?:welcome (?:back )?to|thanks? (?:you )?(?:so much )?for (?:listening|watching|reading)"
    r"|see you (?:next|soon|tomorrow)|(?:please )?(?:like and )?subscribe|hit the bell"
    r"|click (?:here|the link)|sign up|accept (?:all )?cookies|this video is sponsored"
    r"|don't forget to|leave a comment|link in the description)\b",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = "\"'`()[]{}<>.,;:!?*#\u2018\u2019\u201c\u201d\u2026-\u2013\u2014"


@dataclass(frozen=True)
class Token:
    """One word as a POS tagger sees it: surface text, UD tag, lemma."""

    text: str
    pos: str
    lemma: str = ""


@dataclass
class Candidate:
    """A normalised phrase, how often it occurs and where it first does (token index)."""

    phrase: str
    key: str
    count: int = 0
    first: int = 0
    forms: dict[str, int] = field(default_factory=dict)


def normalise(phrase: str) -> str:
    """Lower-case, NFKC, straight apostrophes, single spaces, edge punctuation and 's stripped."""
    text = unicodedata.normalize("NFKC", phrase).replace("\u2019", "'").lower()
    text = _SPACE.sub(" ", text).strip(_EDGE_PUNCT + " ")
    text = re.sub(r"'s\b", "", text)
    return text.replace(" - ", "-").strip()


def singular(word: str) -> str:
    """A crude English singular, only to compare forms ("queues" ~ "queue")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def phrase_key(phrase: str) -> str:
    """The form two spellings of one tag share: normalised, each word singular."""
    return " ".join(singular(w) for w in normalise(phrase).split())


def is_boilerplate(phrase: str) -> bool:
    """Page furniture ("subscribe", "cookie", "click here"), whole or in part."""
    text = normalise(phrase)
    if any(p in text for p in BOILERPLATE_PHRASES):
        return True
    return any(singular(w) in BOILERPLATE_WORDS or w in BOILERPLATE_WORDS for w in text.split())


def is_boilerplate_sentence(sentence: str) -> bool:
    """A greeting, sign-off or call to action ("Thanks for listening", "Subscribe ...")."""
    return bool(_BOILERPLATE_SENTENCE.search(sentence.replace("\u2019", "'")))


def _word_ok(word: str) -> bool:
    return len(word) >= 2 and any(c.isalpha() for c in word) and word not in STOPWORDS


def is_fragment(phrase: str, verbs: Iterable[str] = ()) -> bool:
    """A tag that starts or ends with a stopword or a verb, or is one vague noun ("lot").

    ``verbs`` are the words the tagger saw used as verbs in the source (lower case);
    ``VERBS`` lists common ones it may miss.
    """
    parts = normalise(phrase).split()
    if not parts or len(parts) > 4:
        return True
    if len(parts) == 1 and parts[0] in VAGUE:
        return True
    verbset = frozenset(verbs)
    edges = {parts[0], parts[-1]}
    return any(not _word_ok(w) or w in verbset or w in VERBS for w in edges)


def _fold(text: str) -> str:
    return " ".join(singular(w) for w in re.findall(r"[\w'-]+", normalise(text)))


def grounded(tag: str, source: str) -> bool:
    """Whether ``tag`` occurs in ``source``, ignoring case, spacing and plural endings."""
    folded_tag = _fold(tag)
    return bool(folded_tag) and f" {folded_tag} " in f" {_fold(source)} "


def _clean(token: Token) -> str:
    return normalise(token.text)


def noun_phrases(sentences: Sequence[Sequence[Token]], *, max_words: int = 3) -> list[Candidate]:
    """Every 1..``max_words`` noun phrase candidate, grouped by ``phrase_key``, by first use.

    A candidate is a contiguous span of adjectives, nouns and proper nouns whose last word
    is a noun and whose first is not a stopword; spans never cross punctuation, verbs or
    function words. Each group's ``phrase`` is its most frequent surface form.
    """
    groups: dict[str, Candidate] = {}
    position = 0
    for sentence in sentences:
        run: list[tuple[int, Token]] = []
        for token in [*sentence, Token("", "PUNCT")]:
            position += 1
            word = _clean(token)
            if token.pos in _INNER and _word_ok(word) and not word.isdigit():
                run.append((position, token))
                continue
            _spans(run, max_words, groups)
            run = []
    for group in groups.values():
        group.phrase = max(group.forms, key=lambda f: (group.forms[f], -len(f)))
    return sorted(groups.values(), key=lambda c: c.first)


def _spans(run: list[tuple[int, Token]], max_words: int, groups: dict[str, Candidate]) -> None:
    for end in range(len(run)):
        if run[end][1].pos not in _HEAD:
            continue
        for start in range(max(0, end - max_words + 1), end + 1):
            words = [_clean(t) for _, t in run[start : end + 1]]
            phrase = " ".join(words)
            if is_boilerplate(phrase):
                continue
            key = phrase_key(phrase)
            group = groups.setdefault(key, Candidate(phrase, key, first=run[start][0]))
            group.count += 1
            group.forms[phrase] = group.forms.get(phrase, 0) + 1


def verbs_in(sentences: Iterable[Sequence[Token]]) -> frozenset[str]:
    """Words the tagger used as verbs more often than as anything else (lower case).

    A majority, not any use: "report" as a noun should survive one "to report" nearby,
    while a word the tagger once mislabelled a noun ("fails") is still caught.
    """
    verb: dict[str, int] = {}
    other: dict[str, int] = {}
    for sentence in sentences:
        for token in sentence:
            word = _clean(token)
            bucket = verb if token.pos in _VERBISH else other
            bucket[word] = bucket.get(word, 0) + 1
    return frozenset(w for w, n in verb.items() if n > other.get(w, 0))
