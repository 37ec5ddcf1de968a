"""The leader-call rule: seed articles, hard negatives, positives beyond the seeds, overrides."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from extractors.errors import ConfigError
from extractors.leader_calls import LeaderCall, Leaders, detect_leader_call

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
CALL_WORDS = re.compile(r"call|phone|telephone|conversation|spoke|talked", re.I)


def _seed(seed_id: str) -> tuple[str, str]:
    table = tomllib.loads((SEEDS / "seeds.toml").read_text(encoding="utf-8"))
    (entry,) = [s for s in table["seeds"] if s["id"] == seed_id]
    return entry["title"], (SEEDS / "articles" / entry["file"]).read_text(encoding="utf-8")


# seed, how the evidence sentence starts, the call term found in it
SEED_EVIDENCE = [
    ("000", "MOSCOW – Russian President Vladimir Putin and U.S. President Donald Trump", "spoke"),
    (
        "001",
        "MOSCOW - Russian President Vladimir Putin and US President Donald Trump",
        "phone conversation",
    ),
    ("002", "Trump, Putin Discuss Defeating ISIS in 'Positive' First Phone Call", "Phone Call"),
    ("003", "The Russian president spoke by telephone with Mr Trump", "spoke by telephone"),
    ("004", "U.S. President Donald Trump and\xa0Russian President Vladimir Putin had", "call"),
]


@pytest.mark.parametrize("seed_id, starts, call_term", SEED_EVIDENCE)
def test_every_seed_is_a_leader_call(seed_id: str, starts: str, call_term: str) -> None:
    title, text = _seed(seed_id)
    for given_title in (title, None):  # the text alone is enough too
        found = detect_leader_call(given_title, text)
        assert found is not None
        assert found.sentence in text  # a real sentence of the article, kept verbatim
        assert found.sentence == found.sentence.strip()
        assert found.sentence.startswith(starts)
        assert found.call_term == call_term and call_term in found.sentence
        assert CALL_WORDS.search(found.sentence)
        assert found.us_leader in found.sentence and found.russia_leader in found.sentence
        assert 0.0 < found.score <= 1.0


def test_seed_evidence_names_both_sides() -> None:
    found = detect_leader_call(*_seed("003"))
    assert found == LeaderCall(
        sentence=found.sentence if found else "",
        us_leader="Mr Trump",
        russia_leader="The Russian president",
        call_term="spoke by telephone",
        score=0.9,
    )


NEGATIVES = {
    "putin and merkel call": (
        "Putin and Merkel discuss Ukraine in phone call",
        "MOSCOW - Russian President Vladimir Putin and German Chancellor Angela Merkel discussed "
        "the conflict in eastern Ukraine in a telephone call on Tuesday, the Kremlin said.\n\n"
        "The two leaders stressed the importance of the Minsk agreements and agreed that their "
        "advisers should keep working on a prisoner exchange, according to the Kremlin.\n\n"
        "Merkel's office said the chancellor had urged Putin to use his influence on the "
        "separatists. The call came a day after U.S. President Donald Trump said Washington "
        "would consider sending more weapons to Kiev.\n\n"
        "The Kremlin said Putin had also briefed Merkel on his contacts with the new U.S. "
        "administration.",
    ),
    "trump and macron call": (
        "Trump and Macron discuss Syria, Russia in phone call",
        "WASHINGTON - U.S. President Donald Trump spoke by phone with French President Emmanuel "
        "Macron on Sunday about the situation in Syria and relations with Russia, the White "
        "House said.\n\n"
        "During the call, the two leaders agreed that Russian President Vladimir Putin must "
        "press Damascus to stop using chemical weapons, according to a White House statement.\n\n"
        "Macron's office said the conversation lasted about an hour and also covered trade and "
        "the Iran nuclear deal. Macron is due to visit Moscow next month for talks with Putin.",
    ),
    "lavrov and tillerson call": (
        "Lavrov, Tillerson discuss Syria ceasefire by phone",
        "MOSCOW - Russian Foreign Minister Sergei Lavrov and U.S. Secretary of State Rex "
        "Tillerson discussed a ceasefire in southern Syria in a phone call on Saturday, the "
        "Russian foreign ministry said.\n\n"
        "The two diplomats agreed to keep working on the details ahead of a possible meeting "
        "between Presidents Vladimir Putin and Donald Trump, the ministry said. It was their "
        "second phone conversation this week.\n\n"
        "Lavrov and Tillerson also discussed preparations for a phone call between Putin and "
        "Trump, the ministry added, without giving a date.",
    ),
    "sanctions story with a past call deep in the body": (
        "U.S. widens sanctions on Russian banks over Ukraine",
        "WASHINGTON - The U.S. Treasury on Wednesday added three Russian banks and a dozen "
        "energy executives to its sanctions list, widening measures imposed over Moscow's war "
        "in Ukraine.\n\n"
        "The move freezes any assets the banks hold under U.S. jurisdiction and bars Americans "
        "from dealing with them. Treasury officials said the measures targeted revenue that "
        "funds the Russian military.\n\n"
        "The Kremlin called the sanctions illegal and said they would not change its course. "
        "Kremlin spokesman Dmitry Peskov told reporters that Moscow would respond in its own "
        "interests.\n\n"
        "European governments welcomed the step, and diplomats in Brussels said the European "
        "Union was preparing a similar package of its own that could be agreed by the end of "
        "the month.\n\n"
        "Analysts said the banks had already lost most of their foreign business since 2022, "
        "and that the measures were aimed more at intermediaries in third countries than at "
        "the banks themselves.\n\n"
        "President Donald Trump has alternated between threats and overtures toward Moscow. "
        "During a call in November, Putin and Trump agreed to keep talking about a ceasefire, "
        "but the fighting has continued.\n\n"
        "Russian officials have said the sanctions will only push Russia closer to China and "
        "India, which have bought most of its oil exports since Western buyers turned away.",
    ),
    "called for, called on, so-called": (
        "Trump calls for new sanctions on Russia; Putin calls on West to back off",
        "WASHINGTON - President Donald Trump on Thursday called for new sanctions on Russia's "
        "oil sector, saying Moscow had failed to keep its promise to stop attacks on Ukrainian "
        "cities.\n\n"
        "\"Putin called on the West to lift restrictions before any talks, and that's not going "
        'to happen," Trump told reporters at the White House.\n\n'
        "In Moscow, Putin called on Western governments to respect Russia's interests and said "
        "calls for sanctions showed the West had learned nothing. The Kremlin dismissed the "
        "so-called peace plan as a call to surrender.\n\n"
        "Former President Joe Biden called Putin a 'killer' in 2021, a remark the Kremlin has "
        "not forgotten, and Trump has called Putin's offensive 'not acceptable'.",
    ),
    "planned call": (
        "Trump and Putin to speak by phone next week, Kremlin says",
        "MOSCOW - U.S. President Donald Trump and Russian President Vladimir Putin are expected "
        "to speak by phone next week, the Kremlin said on Friday, as officials on both sides "
        "prepare for a possible summit.\n\n"
        "Kremlin spokesman Dmitry Peskov told reporters that the date of the call had not yet "
        "been agreed. 'A conversation between the two presidents will take place once the "
        "preparations are complete,' Peskov said.\n\n"
        "The White House said Trump was ready to talk with Putin 'at the right time'. A phone "
        "call between the two leaders is planned for Tuesday, a U.S. official said. The two "
        "leaders have not spoken since the president took office.",
    ),
    "summit in person": (
        "Trump and Putin meet in Helsinki, pledge to improve ties",
        "HELSINKI - U.S. President Donald Trump and Russian President Vladimir Putin met for "
        "more than two hours in Helsinki on Monday, their first formal summit since a phone "
        "call in March that had set the stage for the talks.\n\n"
        "The two men spoke one-on-one, with only interpreters present, before being joined by "
        "their delegations for a working lunch.\n\n"
        '"We had a direct, open, deeply productive dialogue," Trump told a joint news '
        "conference afterwards. Putin said the talks had been frank and useful, and that the "
        "two leaders had agreed to keep in contact.",
    ),
}


@pytest.mark.parametrize("title, text", NEGATIVES.values(), ids=NEGATIVES.keys())
def test_hard_negatives_are_not_leader_calls(title: str, text: str) -> None:
    assert detect_leader_call(title, text) is None
    assert detect_leader_call(None, text) is None


POSITIVES = {
    "biden putin video call": (
        "Biden warns Putin of sanctions over Ukraine in two-hour video call",
        "WASHINGTON/MOSCOW - U.S. President Joe Biden warned Russian President Vladimir Putin on "
        "Tuesday that the West would impose strong economic and other measures on Russia if it "
        "invaded Ukraine, during a two-hour video call that the Kremlin described as frank and "
        "business-like.\n\n"
        "Putin, speaking from his residence in Sochi, demanded guarantees that NATO would not "
        "expand further east. The two leaders agreed that their aides would follow up.",
        ("Biden", "Putin", "video call"),
    ),
    "kremlin readout": (
        "Telephone conversation with President of the United States Donald Trump",
        "Vladimir Putin had a telephone conversation with President of the United States "
        "Donald Trump.\n\n"
        "The Presidents discussed the situation in Syria and the fight against international "
        "terrorism. Vladimir Putin and Donald Trump agreed to continue contacts at various "
        "levels.\n\nThe conversation was businesslike and constructive.",
        ("President of the United States Donald Trump", "Vladimir Putin", "telephone conversation"),
    ),
    "headline only": (
        "Putin, Trump hold phone talks",
        "MOSCOW - Russian President Vladimir Putin and U.S. President Donald Trump discussed "
        "Ukraine, Iran and energy markets on Thursday, the Kremlin said.\n\n"
        "The two leaders discussed ways to restore trade ties and agreed to stay in contact, "
        "according to a Kremlin statement.",
        ("Trump", "Putin", "phone talks"),
    ),
    "the call is the leaders' own": (
        "Trump, Putin agree to work toward Ukraine ceasefire",
        "WASHINGTON - Donald Trump and Vladimir Putin talked by phone for more than an hour on "
        "Tuesday and agreed to work toward a ceasefire in Ukraine, the White House said.\n\n"
        "The call came after weeks of contacts between their envoys.",
        ("Donald Trump", "Vladimir Putin", "talked by phone"),
    ),
}


@pytest.mark.parametrize("title, text, expected", POSITIVES.values(), ids=POSITIVES.keys())
def test_positives_beyond_the_seeds(title: str, text: str, expected: tuple[str, str, str]) -> None:
    found = detect_leader_call(title, text)
    assert found is not None
    assert (found.us_leader, found.russia_leader, found.call_term) == expected
    assert found.sentence == title or found.sentence in text


def test_headline_is_preferred_and_scored_highest() -> None:
    title, text, _ = POSITIVES["headline only"]
    found = detect_leader_call(title, text)
    assert found is not None and found.sentence == title and found.score == 1.0
    # without the headline, nothing in the text reports a call
    assert detect_leader_call(None, text) is None


def test_kremlin_readout_prefers_the_lead_sentence() -> None:
    title, text, _ = POSITIVES["kremlin readout"]
    found = detect_leader_call(title, text)
    assert found is not None
    assert found.sentence == (
        "Vladimir Putin had a telephone conversation with President of the United States "
        "Donald Trump."
    )
    assert found.score == 0.9  # lead, both named in the sentence, strong term


def test_a_call_recurring_in_the_body_counts() -> None:
    _, text = NEGATIVES["sanctions story with a past call deep in the body"]
    recurring = text + (
        "\n\nIn that call, Trump told Putin that Washington would not accept new Russian gains."
    )
    found = detect_leader_call(None, recurring)
    assert found is not None
    assert found.sentence.startswith("During a call in November")
    assert found.score == 0.6  # body zone


def test_a_call_dwelt_on_in_one_body_paragraph_is_still_in_passing() -> None:
    _, text = NEGATIVES["sanctions story with a past call deep in the body"]
    same_paragraph = text.replace(
        "but the fighting has continued.",
        "but the fighting has continued. In that call, Trump told Putin that Washington "
        "would not accept new Russian gains.",
    )
    assert same_paragraph != text
    assert detect_leader_call(None, same_paragraph) is None


def test_the_same_call_in_the_lead_counts() -> None:
    text = "During a call on Tuesday, Putin and Trump agreed to keep talking about a ceasefire."
    found = detect_leader_call("Sanctions widen", text)
    assert found is not None and found.call_term == "call"


@pytest.mark.parametrize(
    "sentence",
    [
        "Trump and Putin will speak by phone on Tuesday.",
        "Trump said he would talk to Putin by telephone soon.",
        "Trump and Putin have not spoken by phone since January.",
        "There was no phone call between Trump and Putin, the Kremlin said.",
        "Trump and Putin last spoke by phone in March.",
        "A phone call between Trump and Putin is expected in the coming days.",
        "Trump and Putin agreed to hold a video call next month.",
        "The Kremlin said Putin was ready for a call with Trump.",
        "Trump told reporters on a conference call with reporters that Putin was wrong.",
        "Trump dismissed what he called Putin's 'nonsense'.",
        "Critics called Trump a puppet of Putin.",
        "Putin and Trump talked about each other at length in separate interviews.",
    ],
)
def test_unreported_calls_and_other_senses(sentence: str) -> None:
    assert detect_leader_call(None, sentence) is None


@pytest.mark.parametrize(
    "sentence, call_term",
    [
        ("Putin phoned Trump on Saturday to congratulate him.", "phoned"),
        ("Putin called Trump on Saturday to congratulate him.", "called"),
        ("The Trump-Putin call lasted 90 minutes.", "call"),
        ("Trump was on the phone with Putin for two hours.", "on the phone"),
        ("Trump and Putin held talks by telephone on Friday.", "held talks by telephone"),
        ("Biden and Putin held a virtual summit on Tuesday.", "virtual summit"),
        (
            "Putin’s phone conversation with Trump was positive, the Kremlin said.",
            "phone conversation",
        ),
    ],
)
def test_call_phrasings(sentence: str, call_term: str) -> None:
    found = detect_leader_call(None, sentence)
    assert found is not None and found.call_term == call_term


def test_names_used_as_modifiers_or_topics_are_not_participants() -> None:
    text = (
        "Merkel said in a phone call that the Trump administration and Putin's government "
        "must talk."
    )
    assert detect_leader_call(None, text) is None
    text = "In a phone call, the Obama administration's envoy and the Putin regime sparred."
    assert detect_leader_call(None, text) is None


DOE = (
    "Doe, Putin discuss arms control",
    "WASHINGTON - President Doe and Putin spoke by phone on Monday for the first time since "
    "Doe's inauguration, the White House said.\n\n"
    "The two leaders discussed arms control and agreed to meet later this year.",
)


def test_a_future_president_is_recognised_only_by_override() -> None:
    assert detect_leader_call(*DOE) is None
    leaders = Leaders.default().with_overrides(extra_us=("Jane Doe",))
    found = detect_leader_call(*DOE, leaders)
    assert found is not None
    assert found.us_leader == "President Doe" and found.russia_leader == "Putin"
    assert found.call_term == "spoke by phone"
    assert "Donald Trump" in leaders.us  # extended, not replaced
    assert detect_leader_call(*_seed("003"), leaders) is not None


def test_overrides_replace_lists() -> None:
    leaders = Leaders.default().with_overrides(us=["Jane Doe"])
    assert leaders.us == ("Jane Doe",)
    assert leaders.russia == Leaders.default().russia
    assert detect_leader_call(None, "Trump and Putin spoke by phone.", leaders) is None
    found = detect_leader_call(*DOE, leaders)
    assert found is not None and found.us_leader == "President Doe"
    # titles do not depend on the names: "U.S. President Donald Trump" is still a US leader
    found = detect_leader_call(*_seed("002"), leaders)
    assert found is not None and found.us_leader == "U.S. President"


def test_overrides_take_a_config_table() -> None:
    table: dict[str, Any] = {"extra_russia": ["Mikhail Mishustin"], "extra_others": ["Navalny"]}
    leaders = Leaders.default().with_overrides(**table)
    assert leaders.russia[-1] == "Mikhail Mishustin"
    assert leaders.others[-1] == "Navalny"
    assert Leaders.default().with_overrides() is Leaders.default()
    found = detect_leader_call(None, "Trump and Mishustin spoke by phone on Monday.", leaders)
    assert found is not None and found.russia_leader == "Mishustin"


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"extra_us": [" "]}, "leaders.extra_us"),  # the key written, not the list it extends
        ({"russia": "Putin"}, "leaders.russia"),
        ({"extra_others": [3]}, "leaders.extra_others"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Leaders.default().with_overrides(**overrides)
    assert caught.value.key == key


def test_empty_input() -> None:
    assert detect_leader_call(None, "") is None
    assert detect_leader_call("   ", "\n\n") is None
