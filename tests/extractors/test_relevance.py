"""The US–Russia relevance rules: the seed articles, hard negatives, weighting and overrides."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from extractors.errors import ConfigError
from extractors.relevance import Lexicon, score_relevance

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "articles"

# about 70 words with no lexicon term, to push a sentence out of the lead into the body
FILLER = " ".join(
    [
        "The talks covered trade, energy and security in the region, people familiar with the",
        "matter said, and further rounds are planned for the spring. Markets barely moved on",
        "the news, with traders waiting for more detail on the timing and scope of any deal.",
        "Analysts cautioned that similar pledges in the past had produced little, and that",
        "much would depend on follow-up meetings between officials at a lower level later.",
    ]
)


@pytest.mark.parametrize("seed", ["000", "001", "002", "003", "004"])
def test_every_seed_is_us_russia(seed: str) -> None:
    found = sorted(SEEDS.glob(f"{seed}_*.txt"))
    assert found, f"seed {seed} not found under {SEEDS}"
    result = score_relevance(None, found[0].read_text(encoding="utf-8"))
    assert result.us_russia
    assert result.score >= Lexicon.default().threshold
    assert "Trump" in result.us_terms
    assert {"Putin", "Kremlin"} <= set(result.ru_terms)


NEGATIVES = {
    "us domestic politics": (
        "Trump signs spending bill as Congress averts shutdown",
        "WASHINGTON - President Donald Trump signed a stopgap spending bill on Friday, hours "
        "after Congress voted to keep the government open through March.\n\n"
        "The White House said the president would press Republicans in the Senate to pass his "
        "tax plan next. Democrats accused the administration of holding federal workers "
        "hostage.\n\nThe Speaker said the vote showed that Americans want their lawmakers to "
        "work together.",
    ),
    "russia only": (
        "Putin vows to press on in Ukraine as Kremlin rejects ceasefire talk",
        "MOSCOW - Russian President Vladimir Putin said on Thursday that Russia would achieve "
        "all its goals in Ukraine, and the Kremlin dismissed talk of a ceasefire as premature."
        "\n\nPutin said Russian forces were advancing in the Donetsk region. Kremlin spokesman "
        "Dmitry Peskov told reporters that Moscow remained open to talks on its own terms.\n\n"
        "The Russian defence ministry said its troops had taken two villages. Ukraine's general "
        "staff said the attacks had been repelled.",
    ),
    "russia and china": (
        "Putin and Xi pledge deeper partnership at Beijing summit",
        "BEIJING - Russian President Vladimir Putin and Chinese President Xi Jinping pledged "
        "on Thursday to deepen their partnership, signing agreements on energy, trade and the "
        "Power of Siberia 2 gas pipeline.\n\nThe Kremlin said Gazprom and China's CNPC had "
        "agreed on the main terms of the pipeline. Xi said relations between Beijing and Moscow "
        "were at their best in history.\n\nAnalysts said the two leaders want to present a "
        "united front to the West. Trade between the two countries reached a record last year, "
        "and China now buys most of Russia's oil exports. The joint statement criticised what "
        "it called bloc politics led by the United States.",
    ),
    "us company, russian restaurant": (
        "US coffee chain opens next door to beloved Russian restaurant",
        "A US coffee company opened its first Brooklyn store this week right next to Samovar, "
        "a Russian restaurant that has served pelmeni and borscht on the block for thirty "
        "years.\n\nThe owner, who moved from Moscow in 1991, said she welcomed the competition. "
        "'Americans come here for the food and the stories,' she said.",
    ),
    "pronoun and roulette traps": (
        "Tell us about your favourite Russian roulette scene",
        "Readers, tell us about the film scene that stayed with you. Many of you wrote to us "
        "about The Deer Hunter and its Russian roulette sequence; others sent us pictures of "
        "Russian dolls and recipes for Russian dressing. One reader told us the best ending is "
        "a White Russian at the bar. Let us know by Friday.",
    ),
    "uk and russia": (
        "Britain expels Russian diplomats over spy poisoning",
        "LONDON - Britain expelled 23 Russian diplomats on Wednesday, Prime Minister Theresa "
        "May told parliament, after concluding that Russia was responsible for the poisoning "
        "of a former spy in Salisbury.\n\nThe Kremlin denied any involvement and Foreign "
        "Minister Sergei Lavrov said Moscow would respond. British officials said the nerve "
        "agent was developed in Russia.\n\nMay said the government would also freeze Russian "
        "state assets where there was evidence of a threat. The Foreign Office summoned the "
        "Russian ambassador.",
    ),
}


@pytest.mark.parametrize("title, text", NEGATIVES.values(), ids=NEGATIVES.keys())
def test_hard_negatives_are_not_us_russia(title: str, text: str) -> None:
    result = score_relevance(title, text)
    assert not result.us_russia
    assert result.score < Lexicon.default().threshold


POSITIVES = {
    "pentagon and russian defence ministry": (
        "Pentagon says Russian jet forced down US drone over Black Sea",
        "The Pentagon said on Tuesday that a Russian fighter struck the propeller of a US "
        "MQ-9 Reaper drone over the Black Sea, forcing its operators to bring it down in "
        "international waters.\n\nThe Russian defence ministry denied its jets had made "
        "contact with the drone and said it crashed after sharp manoeuvring.",
        {"Pentagon"},
        {"Russian defence ministry"},
    ),
    "treasury sanctions gazprom": (
        "Treasury sanctions Gazprom Neft in widest move against Russian oil",
        "The U.S. Treasury on Friday imposed sanctions on Gazprom Neft and Surgutneftegas, "
        "two of Russia's biggest oil producers.\n\nTreasury Secretary Janet Yellen said the "
        "measures would cut the Kremlin's income from oil sales.",
        {"U.S. treasury", "treasury secretary", "Yellen"},
        {"Gazprom", "Kremlin"},
    ),
    "lavrov meets blinken": (
        "Blinken and Lavrov meet in Geneva as tensions over Ukraine mount",
        "GENEVA - Secretary of State Antony Blinken met Russian Foreign Minister Sergei Lavrov "
        "in Geneva on Friday for talks aimed at defusing the crisis over Ukraine.",
        {"Blinken", "secretary of state"},
        {"Lavrov", "Russian foreign minister"},
    ),
}


@pytest.mark.parametrize(
    "title, text, us_terms, ru_terms", POSITIVES.values(), ids=POSITIVES.keys()
)
def test_positives_are_us_russia(
    title: str, text: str, us_terms: set[str], ru_terms: set[str]
) -> None:
    result = score_relevance(title, text)
    assert result.us_russia
    assert us_terms <= set(result.us_terms)
    assert ru_terms <= set(result.ru_terms)


def test_headline_counts_more_than_lead_and_lead_more_than_body() -> None:
    sentence = "Trump spoke with Putin by telephone."
    in_headline = score_relevance(sentence, FILLER)
    in_lead = score_relevance("Leaders talk", f"{sentence} {FILLER}")
    in_body = score_relevance("Leaders talk", f"{FILLER} {sentence}")
    assert in_headline.score > in_lead.score > in_body.score
    assert in_headline.us_russia and in_lead.us_russia
    assert not in_body.us_russia  # one passing mention per side deep in the text is not enough
    assert in_body.terms == ("Trump", "Putin")


def test_score_follows_the_documented_formula() -> None:
    # the module docstring's worked example
    result = score_relevance(
        "Putin and Trump agree to talk", f"{FILLER} The Kremlin said so. The Kremlin agreed."
    )
    russia = 1 - math.exp(-(3 + (1 + math.log(2))) / 2)
    us = 1 - math.exp(-3 / 2)
    assert russia > us
    assert result.score == round(us, 3) == 0.777


def test_repeated_mentions_saturate() -> None:
    once = score_relevance(None, f"{FILLER} Trump called Putin.")
    often = score_relevance(None, f"{FILLER} " + "Trump called Putin. " * 50)
    assert once.score < often.score <= 1.0
    assert often.terms == ("Trump", "Putin")


def test_place_names_alone_never_make_an_item() -> None:
    result = score_relevance(
        "Russia, Russia, America: U.S.", "Washington, Moscow, Russian, American. " * 20
    )
    assert not result.us_russia
    assert result.score == round(1 - math.exp(-1.0 / 2), 3)


def test_bilateral_phrase_counts_for_both_sides_in_order_first_seen() -> None:
    result = score_relevance("U.S.-Russia ties thaw", "The Kremlin welcomed the move.")
    assert result.us_terms == ("U.S.-Russia",)
    assert result.ru_terms == ("U.S.-Russia", "Kremlin")
    assert result.us_russia


@pytest.mark.parametrize(
    "text, us_terms",
    [
        ("Putin met officials from the U.S.A. on Monday.", ("U.S.A.",)),
        ("Putin met officials from the USA on Monday.", ("U.S.A.",)),
        ("Putin met the United States president.", ("United States president",)),
        ("Putin said the US military had left.", ("U.S. military",)),
        ("Putin said the U.S. military had left.", ("U.S. military",)),
        ("Putin said America's army had left.", ("America army",)),
        ("Putin wrote to us and to them.", ()),
        ("Putin played his trump card.", ()),
        ("Putin told The Washington Post so.", ()),
        ("PUTIN: TELL US WHAT YOU WANT", ()),
        ("PUTIN WARNS U.S. ON MISSILES", ("U.S.",)),
    ],
)
def test_us_matching(text: str, us_terms: tuple[str, ...]) -> None:
    result = score_relevance(None, text)
    assert result.us_terms == us_terms
    assert result.ru_terms == ("Putin",)


@pytest.mark.parametrize(
    "text, ru_terms",
    [
        ("Trump criticised Putin's speech.", ("Putin",)),
        ("Trump criticised Putin’s speech.", ("Putin",)),
        ("Trump criticised Putinism.", ()),
        ("Trump criticised Russia’s defence ministry.", ("Russia defence ministry",)),
        ("Trump criticised the KREMLIN.", ("Kremlin",)),
        ("Trump likes Russian dolls and Russian roulette.", ()),
        ("Trump ordered a White Russian.", ()),
    ],
)
def test_russia_matching(text: str, ru_terms: tuple[str, ...]) -> None:
    result = score_relevance(None, text)
    assert result.us_terms == ("Trump",)
    assert result.ru_terms == ru_terms


def test_empty_text_scores_zero() -> None:
    result = score_relevance(None, "")
    assert result.score == 0.0
    assert not result.us_russia
    assert result.terms == ()


DOE = (
    "President Doe speaks with Putin",
    "President Jane Doe spoke with Vladimir Putin for an hour.",
)


def test_new_leader_added_by_override_is_recognised() -> None:
    assert not score_relevance(*DOE).us_russia
    lexicon = Lexicon.default().with_overrides(extra_us=["Doe"])
    result = score_relevance(*DOE, lexicon)
    assert result.us_russia
    assert result.us_terms == ("Doe",)
    assert "Trump" in lexicon.us  # extended, not replaced


def test_override_replaces_lists_and_threshold() -> None:
    lexicon = Lexicon.default().with_overrides(us=["Doe"], threshold=0.9)
    assert lexicon.us == ("Doe",)
    assert lexicon.russia == Lexicon.default().russia
    assert lexicon.threshold == 0.9
    assert score_relevance("Trump calls Putin", "").us_terms == ("Trump",)
    assert score_relevance("Trump calls Putin", "", lexicon).us_terms == ()
    doe = score_relevance(*DOE, lexicon)
    assert doe.score < 0.9 and not doe.us_russia


def test_overrides_take_a_config_table() -> None:
    table: dict[str, Any] = {
        "extra_russia": ["Navalny"],
        "extra_ignore": ["Russian Hill"],
        "threshold": 0.4,
    }
    lexicon = Lexicon.default().with_overrides(**table)
    assert lexicon.russia[-1] == "Navalny"
    assert lexicon.threshold == 0.4
    assert score_relevance("Trump visits Russian Hill", "", lexicon).ru_terms == ()
    assert Lexicon.default().with_overrides() is Lexicon.default()
    assert Lexicon.default().with_overrides(extra_us=["Trump"]).us == Lexicon.default().us


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"extra_us": [" "]}, "relevance.extra_us"),  # the key written, not the list it extends
        ({"russia": "Putin"}, "relevance.russia"),
        ({"threshold": 1.5}, "relevance.threshold"),
        ({"threshold": True}, "relevance.threshold"),
        ({"threshold": "high"}, "relevance.threshold"),
        ({"extra_ignore": [3]}, "relevance.extra_ignore"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Lexicon.default().with_overrides(**overrides)
    assert caught.value.key == key
