"""The search pre-filter asks for the rarest trigrams; the answers stay exact."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat_loki import store
from compat_loki.records import LogRecord
from compat_loki.store import LogFilter, StoreReader, insert_entries, query_logs
from compat_loki.trigrams import ALWAYS, TrigramSample, needle_trigrams, trigram_query
from core.context import ServiceContext
from core.labels import Labels
from tests.compat_loki.conftest import write

APP = Labels.of(container="app", stream="stdout", level="INFO")
T0 = 1_800_000_000_000_000_000
SEC = 1_000_000_000
_windows = itertools.count()


def test_the_rarest_trigrams_are_chosen() -> None:
    lines = ["time=1 ok"] * 40 + ["time=2 timeout"] * 3 + ["meow"]
    sample = TrigramSample(lines)
    assert sample.size == len(lines)
    assert sample.count("tim") == 43 and sample.count("TIM") == 43
    grams = needle_trigrams(["timeout"])  # tim ime meo eou out
    chosen = sample.choose(grams)
    assert chosen[:3] == ["eou", "out", "meo"] or set(chosen[:3]) == {"eou", "out", "meo"}
    assert "tim" not in chosen and "ime" not in chosen
    assert trigram_query(["timeout"], lambda: sample) == " AND ".join(f'"{g}"' for g in chosen)


def test_a_common_pair_with_a_rare_combination_gets_more_trigrams() -> None:
    """``|= "error" |= "timeout"``: each word in half the lines, both in few. The three
    rarest trigrams all come from one word; the sample shows a trigram of the other
    narrows the candidates ten-fold, so it is asked for too."""
    lines = ["error x"] * 20 + ["timeout y"] * 20 + ["error and timeout"] * 2
    sample = TrigramSample(lines)
    chosen = sample.choose(needle_trigrams(["error", "timeout"]))
    error, timeout = set(needle_trigrams(["error"])), set(needle_trigrams(["timeout"]))
    assert set(chosen) & error and set(chosen) & timeout
    assert len(chosen) > ALWAYS


@given(
    lines=st.lists(st.text(alphabet="abcde 12", max_size=10), max_size=30),
    needle=st.text(alphabet="abcde 12", min_size=1, max_size=9),
)
def test_choose_keeps_a_subset_of_at_least_the_rarest_three(lines: list[str], needle: str) -> None:
    grams = needle_trigrams([needle])
    chosen = TrigramSample(lines).choose(grams)
    assert set(chosen) <= set(grams)
    assert len(chosen) >= min(ALWAYS, len(grams))


ALPHABET = "abcAB01 é\"'*("


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.text(alphabet=ALPHABET, max_size=16), max_size=25),
    needle=st.text(alphabet=ALPHABET, min_size=4, max_size=9),
)
def test_search_with_chosen_trigrams_matches_python(
    ctx: ServiceContext, lines: list[str], needle: str
) -> None:
    """Needles long enough for the choice to drop trigrams, against a substring oracle,
    with the sample taken from these very lines (the cache is cleared per example)."""
    store._samples.clear()
    base = T0 + next(_windows) * 1000 * SEC
    write(
        ctx, lambda c: insert_entries(c, [LogRecord(APP, base + i, x) for i, x in enumerate(lines)])
    )
    with ctx.db.read() as conn:
        reader = StoreReader(conn)
        ids = [s.id for s in reader.streams([], base, base + SEC)]
        got = [
            e.line
            for e in reader.entries(ids, base, base + SEC, direction="forward", contains=[needle])
        ]
        native, total = query_logs(
            conn, LogFilter(search=needle, since_ns=base, until_ns=base + SEC), limit=100, offset=0
        )
    assert got == [x for x in lines if needle in x]
    want = [x for x in lines if needle.lower() in x.lower()]
    assert sorted(r.line for r in native) == sorted(want) and total == len(want)
