"""An explainable rule: does an article report a call between the US and Russian leaders?

The rule works sentence by sentence (the headline is a sentence of its own) and keeps the best
evidence sentence verbatim. A sentence is **evidence** when it holds a reported call term and
refers to both leaders:

- **leaders**: a name from ``Leaders.us`` / ``Leaders.russia``, in full or by surname ("Donald
  Trump", "Trump", "Mr Trump", "U.S. President Donald Trump"), or a title alone ("the U.S.
  president", "the president of the United States", "the president-elect" (taken as American),
  "his Russian counterpart", "the Russian president", "the Kremlin leader"). A pair reference
  ("the two leaders", "the two presidents", "the two men") stands for both when both were named
  in the window: the sentence, the two before it and the one after (the headline precedes the
  first sentence). A side missing from the sentence may be borrowed from the window the same way.
  A name used as a modifier ("the Trump administration", "anti-Putin") or as a possessive topic
  ("Trump's decision") is not a participant; a possessive followed by the call is ("Putin's call
  with Trump").
- **call terms**, strong: "phone call", "telephone conversation", "phone talks", "spoke by
  phone", "talked by telephone", "on the phone", "video call", "video conference", "virtual
  summit", "phoned"; "called Putin" / "Putin calls Trump" when a leader is the object and a time,
  a purpose or the end of the clause follows ("called Putin on Saturday", "calls Trump to
  congratulate him"; not "called Putin a killer"); and the noun "call" when a determiner,
  possessive or leader compound stands within three words before it ("the call", "in a call",
  "Saturday's call", "a “very good” call", "Trump-Putin call"; headline style "in 'positive'
  call", "takes call from"), "calls" only right after one ("Trump's calls"). The verb and other
  senses never count: "called for", "called on", "so-called", "calls for sanctions", "they call
  it", "wake-up call", "Trump's call to end the war".
- a call "with" or "between" someone must name one of ours there ("a call with his Russian
  counterpart" is ours, "a call with reporters", "a call with Fox News" and "a call between the
  foreign ministers" are not).
- **call terms**, weak: "spoke", "talked", "have spoken", "conversation", "chat" -- ambiguous
  between a call and a meeting. They count only when (a) the article also has a reported strong
  call term in a sentence naming no third party, (b) neither the sentence nor the one before has a
  meeting cue ("met", "summit", "sidelines", "face-to-face", ...), and (c) "to"/"with" after them
  leads to a leader ("spoke to reporters" is not a call).

A call term is **not reported** -- and counts for nothing -- when, in its own clause (cut at
punctuation), it is

- *planned*: a modal or infinitive, or a planning word, up to three words before it ("will speak by
  phone", "are expected to speak by phone", "agreed to hold a phone call", "a planned call",
  "ready for a call"), or "is expected" / "will take place" / "next week" / "in the coming days"
  just after it. **A planned call is not a leader call**; the call it announces will be reported
  when it happens.
- *negated*: "no", "not", "never", "without" up to two words before it ("have not spoken by
  phone", "there was no call");
- *retrospective*: "last", "previous", "earlier", "prior", "since" up to three words before it
  ("the first meeting since a phone call in March", "the two leaders last spoke by phone").

**Third parties.** Other leaders and officials (``Leaders.others``: "Merkel", "Macron",
"Lavrov", "Tillerson", ...) and, outside headlines, any capitalised name after a title
("German Chancellor Angela Merkel", "Vice President Mike Pence") that is not one of ours. When both
of ours are in the sentence, a third party nearer (in words) to the call term than either of ours
makes the call theirs; pair references and borrowing are off when any sentence in the window names
a third party.

**In passing.** An article is a leader-call story when an evidence sentence is in the headline or
the lead (the first three paragraphs, or a sentence starting within the first 120 words), **or**
when the call recurs: evidence sentences that refer to both leaders themselves in at least two
paragraphs. A call mentioned in passing deep in a story about something else ("during a call in
November, Putin and Trump agreed ..." in paragraph 14 of a sanctions story) is not, even when the
paragraph dwells on it for a sentence or two.

**Score** (of the evidence sentence, for ranking and display)::

    term      strong 1.0, weak 0.7
    leaders   both referred to in the sentence 1.0, a pair reference or a borrowed side 0.8
    zone      headline 1.0, lead 0.9, body 0.6
    score     term × leaders × zone, rounded to 3 places

The best score wins, the earliest sentence on ties. Sentences are split at ``.``/``!``/``?``
before a capital, except after initials and common abbreviations ("U.S.", "Mr.", "Jan."), so a
sentence that ends in "U.S." runs on into the next one.

Names are configurable (``Leaders.with_overrides``) so the rule outlives an administration; each
``Leaders`` compiles its patterns once, on first use.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NamedTuple

from extractors.lexicons import merged_terms

US_LEADERS = ("Donald Trump", "Joe Biden", "Barack Obama", "George W. Bush")
RUSSIA_LEADERS = ("Vladimir Putin", "Dmitry Medvedev")
# matched exactly as written: a distinctive surname, or the full name where the surname is a
# common word ("Theresa May") or a common name ("Boris Johnson")
OTHERS = (
    *("Merkel", "Macron", "Erdogan", "Erdoğan", "Xi Jinping", "Zelensky", "Zelenskiy"),
    *("Zelenskyy", "Poroshenko", "Netanyahu", "Modi", "Scholz", "Sunak", "Starmer", "Trudeau"),
    *("Shinzo Abe", "Kishida", "Assad", "Rouhani", "Raisi", "Lukashenko", "Orban", "Orbán"),
    *("Meloni", "Hollande", "Sarkozy", "David Cameron", "Theresa May", "Boris Johnson"),
    *("Nazarbayev", "Tokayev", "Aliyev", "Pashinyan", "Bolsonaro", "Ramaphosa", "Guterres"),
    *("Stoltenberg", "Mark Rutte", "von der Leyen", "Juncker", "Donald Tusk", "Khamenei"),
    *("Mohammed bin Salman", "Kim Jong Un", "Kim Jong-un", "Moon Jae-in", "Mahmoud Abbas"),
    *("Sisi", "Lavrov", "Tillerson", "Pompeo", "Blinken", "John Kerry", "Marco Rubio"),
    *("Peskov", "Ushakov", "Witkoff", "Jake Sullivan", "John Bolton", "Mattis", "Shoigu"),
    *("Pence", "JD Vance", "J.D. Vance", "Kamala Harris", "Kislyak", "Nuland", "Kushner"),
    *("Michael Flynn", "Zakharova", "Patrushev", "Hegseth", "Mike Waltz", "Keith Kellogg"),
    *("Kirill Dmitriev", "Lloyd Austin", "Mnuchin"),
)

STRONG_WEIGHT = 1.0
WEAK_WEIGHT = 0.7
IN_SENTENCE_WEIGHT = 1.0
WINDOW_WEIGHT = 0.8
ZONE_WEIGHTS = {"headline": 1.0, "lead": 0.9, "body": 0.6}
LEAD_PARAGRAPHS = 3
LEAD_WORDS = 120
WINDOW_BEFORE = 2
WINDOW_AFTER = 1
MIN_RECURRENCES = 2


@dataclass(frozen=True)
class Leaders:
    """Who counts as a leader: ``us`` and ``russia`` are full names ("Donald Trump"), matched in
    full or by surname; ``others`` are third parties (other leaders, ministers, envoys) matched
    exactly as written, whose presence near a call makes it theirs."""

    us: tuple[str, ...]
    russia: tuple[str, ...]
    others: tuple[str, ...] = OTHERS

    @classmethod
    def default(cls) -> Leaders:
        return _DEFAULT

    def with_overrides(
        self,
        *,
        us: Iterable[str] | None = None,
        russia: Iterable[str] | None = None,
        extra_us: Iterable[str] | None = None,
        extra_russia: Iterable[str] | None = None,
        others: Iterable[str] | None = None,
        extra_others: Iterable[str] | None = None,
    ) -> Leaders:
        """A copy with lists replaced (``us=``) or extended (``extra_us=``), for a config table.

        Raises ``ConfigError`` (keyed ``leaders.<name>``) for a blank name or a bare string.
        """
        changes: dict[str, Any] = {}
        for name, replacement, extra in (
            ("us", us, extra_us),
            ("russia", russia, extra_russia),
            ("others", others, extra_others),
        ):
            if replacement is None and extra is None:
                continue
            changes[name] = merged_terms(
                getattr(self, name), replacement, extra, key=f"leaders.{name}"
            )
        return replace(self, **changes) if changes else self

    @cached_property
    def _compiled(self) -> _Compiled:
        return _compile(self)


@dataclass(frozen=True)
class LeaderCall:
    """The evidence that an article reports a US–Russia leader call.

    ``sentence`` is the evidence sentence as written (trimmed); ``us_leader`` / ``russia_leader``
    say how it (or its window) refers to each leader ("Trump", "the U.S. president", "the two
    leaders"); ``call_term`` is the call expression found ("spoke by telephone", "phone call").
    """

    sentence: str
    us_leader: str
    russia_leader: str
    call_term: str
    score: float


def detect_leader_call(
    title: str | None, text: str, leaders: Leaders | None = None
) -> LeaderCall | None:
    """The best evidence that the article reports a US–Russia leader call, or ``None``.

    See the module docstring for the rule.
    """
    compiled = (leaders or _DEFAULT)._compiled
    units = [_analyse(compiled, s) for s in _units(title, text)]
    corroborated = any(t.strong and t.reported and not u.others for u in units for t in u.terms)
    found = [e for i in range(len(units)) if (e := _evidence(units, i, corroborated))]
    if not found:
        return None
    if not any(e.zone != "body" for e in found):
        recurrences = {e.paragraph for e in found if e.self_contained}
        if len(recurrences) < MIN_RECURRENCES:
            return None  # a call mentioned in passing deep in the story
    best = max(found, key=lambda e: e.call.score)  # max keeps the first of equal scores
    return best.call


class _Sentence(NamedTuple):
    text: str
    zone: str
    paragraph: int  # -1 for the headline


class _Mention(NamedTuple):
    side: str  # us, ru, pair, other
    start: int
    end: int
    text: str


class _Term(NamedTuple):
    start: int
    end: int
    text: str
    strong: bool
    reported: bool


@dataclass
class _Unit:
    sentence: _Sentence
    terms: list[_Term]
    mentions: list[_Mention]  # participants only
    others: list[_Mention]
    meeting: bool
    words: list[int]  # word start offsets, for distances

    def sides(self) -> dict[str, _Mention]:
        found: dict[str, _Mention] = {}
        for m in self.mentions:
            if m.side in ("us", "ru"):
                found.setdefault(m.side, m)
        return found

    def distance(self, a: tuple[int, int], b: tuple[int, int]) -> int:
        # words strictly between two spans
        lo, hi = (a, b) if a[0] <= b[0] else (b, a)
        return max(0, bisect_right(self.words, hi[0] - 1) - bisect_right(self.words, lo[1] - 1))


class _Evidence(NamedTuple):
    call: LeaderCall
    zone: str
    paragraph: int
    self_contained: bool  # both leaders referred to in the sentence itself


class _Compiled(NamedTuple):
    mentions: re.Pattern[str]
    others: re.Pattern[str]
    our_names: frozenset[str]


_TITLE = (
    r"(?i:president(?:-elect)?|prime\s+minister|premier|mr\.?|mrs\.?|ms\.?|dr\.?|"
    r"president\s+of\s+the\s+(?:United\s+States|U\.S\.|Russian\s+Federation))"
)
_COUNTRY = r"(?:U\.S\.|US|USA|American|United\s+States|Russian|Russia['’]s|Kremlin)"
_US_TITLE = (
    r"(?:(?i:the)\s+)?(?:(?i:then)[-\s]+)?(?:U\.S\.|US|(?i:American|United\s+States))\s+"
    r"(?i:president(?:-elect)?|leader|commander[-\s]in[-\s]chief)"
    r"|(?i:the)\s+(?:(?i:then)[-\s]+)?(?i:president-elect)"
    r"|(?i:his|her|their)\s+(?:U\.S\.|US|(?i:American))\s+(?i:counterpart)"
    r"|(?i:the\s+)?(?i:president\s+of\s+the\s+(?:United\s+States|U\.S\.))"
)
_RU_TITLE = (
    r"(?:(?i:the)\s+)?(?:Russian|Russia['’]s|Kremlin)\s+"
    r"(?i:president(?:-elect)?|leader|chief|head\s+of\s+state)"
    r"|(?i:the\s+president\s+of\s+(?:Russia|the\s+Russian\s+Federation))"
    r"|(?i:his|her|their)\s+Russian\s+(?i:counterpart)"
)
_PAIR = r"(?i:(?:the|both)\s+(?:two\s+)?(?:leaders|presidents|men|heads\s+of\s+state))"
# a name used as a modifier is no participant: "the Trump administration", "anti-Putin"
_MODIFIER_AFTER = re.compile(
    r"(?:\s+(?i:administration|campaign|team|aides?|officials?|era|presidency|transition|"
    r"tower|organi[sz]ation|supporters|loyalists|voters|camp|government|cabinet|doctrine|"
    r"regime|family|university|foundation|rally|rallies|white\s+house)"
    r"|-(?i:era|style|backed|friendly|appointed|led|leaning))(?!\w)"
)
_MODIFIER_BEFORE = re.compile(r"(?i:anti|pro|post|pre|never)-$")
_TOPIC_BEFORE = re.compile(r"(?i:\b(?:about|regarding|concerning|against|towards?)\s+)$")
_POSSESSIVE = re.compile(r"['’]s(?!\w)(?:\s+\S+){0,2}")
# a title and a capitalised name not ours: "German Chancellor Angela Merkel"
_TITLED_NAME = re.compile(
    r"(?<![\w-])(?i:(?:vice|deputy|prime|foreign|crown|defen[cs]e|finance)\s+)?"
    r"(?i:president|chancellor|minister|premier|king|queen|prince|emir|sultan|"
    r"secretary(?:\s+of\s+state)?|ambassador|pope|spokes(?:man|woman)|advis[eo]r|envoy)"
    r"\s+(?P<name>[A-Z][\w.’'-]*(?:\s+(?:(?:al|bin|von\s+der|de|van)[-\s]+)?[A-Z][\w’'-]*){0,2})"
)
_CALL = re.compile(
    r"(?<![\w-])(?:"
    r"(?P<strong>"
    r"(?:(?:spoke|spoken|speak|speaks|speaking|talked|talk|talks|talking|chatted|conferred|"
    r"(?:held|hold|holds|holding|had)\s+talks)\s+)?(?:by|over|via)\s+(?:the\s+)?(?:tele)?phone"
    r"|on\s+(?:the\s+)?(?:tele)?phone"
    r"|(?:tele)?phone[-\s]?(?:calls?|conversations?|talks|discussions?|exchanges?|chats?)"
    r"|video[-\s]?(?:calls?|conferences?|conferencing|links?|chats?|talks|summits?|meetings?)"
    r"|videoconferenc(?:e|es|ing)|virtual\s+(?:summits?|meetings?|talks)"
    r"|phoned|telephoned)"
    r"|(?P<verb>called|calls|phones|telephones|rang)"
    r"|(?P<noun>calls?)"
    r"|(?P<weak>spoke|talked|chatted|conversed|(?:have|has|had)\s+(?:spoken|talked)|"
    r"conversations?|chats?)"
    r")(?![\w-])",
    re.I,
)
_DETERMINERS = frozenset(
    "the a an their his her its this that these those first second third fourth latest last "
    "next previous earlier another each several two three many both our whose brief lengthy "
    "long".split()
)
# headlines drop articles: "Putin, Trump agree in 'positive' call", "Trump takes call from Putin"
_CALL_NOUN_CONTEXT = _DETERMINERS | frozenset(
    "in during after following from via over had held hold holds has have took takes take "
    "taking made makes make making received receives placed places".split()
)
_VERBAL = frozenset(
    "to will would could should may might must can cannot did do does we you they i he she who "
    "which also often not never".split()
)
_OTHER_SENSES = frozenset(
    "wake-up close roll curtain judgment judgement casting port margin cold booty".split()
)
_NOUN_NOT_AFTER = re.compile(
    r"\s+(?i:for|upon|it|him|her|them|me|us|into|off|out|up|back|a|an|centre|center|sign|"
    r"options?|of\s+duty)\b"
)
# a call "with" or "between" someone names its partners: they must be ours
_PARTNER = re.compile(r"\s+(?i:with|between)\s+")
_ON_A_DAY = re.compile(
    r"\s+on\s+(?:the\s+(?:tele)?phone\b|\d|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b|"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d)",
    re.I,
)
_CALL_TO_PURPOSE = re.compile(r"\s+to\s+(?i:congratulate|discuss|thank|offer|express|mark)\b")
# "called Putin on Saturday", "called Trump to congratulate him"; not "called Putin a killer"
_AFTER_CALLED_LEADER = re.compile(
    r"\s*(?:[,.;:)]|$)|\s+(?i:on|late|early|last|this|to|after|shortly|from|and|yesterday|today|"
    r"twice|again|back|before|at|in|by|during|over|for\s+the\s+first\s+time|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b"
)
_WEAK_NOT_AFTER = re.compile(
    r"\s+(?i:about|of|at|in\s+favou?r|out|up|publicly|against|highly|warmly|fondly|glowingly|"
    r"positively|well|approvingly|openly|on\s+condition|on\s+behalf)\b"
)
_EACH_OTHER = re.compile(r"(?i:each\s+other|one\s+another)\b")
_TO = re.compile(r"\s+(?i:to)\s+")
_ON = re.compile(r"\s+(?i:on)\b")
_PLANNED_BEFORE = re.compile(
    r"\b(?i:will|would|shall|may|might|could|should|can|to|plans?|planned|planning|expected|"
    r"upcoming|possible|potential|proposed|prospective|scheduled|future|next|requested|sought|"
    r"arrange|arranging|prepare|preparing|preparations\s+for|wants?|hopes?|seeks?|seeking|"
    r"ready|willing|open\s+to|asked|asking|requests?|proposals?|proposes?|offer(?:s|ed)?|"
    r"invitation|push(?:es|ed|ing)?|awaiting)"
    r"\s+(?:\S+\s+){0,3}$|['’]ll\s+(?:\S+\s+){0,3}$"
)
_PLANNED_AFTER = re.compile(
    r"^(?:\s+\S+){0,5}?\s+(?i:is|are|was|were|has\s+been|had\s+been)\s+(?i:expected|planned|"
    r"scheduled|due|likely|set|being\s+(?:prepared|arranged|planned|discussed))\b"
    r"|^(?:\s+\S+){0,5}?\s+(?i:will|would|is\s+to|are\s+to|could|may|might)\s+(?:\S+\s+)?"
    r"(?i:take\s+place|be\s+held|happen|go\s+ahead)\b"
    r"|^(?:\s+\S+){0,2}?\s+(?i:next\s+(?:week|month|year)|later\s+(?:this|in\s+the)\s+"
    r"(?:week|month)|in\s+the\s+coming\s+(?:days|weeks)|tomorrow|soon)\b"
)
_NEGATED_BEFORE = re.compile(r"\b(?i:no|not|never|nor|without)\s+(?:\S+\s+){0,2}$|n['’]t\s+$")
_RETRO_BEFORE = re.compile(
    r"\b(?i:last|previous|previously|earlier|prior|since)\s+(?:\S+\s+){0,3}$"
)
_CLAUSE_BREAK = re.compile(r"[,;:()\[\]\"“”‘’—–]|\s-\s")
_MEETING = re.compile(
    r"\b(?i:met|meet|meets|meeting|summit|sidelines|in\s+person|face[-\s]to[-\s]face|"
    r"one-on-one|behind\s+closed\s+doors|handshake|sat\s+down|news\s+conference|"
    r"press\s+conference|dinner)\b"
)
_WORD = re.compile(r"\S+")
_BOUNDARY = re.compile(r"[.!?]+[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr sen rep gov gen lt col sgt st jr sr prof rev jan feb mar apr jun jul aug sep "
    "sept oct nov dec no vs inc corp co ltd".split()
)
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+")


def _units(title: str | None, text: str) -> list[_Sentence]:
    units = [_Sentence(title.strip(), "headline", -1)] if title and title.strip() else []
    paragraph = words = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        for sentence in _split_sentences(line):
            lead = paragraph < LEAD_PARAGRAPHS or words < LEAD_WORDS
            units.append(_Sentence(sentence, "lead" if lead else "body", paragraph))
            words += len(sentence.split())
        paragraph += 1
    return units


# how far back a look at the words before a match goes: a few words, never the whole sentence,
# which made one sentence of "the call" repeated quadratic (36 kB: 42 s)
LOOK_BACK = 256
CLAUSE_REACH = 512


def _before(text: str, at: int) -> str:
    """The text just before ``at``: enough for its last words (``LOOK_BACK`` characters)."""
    return text[max(0, at - LOOK_BACK) : at]


def _split_sentences(paragraph: str) -> list[str]:
    sentences, start = [], 0
    for boundary in _BOUNDARY.finditer(paragraph):
        before = paragraph[max(start, boundary.start() - LOOK_BACK) : boundary.start() + 1].split()
        token = before[-1].lstrip("\"“‘'([") if before else ""
        if paragraph[boundary.start()] == "." and (
            _INITIALS.fullmatch(token) or token.rstrip(".").lower() in _ABBREVIATIONS
        ):
            continue
        sentences.append(paragraph[start : boundary.end()].strip())
        start = boundary.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def _analyse(compiled: _Compiled, sentence: _Sentence) -> _Unit:
    text = sentence.text
    terms = [t for m in _CALL.finditer(text) if (t := _call_term(compiled, text, m))]
    mentions = []
    for m in compiled.mentions.finditer(text):
        side = m.lastgroup or ""
        if side != "pair" and not _participant(text, m, terms):
            continue
        mentions.append(_Mention(side, m.start(), m.end(), m.group()))
    others = [
        _Mention("other", m.start(), m.end(), m.group())
        for m in compiled.others.finditer(text)
        if not _overlaps(m, mentions)
    ]
    if sentence.zone != "headline":  # a title-case headline makes every word look like a name
        for m in _TITLED_NAME.finditer(text):
            name_words = set(re.split(r"[\s-]+", m.group("name")))
            if not name_words & compiled.our_names and not _overlaps(m, mentions + others):
                others.append(_Mention("other", m.start("name"), m.end(), m.group("name")))
    words = [w.start() for w in _WORD.finditer(text)]
    return _Unit(sentence, terms, mentions, others, bool(_MEETING.search(text)), words)


def _overlaps(m: re.Match[str], mentions: list[_Mention]) -> bool:
    return any(m.start() < x.end and x.start < m.end() for x in mentions)


def _participant(text: str, m: re.Match[str], terms: list[_Term]) -> bool:
    if _MODIFIER_AFTER.match(text, m.end()) or _MODIFIER_BEFORE.search(_before(text, m.start())):
        return False
    if _TOPIC_BEFORE.search(_before(text, m.start())):
        return False
    if possessive := _POSSESSIVE.match(text, m.end()):
        # "Putin's call with Trump" is a participant, "Trump's decision" a topic
        return any(possessive.start() < t.start <= possessive.end() + 1 for t in terms)
    return True


def _call_term(compiled: _Compiled, text: str, m: re.Match[str]) -> _Term | None:
    kind = m.lastgroup
    if kind == "verb":
        leader = compiled.mentions.match(text, m.end() + 1) if text[m.end() :][:1] == " " else None
        if leader and leader.lastgroup != "pair":
            if _AFTER_CALLED_LEADER.match(text, leader.end()):
                return _term(text, m.start(), m.end(), strong=True)
        if m.group().lower() != "calls":
            return None
        kind = "noun"
    if kind == "noun" and not _is_call_noun(compiled, text, m):
        return None
    if kind == "weak" and not _is_weak_call(compiled, text, m):
        return None
    if partner := _PARTNER.match(text, m.end()):
        # "a phone call with Merkel", "a call between the foreign ministers": not ours
        at = partner.end()
        if not (compiled.mentions.match(text, at) or _EACH_OTHER.match(text, at)):
            return None
    return _term(text, m.start(), m.end(), strong=kind != "weak")


def _is_call_noun(compiled: _Compiled, text: str, m: re.Match[str]) -> bool:
    before = [w.strip("\"“”‘’'().,").lower() for w in _before(text, m.start()).split()[-3:]]
    if before and (before[-1] in _VERBAL or before[-1] in _OTHER_SENSES):
        return False
    if m.group().lower() == "calls":
        # plural "calls" is mostly the verb ("Putin calls Trump unpredictable"): the noun
        # needs its determiner right before it ("the calls", "Trump's calls")
        before = before[-1:]
    after = m.end()
    if _NOUN_NOT_AFTER.match(text, after):
        return False
    if _ON.match(text, after) and not _ON_A_DAY.match(text, after):
        return False  # "a call on the West to ..." is an appeal, "the call on Saturday" a call
    if to := _TO.match(text, after):
        leader = compiled.mentions.match(text, to.end())
        as_event = any(w in ("in", "during", "after", "following") for w in before)
        if not leader and not as_event and not _CALL_TO_PURPOSE.match(text, after):
            return False  # "a call to action", "Trump's call to end the war"
    if any(w in _CALL_NOUN_CONTEXT or w.endswith(("'s", "’s")) for w in before):
        return True
    # a leader compound: "the Trump-Putin call", "Putin-Trump calls"
    compound = _before(text, m.start()).split()[-1:]
    return bool(
        compound and re.search(r"[-–]", compound[0]) and compiled.mentions.search(compound[0])
    )


def _is_weak_call(compiled: _Compiled, text: str, m: re.Match[str]) -> bool:
    after = m.end()
    if _WEAK_NOT_AFTER.match(text, after):
        return False
    if to := _TO.match(text, after):
        return bool(compiled.mentions.match(text, to.end()))  # not "spoke to reporters"
    return True


def _term(text: str, start: int, end: int, *, strong: bool) -> _Term:
    # the clause around the term, at most CLAUSE_REACH characters each side: a real clause is
    # far shorter, and one of 36 kB without a break made each term scan all of it (quadratic)
    reach = max(0, start - CLAUSE_REACH)
    clause_start = max((b.end() for b in _CLAUSE_BREAK.finditer(text, reach, start)), default=reach)
    before = text[clause_start:start]
    following = _CLAUSE_BREAK.search(text, end, end + CLAUSE_REACH)
    after = text[end : following.start() if following else min(len(text), end + CLAUSE_REACH)]
    reported = not (
        _PLANNED_BEFORE.search(before)
        or _PLANNED_AFTER.match(after)
        or _NEGATED_BEFORE.search(before)
        or _RETRO_BEFORE.search(before)
    )
    return _Term(start, end, text[start:end], strong, reported)


def _evidence(units: list[_Unit], i: int, corroborated: bool) -> _Evidence | None:
    unit = units[i]
    # antecedents come first: a third party named before the call (or with it) may own it
    window_clear = not any(u.others for u in units[max(0, i - WINDOW_BEFORE) : i + 1])
    window_sides: dict[str, _Mention] = {}
    for u in units[max(0, i - WINDOW_BEFORE) : i + WINDOW_AFTER + 1]:
        if u.others:
            continue
        for side, mention in u.sides().items():
            window_sides.setdefault(side, mention)
    sides = unit.sides()
    pair = next((m for m in unit.mentions if m.side == "pair"), None)
    best: _Evidence | None = None
    for term in unit.terms:
        if not term.reported:
            continue
        if not term.strong:
            previous_meeting = i > 0 and units[i - 1].meeting
            if not corroborated or unit.others or unit.meeting or previous_meeting:
                continue
        span = (term.start, term.end)
        if "us" in sides and "ru" in sides:
            us, ru = (_nearest(unit, side, span) for side in ("us", "ru"))
            farthest = max(
                unit.distance(span, (us.start, us.end)), unit.distance(span, (ru.start, ru.end))
            )
            if any(unit.distance(span, (o.start, o.end)) < farthest for o in unit.others):
                continue  # the call is a third party's
            leaders_weight, self_contained = IN_SENTENCE_WEIGHT, True
        else:
            if not window_clear or not {"us", "ru"} <= window_sides.keys():
                continue
            us = sides.get("us") or pair or window_sides["us"]
            ru = sides.get("ru") or pair or window_sides["ru"]
            leaders_weight, self_contained = WINDOW_WEIGHT, pair is not None
        term_weight = STRONG_WEIGHT if term.strong else WEAK_WEIGHT
        score = round(term_weight * leaders_weight * ZONE_WEIGHTS[unit.sentence.zone], 3)
        call = LeaderCall(unit.sentence.text, us.text, ru.text, term.text, score)
        if best is None or score > best.call.score:
            best = _Evidence(call, unit.sentence.zone, unit.sentence.paragraph, self_contained)
    return best


def _nearest(unit: _Unit, side: str, span: tuple[int, int]) -> _Mention:
    candidates = [m for m in unit.mentions if m.side == side]
    return min(candidates, key=lambda m: unit.distance(span, (m.start, m.end)))


def _compile(leaders: Leaders) -> _Compiled:
    def names(full_names: tuple[str, ...]) -> str:
        patterns = []
        for full in sorted(full_names, key=len, reverse=True):
            *given, surname = full.split()
            given_pattern = r"\s+".join(re.escape(g) for g in given)
            optional_given = rf"(?:{given_pattern}\s+(?:[A-Z]\.\s+)?)?" if given else ""
            surname_pattern = re.escape(surname)
            if surname.upper() != surname:
                surname_pattern = f"(?:{surname_pattern}|{re.escape(surname.upper())})"
            patterns.append(optional_given + surname_pattern)
        title = rf"(?:(?:(?i:the)\s+)?(?:{_COUNTRY}\s+)?(?:(?i:former)\s+)?{_TITLE}\s+)?"
        return rf"{title}(?:{'|'.join(patterns)})" if patterns else "(?!)"

    mentions = re.compile(
        rf"(?<!\w)(?:(?P<us>{names(leaders.us)}|{_US_TITLE})"
        rf"|(?P<ru>{names(leaders.russia)}|{_RU_TITLE})|(?P<pair>{_PAIR}))(?!\w)"
    )
    ours = {n.split()[-1] for n in (*leaders.us, *leaders.russia)}
    others = [o for o in leaders.others if o not in (*leaders.us, *leaders.russia, *ours)]
    other_alternatives = "|".join(
        re.escape(o).replace(r"\ ", r"\s+") for o in sorted(others, key=len, reverse=True)
    )
    return _Compiled(
        mentions=mentions,
        others=re.compile(rf"(?<!\w)(?:{other_alternatives or '(?!)'})(?!\w)"),
        our_names=frozenset(ours),
    )


_DEFAULT = Leaders(us=US_LEADERS, russia=RUSSIA_LEADERS)

__all__ = ["LeaderCall", "Leaders", "detect_leader_call"]
