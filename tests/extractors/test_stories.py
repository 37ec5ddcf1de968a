"""Story evidence (issue 3): entities, keywords, profiles and their cosine."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from extractors.stories import (
    cosine,
    day_of,
    entities,
    entity_day_key,
    idf_of,
    keywords,
    lookup_entities,
    merge_profiles,
    story_features,
    term_key,
    weigh,
)

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "articles"


def seed(number: str) -> str:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    return path.read_text(encoding="utf-8")


def test_seed_entities_name_the_actors_not_the_sentence_openers() -> None:
    found = entities(seed("000"))
    for name in ("putin", "trump", "kremlin", "syria", "moscow", "barack obama", "islamic state"):
        assert name in found, name
    for word in ("both", "since", "but", "for", "the chat", "advertisement"):
        assert word not in found, word
    assert found["putin"] >= 5


def test_titles_are_cut_and_aliases_folded() -> None:
    found = entities(
        "On Monday U.S. President Donald Trump called Russian President Vladimir Putin. "
        "American officials said ISIS was discussed with Mr Putin."
    )
    assert found["donald trump"] == 1
    assert found["vladimir putin"] == 1
    assert found["putin"] == 1
    assert found["united states"] == 2  # "U.S." and "American"
    assert found["russia"] == 1
    assert found["islamic state"] == 1
    assert "president" not in found and "on monday" not in found


def test_a_title_case_heading_counts_only_names_the_body_confirms() -> None:
    found = entities(
        "Trump, Putin Discuss Defeating ISIS in Call\nOfficials said Trump spoke to Putin."
    )
    assert "discuss" not in found and "defeating" not in found
    assert found["trump"] == 2


def test_keywords_drop_stop_words_and_fold_plurals() -> None:
    found = keywords("The sanctions and the sanction were discussed, said the officials.")
    assert found["sanction"] == 2
    assert "the" not in found and "said" not in found


def test_rarer_terms_weigh_more_and_profiles_compare_by_cosine() -> None:
    features = story_features("Putin and Trump speak", seed("000"))
    terms = features.terms()
    flat = weigh(terms, {t: 1.0 for t in terms})
    rare = weigh(terms, {t: idf_of(1 if t == "e:kremlin" else 50, 100) for t in terms})
    assert rare["e:kremlin"] / rare["e:putin"] > flat["e:kremlin"] / flat["e:putin"]
    assert math.isclose(cosine(flat, flat), 1.0)
    assert cosine(flat, {"k:unrelated": 1.0}) == 0.0
    assert len(flat) <= 80
    assert "putin" in lookup_entities(flat)


def test_same_event_reports_are_closer_than_other_calls() -> None:
    profiles = {}
    for number in ("000", "001", "004"):
        terms = story_features("", seed(number)).terms()
        profiles[number] = weigh(terms, {t: 1.0 for t in terms})
    assert cosine(profiles["000"], profiles["001"]) > 0.3
    assert cosine(profiles["000"], profiles["001"]) > cosine(profiles["001"], profiles["004"])


def test_merged_profile_is_the_sum_of_unit_profiles() -> None:
    merged = merge_profiles(merge_profiles({}, {"a": 3.0, "b": 4.0}), {"a": 1.0})
    assert math.isclose(merged["a"], 0.6 + 1.0)
    assert math.isclose(merged["b"], 0.8)


def test_keys_are_stable_and_bucketed_by_day() -> None:
    # persisted keys: a change here orphans the stored story index
    assert term_key("e:putin") == 6111786736054575756
    day = day_of(datetime(2017, 1, 28, 19, 5, tzinfo=UTC))
    assert day == 17194
    assert entity_day_key("putin", day) == -6758769391267270558
    assert entity_day_key("putin", day) != entity_day_key("putin", day + 1)


def test_features_keep_the_most_frequent_terms() -> None:
    text = " ".join(f"Name{i} met Person{i}." for i in range(100))
    features = story_features("", text)
    assert len(features.entities) <= 60 and len(features.keywords) <= 60
    assert isinstance(features.entities, Counter)
