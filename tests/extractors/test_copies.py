"""Copy evidence (issue 3): stable keys, the seeds' ground truth, and the rule's hard cases."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from extractors.copies import (
    BANDS,
    CopyThresholds,
    compare,
    fingerprint,
    prepare,
    sentences,
    shingle_hashes,
)

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "articles"
RULE = CopyThresholds()


def seed(number: str) -> str:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    return path.read_text(encoding="utf-8")


WORDS = (
    "council budget harbour railway winter market school bridge river station engineer tax "
    "court village mayor farmer factory doctor hospital museum garden library festival ferry "
    "airport tunnel highway police teacher student parliament minister election vote border "
    "treaty summit energy pipeline grain harvest drought flood storm coast mountain valley"
).split()


def narrative(n: int, seed: int) -> str:
    """``n`` prose sentences of words drawn with ``seed`` (no quotes)."""
    rng = random.Random(seed)
    return "\n".join(
        "The " + " ".join(rng.choice(WORDS) for _ in range(16)) + f" in {1900 + i}."
        for i in range(n)
    )


def test_keys_are_stable_across_processes() -> None:
    # the index persists: a changed hash or permutation would orphan every stored key
    assert shingle_hashes(["putin", "and", "trump", "spoke", "today"]) == [-6173521212682982888]
    keys = fingerprint(seed("000"))
    assert len(keys.band_keys) == BANDS
    assert keys == fingerprint(seed("000"))
    assert 0 < len(keys.anchor_keys) <= 100


def test_seed_002_is_a_later_version_of_000() -> None:
    evidence = compare(prepare(seed("002")), prepare(seed("000")), RULE)
    assert evidence.jaccard < 0.15  # what plain near-duplicate detection would miss
    assert evidence.is_copy
    assert evidence.aligned_sentences >= 3


@pytest.mark.parametrize("other", ["001", "003", "004"])
def test_independent_reports_are_not_copies(other: str) -> None:
    assert not compare(prepare(seed(other)), prepare(seed("000")), RULE).is_copy
    assert not compare(prepare(seed("000")), prepare(seed(other)), RULE).is_copy


def test_a_write_through_shares_anchor_keys_with_its_original() -> None:
    shared = set(fingerprint(seed("002")).anchor_keys) & set(fingerprint(seed("000")).anchor_keys)
    assert len(shared) >= 2


def test_reprint_with_furniture_and_trimmed_copy_are_copies() -> None:
    original = seed("000")
    reprint = "World | Politics\nShare this article\n" + original + "\nCopyright 2017 Reuters."
    paragraphs = [p for p in original.splitlines() if p.strip()]
    trimmed = "\n".join(paragraphs[:4])
    for text in (reprint, trimmed):
        evidence = compare(prepare(text), prepare(original), RULE)
        assert evidence.is_copy
        assert evidence.containment >= 0.9
    assert set(fingerprint(reprint).band_keys) & set(fingerprint(original).band_keys)


def test_sharing_only_a_quoted_statement_is_not_a_copy() -> None:
    statement = (
        '"The presidents spoke in favour of setting up genuine coordination between our '
        "actions with the aim of destroying terrorist groups, and agreed to stay in regular "
        'contact on every question of mutual concern," the statement said.'
    )
    first = narrative(6, 1) + "\n" + statement + "\n" + statement.replace("said", "read")
    second = narrative(6, 2) + "\n" + statement + "\n" + statement.replace("said", "read")
    evidence = compare(prepare(first), prepare(second), RULE)
    assert evidence.aligned_tokens < RULE.min_aligned_tokens
    assert not evidence.is_copy


def test_a_common_ending_from_one_source_is_boilerplate() -> None:
    about = "\n".join(
        f"Acme Widgets builds industrial part family {i} for customers in {i + 20} countries "
        f"and employs {i * 100} engineers at its plants."
        for i in range(5)
    )
    first = narrative(8, 1) + "\nAbout Acme\n" + about
    second = narrative(8, 2) + "\nAbout Acme\n" + about
    assert not compare(prepare(first), prepare(second), RULE, same_source=True).is_copy
    # from two sources the same ending is shared copy
    assert compare(prepare(first), prepare(second), RULE).is_copy


def test_list_lines_are_not_evidence() -> None:
    # a tour-date list both reports print: lines without a full stop, not sentences
    dates = "\n".join(f"June {d} Venue number {d} Springfield State Arena Hall" for d in range(12))
    first = narrative(12, 1) + "\n" + dates
    second = narrative(12, 2) + "\n" + dates
    evidence = compare(prepare(first), prepare(second), RULE)
    assert evidence.aligned_sentences == 0
    assert not evidence.is_copy


def test_very_short_texts_are_never_copies() -> None:
    assert not compare(
        prepare("Putin and Trump spoke."), prepare("Putin and Trump spoke."), RULE
    ).is_copy


def test_sentences_keep_abbreviations_and_count_quoted_words() -> None:
    found = sentences('U.S. President Trump met Mr. Putin. "We agreed," he said.\nNo full stop')
    assert [s.tokens[:2] for s in found] == [("u", "s"), ("we", "agreed"), ("no", "full")]
    assert found[1].narrative == 2  # "he said"
    assert [s.prose for s in found] == [True, True, False]
