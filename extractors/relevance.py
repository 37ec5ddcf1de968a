"""An explainable, rule-based US–Russia relevance score.

An article is a US–Russia item when it names a US actor *and* a Russian actor. The evidence is a
list of lexicon terms found in the headline and the text; the score is arithmetic anyone can redo
from that list.

Terms come in four kinds (see ``Lexicon``):

- **actor** (weight 1.0): a named US or Russian actor -- leaders, officials, institutions, state
  companies ("Trump", "Pentagon", "Lavrov", "Kremlin", "Gazprom") -- or a country word directly
  followed by an office word ("U.S. officials", "Russian defence ministry", "Russia's military";
  office words match in any case). The evidence names the pair: ``"U.S. officials"``.
- **bilateral** (weight 1.0, counted for *both* sides): "U.S.-Russia", "Russian-American",
  "Washington and Moscow", ...
- **place** (weight 0.4): a bare country or capital name or adjective ("Russia", "Russian",
  "Moscow", "U.S.", "American", "Washington"). A city is either a place or a metonym for its
  government and we cannot tell which reliably, so capitals are places too. Place points on a side
  are capped at 1.0, so place names alone never make an item (their best is 0.39 < 0.5).
- **ignore**: phrases that are consumed and count for nothing ("Russian roulette", "White Russian",
  "Washington Post", "Latin America", "US dollar").

The formula::

    zone z        headline 3, lead (the first 60 words of the text) 2, rest of the body 1
    term points   w × (z_best + ln n)     w: kind weight, z_best: best zone the term occurs in,
                                          n: how often it occurs (repeats saturate)
    side points   Σ actor and bilateral term points + min(Σ place term points, 1.0)
    side strength 1 − exp(−side points / 2)
    score         min(US strength, Russia strength), rounded to 3 places
    us_russia     score ≥ threshold (0.5 by default)

So one actor per side in the headline scores 0.777, one per side in the lead 0.632, one per side
deep in the body 0.393 (not enough on its own). Example: headline "Putin and Trump agree ..." and
"Kremlin" twice in the body: Russia has Putin 1×(3 + ln 1) = 3 and Kremlin 1×(1 + ln 2) = 1.69,
4.69 points, strength 0.904; the US has Trump 3 points, strength 0.777; the score is 0.777.

Matching is case-insensitive and word-bounded ("Putin's" matches Putin, "Putinism" does not), with
three rules against false positives:

- an all-capitals token in a term (an acronym: "US", "U.S.", "FSB") matches only in capitals, with
  or without dots, so the pronoun "us" never counts; and an undotted acronym on a line written
  entirely in capitals ("TELL US ABOUT IT") does not count either;
- a term written with a capital letter does not match text written all in lower case ("trump
  card", "party congress"); write a term in lower case to match any case ("secretary of state");
- where terms overlap, the longest wins, so "Russian roulette" (ignore) beats "Russian" (place)
  and "U.S.-Russia" (bilateral) beats "U.S." and "Russia".

The lexicon can be replaced or extended from config (``Lexicon.with_overrides``); each
``Lexicon`` compiles its patterns once, on first use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import islice
from typing import Any, NamedTuple

from extractors.errors import ConfigError
from extractors.lexicons import merged_terms
from extractors.types import Relevance

HEADLINE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0
BODY_WEIGHT = 1.0
LEAD_WORDS = 60
ACTOR_WEIGHT = 1.0
PLACE_WEIGHT = 0.4
PLACE_CAP = 1.0
SATURATION = 2.0
DEFAULT_THRESHOLD = 0.5

US_ACTORS = (
    # presidents, presidents-elect, vice presidents, candidates
    *("Trump", "Biden", "Obama", "Bush", "Clinton", "Kamala Harris", "Pence", "Vance"),
    # secretaries of state and defence, the treasury, security advisers, envoys, spy chiefs
    *("Rubio", "Blinken", "Pompeo", "Tillerson", "John Kerry", "Hegseth", "Lloyd Austin"),
    *("Mattis", "Esper", "Jake Sullivan", "John Bolton", "Mike Waltz", "Witkoff"),
    *("Keith Kellogg", "Victoria Nuland", "Yellen", "Mnuchin", "Bessent", "Tulsi Gabbard"),
    # institutions and offices
    *("White House", "Oval Office", "Pentagon", "Congress", "Capitol Hill"),
    *("House of Representatives", "State Department", "Department of State"),
    *("Treasury Department", "Department of the Treasury", "Defense Department"),
    *("Department of Defense", "Justice Department", "Department of Justice"),
    *("secretary of state", "secretary of defense", "defense secretary", "treasury secretary"),
    *("CIA", "FBI", "National Security Agency", "Joint Chiefs", "Air Force One", "Camp David"),
)
RUSSIA_ACTORS = (
    *("Putin", "Medvedev", "Lavrov", "Peskov", "Shoigu", "Belousov", "Gerasimov", "Mishustin"),
    *("Zakharova", "Yuri Ushakov", "Ryabkov", "Nebenzia", "Kislyak", "Anatoly Antonov"),
    *("Kirill Dmitriev", "Patrushev", "Naryshkin", "Bortnikov", "Volodin", "Matviyenko"),
    *("Nabiullina", "Siluanov", "Prigozhin"),
    *("Kremlin", "Duma", "Federation Council", "FSB", "GRU", "SVR", "Wagner Group"),
    # state companies and banks
    *("Gazprom", "Gazprombank", "Rosneft", "Rosatom", "Rostec", "Transneft", "Sberbank", "VTB"),
    *("Roscosmos", "Rosoboronexport"),
)
US_PLACES = ("U.S.", "U.S.A.", "United States", "America", "American", "Americans", "Washington")
RUSSIA_PLACES = ("Russia", "Russian", "Russians", "Russian Federation", "Moscow")
BILATERAL = (
    *("U.S.-Russia", "U.S.-Russian", "Russia-U.S.", "Russian-U.S.", "Russian-American"),
    *("American-Russian", "Russo-American", "U.S. and Russia", "Russia and the U.S."),
    *("U.S. and Russian", "Russian and U.S.", "Russian and American", "American and Russian"),
    *("United States and Russia", "Russia and the United States", "America and Russia"),
    *("Russia and America", "Washington and Moscow", "Moscow and Washington"),
)
# office words turn a preceding country word into an actor: "U.S. officials", "Russia's army"
OFFICES = (
    *("president", "president-elect", "vice president", "prime minister", "leader", "leaders"),
    *("leadership", "government", "administration", "authorities", "official", "officials"),
    *("foreign minister", "foreign ministry", "defence minister", "defense minister"),
    *("defence ministry", "defense ministry", "ministry of defence", "ministry of defense"),
    *("defense secretary", "secretary of state", "treasury", "treasury secretary"),
    *("finance minister", "finance ministry", "central bank", "military", "army", "navy"),
    *("air force", "armed forces", "forces", "troops", "soldiers", "warplanes", "warship"),
    *("warships", "bombers", "commander", "commanders", "generals", "diplomat", "diplomats"),
    *("ambassador", "envoy", "embassy", "consulate", "delegation", "negotiators", "lawmaker"),
    *("lawmakers", "legislators", "senator", "senators", "congress", "senate", "parliament"),
    *("intelligence", "intelligence agencies", "intelligence services", "security services"),
    *("spy agency", "sanctions", "state media", "state television", "prosecutors"),
    *("spokesman", "spokeswoman"),
)
IGNORE = (
    *("Russian roulette", "Russian doll", "Russian dolls", "Russian nesting doll"),
    *("Russian nesting dolls", "Russian dressing", "Russian salad", "Russian tea"),
    *("Russian Tea Room", "Russian Blue", "White Russian", "Black Russian", "Russian River"),
    *("Russian Standard", "Washington Post", "Washington Times", "Washington State"),
    *("University of Washington", "George Washington", "Denzel Washington", "Washington Square"),
    *("Washington Nationals", "Washington Commanders", "Washington Wizards"),
    *("Washington Capitals", "Latin America", "Latin American", "South America"),
    *("South American", "North America", "North American", "Central America"),
    *("Central American", "Native American", "Native Americans", "African American"),
    *("African Americans", "Asian American", "American Airlines", "American Express"),
    *("Bank of America", "Captain America", "American Idol", "American football"),
    *("Miss America", "U.S. Open", "U.S. dollar", "U.S. dollars", "USA Today", "Team USA"),
    *("Party Congress", "National Congress", "Congress Party"),
)

_ACRONYM = re.compile(r"(?:[A-Z]\.){2,}|[A-Z]{2,}\.?")
_TOKEN_SPLIT = re.compile(r"\s*[-‐‑–—]\s*|\s+")
_SEPARATOR = r"(?:\s*[-‐‑–—]\s*|\s+)"
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Lexicon:
    """The terms the scorer looks for; see the module docstring for what each kind weighs.

    ``us`` / ``russia`` are actor terms; ``us_places`` / ``russia_places`` bare country words
    (which become actors when an ``offices`` word follows them); ``bilateral`` phrases count for
    both sides; ``ignore`` phrases count for nothing. A term listed as an actor wins over the same
    term in another list.
    """

    us: tuple[str, ...]
    russia: tuple[str, ...]
    threshold: float = DEFAULT_THRESHOLD
    us_places: tuple[str, ...] = US_PLACES
    russia_places: tuple[str, ...] = RUSSIA_PLACES
    bilateral: tuple[str, ...] = BILATERAL
    offices: tuple[str, ...] = OFFICES
    ignore: tuple[str, ...] = IGNORE

    @classmethod
    def default(cls) -> Lexicon:
        return _DEFAULT

    def with_overrides(
        self,
        *,
        us: Iterable[str] | None = None,
        russia: Iterable[str] | None = None,
        extra_us: Iterable[str] | None = None,
        extra_russia: Iterable[str] | None = None,
        threshold: float | None = None,
        us_places: Iterable[str] | None = None,
        russia_places: Iterable[str] | None = None,
        bilateral: Iterable[str] | None = None,
        extra_bilateral: Iterable[str] | None = None,
        offices: Iterable[str] | None = None,
        extra_offices: Iterable[str] | None = None,
        ignore: Iterable[str] | None = None,
        extra_ignore: Iterable[str] | None = None,
    ) -> Lexicon:
        """A copy with lists replaced (``us=``) or extended (``extra_us=``), for a config table.

        ``Lexicon.default().with_overrides(**toml["relevance"])`` takes the ``[relevance]`` table
        as it is. Raises ``ConfigError`` (keyed ``relevance.<name>``) for a blank term or a
        threshold outside [0, 1].
        """
        changes: dict[str, Any] = {}
        given = {
            "us": (us, extra_us),
            "russia": (russia, extra_russia),
            "us_places": (us_places, None),
            "russia_places": (russia_places, None),
            "bilateral": (bilateral, extra_bilateral),
            "offices": (offices, extra_offices),
            "ignore": (ignore, extra_ignore),
        }
        for name, (replacement, extra) in given.items():
            if replacement is None and extra is None:
                continue
            changes[name] = merged_terms(
                getattr(self, name), replacement, extra, key=f"relevance.{name}"
            )
        if threshold is not None:
            usable = isinstance(threshold, int | float) and not isinstance(threshold, bool)
            if not usable or not 0.0 <= threshold <= 1.0:
                raise ConfigError(
                    f"threshold must be between 0 and 1, not {threshold!r}",
                    key="relevance.threshold",
                )
            changes["threshold"] = float(threshold)
        return replace(self, **changes) if changes else self

    @cached_property
    def _compiled(self) -> _Compiled:
        return _compile(self)


def score_relevance(title: str | None, text: str, lexicon: Lexicon | None = None) -> Relevance:
    """Score how much an article is about the US and Russia together; see the module docstring."""
    compiled = (lexicon or _DEFAULT)._compiled
    tally: dict[str, _Tally] = {}
    if title:
        _scan(compiled, title, len(title), HEADLINE_WEIGHT, tally)
    _scan(compiled, text, _lead_end(text), LEAD_WEIGHT, tally)

    points = {"us": 0.0, "ru": 0.0}
    place_points = {"us": 0.0, "ru": 0.0}
    for t in tally.values():
        if t.kind == "place":
            for side in t.sides:
                place_points[side] += PLACE_WEIGHT * (t.best_zone + math.log(t.count))
        else:
            for side in t.sides:
                points[side] += ACTOR_WEIGHT * (t.best_zone + math.log(t.count))
    strengths = [
        1.0 - math.exp(-(points[side] + min(place_points[side], PLACE_CAP)) / SATURATION)
        for side in ("us", "ru")
    ]
    score = round(min(strengths), 3)
    threshold = (lexicon or _DEFAULT).threshold
    return Relevance(
        score=score,
        us_russia=score >= threshold,
        us_terms=tuple(term for term, t in tally.items() if "us" in t.sides),
        ru_terms=tuple(term for term, t in tally.items() if "ru" in t.sides),
    )


@dataclass(frozen=True)
class _Term:
    term: str
    kind: str  # actor, bilateral, place, ignore
    sides: tuple[str, ...]
    needs_capital: bool  # written with a capital outside acronyms
    has_acronym: bool


class _Compiled(NamedTuple):
    terms: re.Pattern[str]
    by_group: dict[str, _Term]
    offices: re.Pattern[str]
    office_by_group: dict[str, str]


@dataclass
class _Tally:
    kind: str
    sides: tuple[str, ...]
    best_zone: float
    count: int = 1


def _scan(
    compiled: _Compiled,
    text: str,
    lead_end: int,
    lead_weight: float,
    tally: dict[str, _Tally],
) -> None:
    pos = 0
    while match := compiled.terms.search(text, pos):
        pos = match.end()
        term = compiled.by_group[match.lastgroup or ""]
        found = match.group()
        if term.kind == "ignore":
            continue
        if term.needs_capital and found.islower():
            continue
        if term.has_acronym and "." not in found and _on_capitals_line(text, match.start()):
            continue
        key, kind = term.term, term.kind
        if kind == "place" and (office := compiled.offices.match(text, pos)):
            key, kind = f"{term.term} {compiled.office_by_group[office.lastgroup or '']}", "actor"
            pos = office.end()
        zone = lead_weight if match.start() < lead_end else BODY_WEIGHT
        if (seen := tally.get(key)) is None:
            tally[key] = _Tally(kind, term.sides, zone)
        else:
            seen.count += 1
            seen.best_zone = max(seen.best_zone, zone)


def _on_capitals_line(text: str, at: int) -> bool:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    line = text[start : end if end >= 0 else len(text)]
    return not any(c.islower() for c in line)


def _lead_end(text: str) -> int:
    for word in islice(_WORD.finditer(text), LEAD_WORDS - 1, LEAD_WORDS):
        return word.end()
    return len(text)


def _compile(lexicon: Lexicon) -> _Compiled:
    terms: dict[str, _Term] = {}
    # precedence for a term listed twice: actor, then bilateral, place, ignore
    for kind, sides, names in (
        ("actor", ("us",), lexicon.us),
        ("actor", ("ru",), lexicon.russia),
        ("bilateral", ("us", "ru"), lexicon.bilateral),
        ("place", ("us",), lexicon.us_places),
        ("place", ("ru",), lexicon.russia_places),
        ("ignore", (), lexicon.ignore),
    ):
        for name in names:
            tokens = _TOKEN_SPLIT.split(name.strip())
            words = [t for t in tokens if not _ACRONYM.fullmatch(t)]
            terms.setdefault(
                _pattern(tokens),
                _Term(
                    term=name.strip(),
                    kind=kind,
                    sides=sides,
                    needs_capital=any(c.isupper() for w in words for c in w),
                    has_acronym=len(words) < len(tokens),
                ),
            )
    # longest first, so that where alternatives start at the same place the longest wins
    ordered = sorted(terms.items(), key=lambda item: -len(item[1].term))
    by_group = {f"t{i}": term for i, (_, term) in enumerate(ordered)}
    # branches grouped by first letter: sre tries alternatives one by one, and a lookahead per
    # letter spares it most of them at every word start (several times faster on news pages)
    by_letter: dict[str, list[str]] = {}
    for i, (pattern, term) in enumerate(ordered):
        by_letter.setdefault(term.term[0].lower(), []).append(f"(?P<t{i}>{pattern})")
    alternatives = "|".join(
        f"(?=(?i:{re.escape(letter)}))(?:{'|'.join(branches)})"
        for letter, branches in by_letter.items()
    )
    offices = sorted(dict.fromkeys(o.strip() for o in lexicon.offices), key=len, reverse=True)
    office_alternatives = "|".join(
        f"(?P<o{i}>{_pattern(_TOKEN_SPLIT.split(office))})" for i, office in enumerate(offices)
    )
    return _Compiled(
        terms=re.compile(rf"(?<!\w)(?:{alternatives or '(?!)'})(?!\w)"),
        by_group=by_group,
        offices=re.compile(rf"(?:['’]s)?\s+(?:{office_alternatives or '(?!)'})(?!\w)"),
        office_by_group={f"o{i}": office for i, office in enumerate(offices)},
    )


def _pattern(tokens: list[str]) -> str:
    parts = []
    for token in tokens:
        if _ACRONYM.fullmatch(token):
            letters = token.replace(".", "")
            # "U.S." or "US"; the possessive ?+ keeps "U.S.A." from matching as "U.S"
            parts.append(rf"(?:{re.escape('.'.join(letters))}\.?+|{letters})")
        else:
            parts.append("(?i:" + re.escape(token).replace("'", "['’]") + ")")
    return _SEPARATOR.join(parts)


_DEFAULT = Lexicon(us=US_ACTORS, russia=RUSSIA_ACTORS)

__all__ = ["Lexicon", "score_relevance"]
