"""A generated corpus with known topics: 40 subjects x 5 aspects = 200 documents.

Each document is one (subject, aspect) pair written from templates, so its topic
is known; queries paraphrase one pair, so the right answer is one document.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBJECTS: list[tuple[str, str, str, str]] = [
    # (subject, paraphrase used in queries, term 1, term 2)
    ("sourdough bread baking", "making sourdough loaves", "starter culture", "long fermentation"),
    ("electric cars", "battery powered vehicles", "charging stations", "battery packs"),
    ("volcanoes", "erupting mountains", "magma chambers", "lava flows"),
    ("beekeeping", "keeping honey bees", "hive frames", "queen bees"),
    ("chess openings", "the first moves in chess", "the Sicilian defence", "pawn structure"),
    ("marathon running", "running 42 kilometres", "training plans", "energy gels"),
    ("home espresso", "brewing espresso coffee at home", "burr grinders", "milk frothing"),
    ("rock climbing", "climbing cliffs and boulders", "harnesses and ropes", "finger strength"),
    ("solar panels", "photovoltaic roofs", "inverters", "rooftop installation"),
    ("houseplants", "indoor plants", "potting soil", "watering schedules"),
    ("sailing", "sailboats on the sea", "rigging", "reading the wind"),
    ("jazz piano", "playing jazz on the piano", "chord voicings", "improvisation"),
    ("urban cycling", "riding a bike in the city", "bike lanes", "helmets and lights"),
    ("woodworking", "building furniture from wood", "chisels and planes", "joinery"),
    ("birdwatching", "watching wild birds", "binoculars", "migration seasons"),
    ("sushi", "Japanese raw fish dishes", "sushi rice", "fresh tuna"),
    ("astronomy", "looking at stars and planets", "telescopes", "dark skies"),
    ("knitting", "knitting sweaters by hand", "yarn", "needles and stitches"),
    ("scuba diving", "diving underwater with tanks", "regulators", "coral reefs"),
    ("podcasting", "recording a podcast show", "microphones", "audio editing"),
    ("vegetable gardening", "growing your own vegetables", "raised beds", "compost"),
    ("wine tasting", "tasting red and white wines", "grape varieties", "vineyards"),
    ("mountain hiking", "walking in the mountains", "hiking boots", "trail maps"),
    ("video game design", "making computer games", "game engines", "level design"),
    ("yoga", "yoga practice and poses", "breathing", "flexibility"),
    ("photography", "taking pictures with a camera", "lenses", "exposure"),
    ("cryptocurrency", "bitcoin and digital coins", "blockchains", "wallets"),
    ("dog training", "teaching a puppy to obey", "treats and rewards", "leash walking"),
    ("3d printing", "printing plastic objects in three dimensions", "filament", "slicer software"),
    ("surfing", "riding ocean waves on a board", "surfboards", "swell forecasts"),
    ("fermented foods", "kimchi and sauerkraut", "lactic acid bacteria", "brine"),
    ("skiing", "skiing down snowy slopes", "ski boots", "avalanche risk"),
    ("aquariums", "keeping tropical fish tanks", "water filters", "fish species"),
    ("calligraphy", "beautiful handwriting with ink", "nibs and brushes", "letterforms"),
    ("pottery", "throwing clay pots on a wheel", "kilns", "glazes"),
    ("chess engines", "computer programs that play chess", "search algorithms", "evaluation"),
    ("tea ceremonies", "traditional ways of serving tea", "green tea", "tea bowls"),
    ("kayaking", "paddling a kayak on rivers", "paddles", "white water"),
    ("barbecue", "slow smoking meat outdoors", "smokers and charcoal", "brisket"),
    ("language learning", "learning a foreign language", "vocabulary", "conversation practice"),
]

ASPECTS: dict[str, tuple[str, str]] = {
    # aspect: (document template, query template)
    "history": (
        "The history of {s} goes back a long way. In earlier centuries people relied on "
        "simple {t1}, and over the decades {t2} transformed how it was done. Historians "
        "trace the origins of {s} to a few pioneers whose names are still remembered.",
        "where did {p} come from and how did it develop over the centuries",
    ),
    "cost": (
        "How much money does {s} cost? Prices for {t1} vary a lot, and you should budget "
        "for {t2} as well. Cheap options exist, but the expensive gear lasts longer, so "
        "compare prices before you spend your savings on {s}.",
        "how expensive is {p} and what will I have to pay",
    ),
    "beginners": (
        "A beginner's guide to {s}: start small with {t1} and practise {t2} a little every "
        "week. Newcomers often make the same mistakes, so take a lesson and learn the "
        "basics of {s} step by step before you try anything ambitious.",
        "tips for a complete novice who wants to start {p}",
    ),
    "safety": (
        "Staying safe with {s}: always inspect {t1} before you begin and protect yourself "
        "from accidents involving {t2}. Most injuries in {s} happen when people are tired "
        "or rushed, so follow the safety rules and know the risks.",
        "what are the dangers of {p} and how to avoid getting hurt",
    ),
    "future": (
        "The future of {s} looks exciting. Researchers expect {t1} to improve quickly, and "
        "{t2} will become more common in the next ten years. New technology and changing "
        "habits will reshape {s} for the next generation.",
        "how will {p} change in the coming decade",
    ),
}


@dataclass(frozen=True, slots=True)
class Doc:
    share_id: str
    subject: str
    aspect: str
    text: str
    query: str


def corpus() -> list[Doc]:
    docs: list[Doc] = []
    for n, (s, p, t1, t2) in enumerate(SUBJECTS):
        for aspect, (doc, query) in ASPECTS.items():
            docs.append(
                Doc(
                    share_id=f"doc-{n:02d}-{aspect}",
                    subject=s,
                    aspect=aspect,
                    text=doc.format(s=s, t1=t1, t2=t2),
                    query=query.format(p=p),
                )
            )
    return docs


def queries(count: int = 20) -> list[Doc]:
    """``count`` documents spread over subjects and aspects, to query for."""
    docs = corpus()
    aspects = list(ASPECTS)
    return [docs[i * 2 * len(aspects) + (i % len(aspects))] for i in range(count)]
