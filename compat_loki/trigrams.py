"""Which trigrams of a search text the FTS pre-filter asks for. Pure.

Any subset of a text's trigrams is a valid pre-filter (the line check decides), so the
choice is only about speed: the FTS5 AND of all of them reads every trigram's doclist,
and common ones are long (``tim`` is in 40 % of a typical log). Measured on 1M tailed
lines: ``timeout`` 100 → 70 ms with its three rarest trigrams, ``booking 4242`` 21 → 1.3 ms.

How rare a trigram is comes from a sample of recent lines (``TrigramSample``): each
trigram's set of sampled lines as a bitmask. The three rarest are always asked for (a
trigram unseen in the sample may still be common in older lines), then more, rarest first,
while the sample says they cut the candidates by a third or more (common words whose
combination is rare, as in ``error timeout``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

MAX_TRIGRAMS = 16  # per needle, before any sample: more add FTS work, hardly candidates
ALWAYS = 3  # the rarest trigrams asked for whatever the sample says
AT_MOST = 6
CUT = 0.67  # a further trigram must leave at most this share of the estimated candidates


def needle_trigrams(needles: Iterable[str]) -> list[str]:
    """The distinct trigrams of ``needles`` (at most ``MAX_TRIGRAMS`` each, spread over
    the needle); SQLite reads FTS query text up to a NUL, so trigrams holding one are left
    out (still a superset)."""
    grams: list[str] = []
    for needle in needles:
        own = list(
            dict.fromkeys(
                g for g in (needle[i : i + 3] for i in range(len(needle) - 2)) if "\x00" not in g
            )
        )
        if len(own) > MAX_TRIGRAMS:
            step = (len(own) - 1) / (MAX_TRIGRAMS - 1)
            own = [own[round(i * step)] for i in range(MAX_TRIGRAMS)]
        grams.extend(own)
    return list(dict.fromkeys(grams))


def match_expression(grams: Sequence[str]) -> str | None:
    """An FTS5 MATCH of all ``grams``, each a quoted string (no user text is FTS syntax)."""
    if not grams:
        return None
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


class TrigramSample:
    """Trigram → bitmask of the sampled lines holding it (case-folded as the index is)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.postings: dict[str, int] = {}
        self.size = 0
        for bit, line in enumerate(lines):
            low = line.lower()
            mask = 1 << bit
            for gram in {low[i : i + 3] for i in range(len(low) - 2)}:
                self.postings[gram] = self.postings.get(gram, 0) | mask
            self.size = bit + 1

    def count(self, gram: str) -> int:
        return self.postings.get(gram.lower(), 0).bit_count()

    def choose(self, grams: Sequence[str]) -> list[str]:
        """The rarest ``ALWAYS``, then more while each cuts the sampled candidates."""
        ranked = sorted(grams, key=self.count)  # stable: ties keep the text's order
        chosen = ranked[:ALWAYS]
        every = (1 << self.size) - 1
        estimate = every
        for gram in chosen:
            estimate &= self.postings.get(gram.lower(), 0)
        for gram in ranked[ALWAYS:]:
            if len(chosen) >= AT_MOST or not estimate:
                break
            narrower = estimate & self.postings.get(gram.lower(), 0)
            if narrower.bit_count() <= estimate.bit_count() * CUT:
                chosen.append(gram)
                estimate = narrower
        return chosen


def trigram_query(
    needles: Iterable[str], sample: Callable[[], TrigramSample] | None = None
) -> str | None:
    """The FTS5 MATCH expression for lines containing all ``needles``, or None when they
    have no trigram (shorter than three characters: the caller scans). ``sample`` is only
    called when there are more trigrams than ``ALWAYS`` to choose from."""
    grams = needle_trigrams(needles)
    if sample is not None and len(grams) > ALWAYS:
        grams = sample().choose(grams)
    return match_expression(grams)
