"""Everything newsmon derives from an article's title and text, computed in one place.

Relevance, the leader-call evidence, the text hash, the copy fingerprint and the story features
depend only on the title and the text. They cost about 15 ms an article, as much as a
third of extracting the page, so they are computed where the text is made: in the extraction
worker (``extractors.workers``), on both cores, rather than in the pass's single writer
(issue 8). ``flows.pipeline.build_article`` takes the worker's ``TextAnalysis`` when it was made
for the same title, and computes one itself otherwise (a feed summary kept instead of a page).
``warehouse.matching`` takes the ``MatchFeatures`` an article carries when they were made for
its own title and text, and computes them itself otherwise (staged batches from older
versions, articles built by hand).
"""

from __future__ import annotations

from dataclasses import dataclass

from extractors.copies import CopyFingerprint, CopyText, fingerprint, prepare, shingle_hashes
from extractors.leader_calls import Leaders, detect_leader_call
from extractors.relevance import Lexicon, score_relevance
from extractors.stories import StoryFeatures, story_features
from extractors.text import text_hash, tokens
from extractors.types import Relevance


@dataclass(frozen=True)
class MatchFeatures:
    """What copy and story matching read from an article, and the title and text hash they
    were computed from."""

    title: str
    text_hash: str
    fingerprint: CopyFingerprint
    story: StoryFeatures
    # the text as copy verification compares it (``extractors.copies.compare``)
    copy_text: CopyText

    def fits(self, title: str, text_digest: str) -> bool:
        # features pickled by an older version (a staged batch) may lack a newer field
        complete = all(hasattr(self, name) for name in self.__dataclass_fields__)
        return complete and self.title == title and self.text_hash == text_digest


@dataclass(frozen=True)
class TextAnalysis:
    """The text-derived fields of an ``Article``. ``text_hash`` is ``None`` for a text with no
    words (the article is then keyed by its URL)."""

    title: str
    text_hash: str | None
    relevance: Relevance
    leader_call_evidence: str | None
    features: MatchFeatures


def match_features(
    title: str, text: str, digest: str | None = None, words: list[str] | None = None
) -> MatchFeatures:
    """The copy fingerprint and story features of ``title`` and ``text``."""
    words = tokens(text) if words is None else words
    hashes = shingle_hashes(words)  # once, for the fingerprint and the prepared text
    return MatchFeatures(
        title=title,
        text_hash=digest if digest is not None else text_hash(text, words),
        fingerprint=fingerprint(text, words, hashes),
        story=story_features(title, text),
        copy_text=prepare(text, words, hashes),
    )


def analyze_text(
    title: str, text: str, lexicon: Lexicon | None = None, leaders: Leaders | None = None
) -> TextAnalysis:
    """Score, hash and fingerprint one article's title and text."""
    words = tokens(text)  # once, for the hash and the fingerprint
    digest = text_hash(text, words) if words else None
    relevance = score_relevance(title, text, lexicon)
    # only a US–Russia article can flag a leader-call story (warehouse.loads), and a report of
    # the two presidents' call is one: the detector's 4 ms go to those articles only
    call = detect_leader_call(title, text, leaders) if relevance.us_russia else None
    return TextAnalysis(
        title=title,
        text_hash=digest,
        relevance=relevance,
        leader_call_evidence=call.sentence if call else None,
        features=match_features(title, text, digest or "", words),
    )
