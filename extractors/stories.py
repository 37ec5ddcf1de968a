"""Story evidence: named entities, keywords, TF-IDF-ish profiles and their cosine.

Issue 3. Pure code: ``warehouse.matching`` keeps the document frequencies, the story profiles
and the entity index, and asks this module to build and compare profiles.

- **entities**: runs of capitalised words ("Vladimir Putin", "White House", "Islamic State"),
  all-capitals acronyms ("NATO", "U.S."), with leading titles dropped ("President", "Mr") and a
  small gazetteer folding aliases and demonyms ("U.S.", "American" -> "united states";
  "Russian" -> "russia"; "ISIS" -> "islamic state"). A capitalised word that opens a sentence
  counts only when the text never writes it in lower case (so "Both" and "Since" do not).
- **keywords**: lower-case words of four letters or more that are not stop words, plurals folded.
- **profile**: term -> (1 + ln tf) x idf x kind weight (entities 2, keywords 1); words of the
  headline count twice. ``idf = ln((n + 1) / (df + 1)) + 1`` over what the warehouse has seen.
  The strongest ``PROFILE_TERMS`` terms are kept.

An article joins a story when they share at least two entities, the story was active within
the story window, and the cosine of their profiles reaches the threshold (``StoryThresholds``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from extractors.text import normalize_text

FEATURE_TERMS = 60
PROFILE_TERMS = 80
ENTITY_WEIGHT = 2.0
LOOKUP_ENTITIES = 12

STOP_WORDS = frozenset(
    """a about above after again against all also although am an and another any are around as
    at be because been before being below between both but by can could did do does doing down
    during each either even ever every few for from further had has have having he her here hers
    herself him himself his how however i if in into is it its itself just last least less like
    made make many may me might more most much must my myself near neither never new next no nor
    not now of off often on once one only or other our ours ourselves out over own per perhaps
    rather said same say says see she should since so some still such than that the their theirs
    them themselves then there these they this those though through thus to too two under until
    up upon us very was we well were what when where whether which while who whom whose why will
    with within without would year years yet you your yours yourself according told added week
    monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow time first
    three people mr mrs ms""".split()
)
_TITLES = frozenset(
    """president vice prime minister mr mrs ms dr sen senator rep representative gov governor gen
    general secretary chancellor premier king queen prince princess pope sir lord lady judge
    justice chief ceo chairman spokesman spokeswoman ambassador envoy director professor prof
    coach former acting deputy foreign defense defence state""".split()
)
_CAPITAL_STOP = (
    frozenset(
        """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
    )
    | STOP_WORDS
)
_CONNECTORS = frozenset({"of", "de", "del", "la", "le", "van", "von", "der", "al", "bin", "da"})
GAZETTEER: Mapping[str, str] = {
    "u s": "united states",
    "us": "united states",
    "usa": "united states",
    "u s a": "united states",
    "america": "united states",
    "american": "united states",
    "americans": "united states",
    "russian": "russia",
    "russians": "russia",
    "russian federation": "russia",
    "uk": "britain",
    "u k": "britain",
    "united kingdom": "britain",
    "british": "britain",
    "chinese": "china",
    "syrian": "syria",
    "ukrainian": "ukraine",
    "iranian": "iran",
    "israeli": "israel",
    "german": "germany",
    "french": "france",
    "japanese": "japan",
    "european union": "eu",
    "e u": "eu",
    "u n": "united nations",
    "un": "united nations",
    "isis": "islamic state",
    "isil": "islamic state",
    "daesh": "islamic state",
}

_TOKEN = re.compile(r"[^\W\d_][\w'’.]*|\d[\w.,]*|[^\w\s]")
_DOTTED = re.compile(r"^(?:[^\W\d_]\.)+$")
_CLOSERS = frozenset(".!?;:")


@dataclass(frozen=True)
class StoryThresholds:
    """When an article joins a story (exposed in the ``[matching]`` config table)."""

    min_shared_entities: int = 2
    min_cosine: float = 0.3


@dataclass(frozen=True)
class StoryFeatures:
    """Raw term counts of one article, before document frequencies weigh them."""

    entities: Counter[str]
    keywords: Counter[str]

    def terms(self) -> dict[str, tuple[int, float]]:
        """term -> (count, kind weight); entities are prefixed ``e:``, keywords ``k:``."""
        found = {f"e:{e}": (n, ENTITY_WEIGHT) for e, n in self.entities.items()}
        found.update({f"k:{k}": (n, 1.0) for k, n in self.keywords.items()})
        return found


@lru_cache(maxsize=65536)
def term_key(term: str) -> int:
    """A stable signed 64-bit key for a profile term (terms recur: each is hashed once)."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def entity_day_key(entity: str, day: int) -> int:
    """The story index key of an entity mentioned on a given day (days since the epoch)."""
    return term_key(f"d:{day}:{entity}")


def day_of(moment: datetime) -> int:
    return int(moment.timestamp() // 86400)


def _key(words: list[str]) -> str:
    return _name_key(" ".join(words))


@lru_cache(maxsize=65536)
def _name_key(name: str) -> str:
    # names recur within and across articles: normalise each one once per process
    name = " ".join(re.sub(r"['’]s$", "", w) for w in name.split(" "))
    return " ".join(re.findall(r"\w+", normalize_text(name)))


@lru_cache(maxsize=65536)
def _folded(word: str) -> str:
    return normalize_text(word).strip(".")


def _is_title(word: str) -> bool:
    return _folded(word) in _TITLES


def _split_run(run: list[str]) -> list[list[str]]:
    """Cut a run of capitalised words at titles that precede a name ("U.S. President Trump")."""
    pieces: list[list[str]] = [[]]
    for index, word in enumerate(run):
        following = run[index + 1] if index + 1 < len(run) else ""
        if _is_title(word) and following and following not in _CONNECTORS:
            pieces.append([])
        else:
            pieces[-1].append(word)
    cleaned = []
    for piece in pieces:
        # "Monday U.S." -> "U.S.": a day, a month or a stop word does not open a name
        while piece and (piece[0] in _CONNECTORS or _key(piece[:1]) in _CAPITAL_STOP):
            piece = piece[1:]
        while piece and piece[-1] in _CONNECTORS:
            piece = piece[:-1]
        if piece and not all(_is_title(w) for w in piece):
            cleaned.append(piece)
    return cleaned


def _title_case(words: list[str]) -> bool:
    """A headline written in Title Case: most of its longer words are capitalised."""
    longer = [w for w in words if len(w) >= 4 and w[0].isalpha()]
    return len(longer) >= 3 and sum(w[0].isupper() for w in longer) >= 0.7 * len(longer)


def entities(text: str) -> Counter[str]:
    """Named entities of ``text`` with their counts."""
    found: Counter[str] = Counter()
    headings: list[str] = []
    openers: list[str] = []
    for line in text.splitlines():
        if not line.strip() or not any(c.islower() for c in line):
            continue  # blank, or a shouted line (ADVERTISEMENT, a heading in capitals)
        words = _TOKEN.findall(line)
        if _title_case(words) and not line.rstrip().endswith("."):
            headings += [w for w in words if w[0].isupper()]
            continue
        run: list[str] = []
        starts = True
        run_starts = False
        for word in words + ["."]:
            capital = word[0].isupper()
            if capital or (run and word in _CONNECTORS):
                if not run:
                    run_starts = starts
                run.append(word)
                starts = False
                closes = word.endswith(".") and not _DOTTED.match(word) and not _is_title(word)
                if not closes:
                    continue
            if run and run_starts and len(run) == 1:
                openers.append(run[0])  # judged once the whole text is read
            elif run:
                _add_run(found, run, run_starts)
            run = []
            starts = word in _CLOSERS or word.endswith((".", "!", "?"))
    # a word that opens a sentence or a Title Case heading is capitalised whatever it is:
    # count it only when the text also names it where capitals mean a name
    for word in openers + headings:
        key = _key([word])
        if GAZETTEER.get(key, key) in found:
            found[GAZETTEER.get(key, key)] += 1
    return found


def _add_run(found: Counter[str], run: list[str], starts: bool) -> None:
    if starts and _folded(run[0]) in _CAPITAL_STOP:
        run = run[1:]  # "But Putin", "The Kremlin"
    for piece in _split_run(run):
        _add(found, piece)


def _add(found: Counter[str], words: list[str]) -> None:
    key = _key(words).removeprefix("the ")
    if len(key) < 2 or key in _CAPITAL_STOP or key.replace(" ", "").isdigit():
        return
    found[GAZETTEER.get(key, key)] += 1


def keywords(text: str) -> Counter[str]:
    """Content words of ``text`` (lower case, 4+ letters, no stop words, plurals folded)."""
    found: Counter[str] = Counter()
    for word in re.findall(r"[^\W\d_]+", normalize_text(text)):
        if len(word) < 4 or word in STOP_WORDS:
            continue
        if word.endswith("s") and not word.endswith("ss") and len(word) > 4:
            word = word[:-1]
        found[word] += 1
    return found


def _strongest(counts: Counter[str], limit: int) -> Counter[str]:
    return Counter(dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]))


def story_features(title: str, text: str) -> StoryFeatures:
    """Entities and keywords of an article (the most frequent ``FEATURE_TERMS`` of each kind);
    the headline's count twice."""
    body_entities = entities(text)
    # the headline's own entities that the body names too (one pass over the short title,
    # not a second pass over the whole text)
    heading_entities = Counter({e: n for e, n in entities(title).items() if e in body_entities})
    found_entities = body_entities + heading_entities + heading_entities
    found_keywords = keywords(text) + keywords(title) + keywords(title)
    return StoryFeatures(
        _strongest(found_entities, FEATURE_TERMS), _strongest(found_keywords, FEATURE_TERMS)
    )


def weigh(
    terms: Mapping[str, tuple[int, float]], idf: Mapping[str, float], limit: int = PROFILE_TERMS
) -> dict[str, float]:
    """The profile: term -> (1 + ln tf) x idf x kind weight, strongest ``limit`` terms.

    ``terms`` is ``StoryFeatures.terms()``; ``idf`` holds a value for each of its terms.
    """
    weights = {
        term: (1.0 + math.log(count)) * idf[term] * kind for term, (count, kind) in terms.items()
    }
    strongest = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return dict(strongest)


def idf_of(df: int, n_docs: int) -> float:
    return math.log((n_docs + 1) / (df + 1)) + 1.0


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if not a or not b:
        return 0.0
    if len(b) < len(a):
        a, b = b, a
    dot = sum(w * b.get(t, 0.0) for t, w in a.items())
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def lookup_entities(profile: Mapping[str, float], limit: int = LOOKUP_ENTITIES) -> list[str]:
    """The profile's strongest entities (without the ``e:`` prefix), for the story index."""
    ranked = sorted(
        ((t[2:], w) for t, w in profile.items() if t.startswith("e:")),
        key=lambda tw: (-tw[1], tw[0]),
    )
    return [t for t, _ in ranked[:limit]]


def merge_profiles(
    story: Mapping[str, float], article: Mapping[str, float], limit: int = PROFILE_TERMS * 2
) -> dict[str, float]:
    """A story's profile after an article joins: the sum of unit-length member profiles."""
    norm = math.sqrt(sum(w * w for w in article.values())) or 1.0
    merged = dict(story)
    for term, weight in article.items():
        merged[term] = merged.get(term, 0.0) + weight / norm
    strongest = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return dict(strongest)


def shared_entities(article: Iterable[str], story: Mapping[str, float]) -> int:
    return sum(1 for e in article if f"e:{e}" in story)
