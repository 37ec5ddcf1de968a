"""Wire-copy evidence: word shingles, MinHash/LSH band keys, anchor shingles, sentence alignment.

Issue 3. Pure code: ``warehouse.matching`` stores the keys and asks ``compare`` about the
candidates they find. Two kinds of index key find candidates:

- **band keys**: a MinHash signature over 5-word shingles (64 permutations) cut into 16 bands
  of 4 rows. Near duplicates (reprints, retitled copies; Jaccard above about 0.5) share a band
  with high probability (0.99 at Jaccard 0.8, 0.64 at 0.5).
- **anchor keys**: the shingles whose hash is 0 mod 8 (Broder's mod-m sampling), in text order,
  at most ``MAX_ANCHORS``. Sampling is consistent, so a trimmed copy or a write-through that keeps
  a third of its sentences still shares several anchors with the original although its Jaccard
  is as low as 0.12 (seed 002 against seed 000).

``compare`` then decides from the two texts:

- containment: shingles in common / shingles of the shorter text (reprints, trims, extensions);
- sentence alignment: each sentence of one text against its most similar sentence of the other
  (Dice over word bigrams, one to one). An aligned sentence counts only with its narrative
  (unquoted) words, because independent reports of one event quote the same statement verbatim.

The rule (``CopyThresholds``), for texts of at least 12 words, titles playing no part: a copy
when

- containment >= 0.5 (a reprint, a trimmed or an extended copy), or
- at least 3 sentences align carrying at least 25 narrative words and at least 20% of the
  shorter text's narrative words (a write-through that kept a fifth of its story), or
- containment >= 0.25 and at least 3 prose sentences align, quoted or not (a write-through of a
  quote-heavy story: a quarter of its word sequences recur, in sentences that line up).

Only prose counts as aligned: a line without a full stop (a heading, a caption, a list line
such as a tour date) does not. For two texts from one source a common ending does not count
either: there it is the site's or the company's boilerplate (an about-us block).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from extractors.text import normalize_text, tokens

SHINGLE_SIZE = 5
NUM_PERM = 64
BAND_ROWS = 4
BANDS = NUM_PERM // BAND_ROWS
ANCHOR_MOD = 8
MAX_ANCHORS = 100
MIN_SENTENCE_TOKENS = 5

_MERSENNE = np.uint64((1 << 61) - 1)
_MASK32 = np.uint64(0xFFFFFFFF)
# fixed seed: signatures must be comparable across processes and restarts
_RNG = np.random.default_rng(20170128)
_PERM_A = _RNG.integers(1, 1 << 31, NUM_PERM, dtype=np.uint64)
_PERM_B = _RNG.integers(0, 1 << 31, NUM_PERM, dtype=np.uint64)

_PIECE = re.compile(r'"|\w+|[.!?]')
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st sen rep gov gen lt col sgt jr sr inc corp co ltd vs no jan feb mar apr jun "
    "jul aug sep sept oct nov dec".split()
)


@dataclass(frozen=True)
class CopyThresholds:
    """The copy rule's thresholds (exposed in the ``[matching]`` config table)."""

    containment: float = 0.5
    rewrite_containment: float = 0.25
    sentence_similarity: float = 0.5
    min_aligned_sentences: int = 3
    min_aligned_tokens: int = 25
    min_aligned_share: float = 0.2
    min_tokens: int = 12


@dataclass(frozen=True)
class Sentence:
    """A sentence as word tokens.

    ``narrative`` counts the tokens outside double quotes; ``prose`` is false for a line that
    ends without a full stop (a heading, a caption, a list line such as a tour date).
    """

    tokens: tuple[str, ...]
    narrative: int
    prose: bool

    @property
    def evidence(self) -> int:
        """The words this sentence lends to the copy rule when it aligns."""
        return self.narrative if self.prose and len(self.tokens) >= MIN_SENTENCE_TOKENS else 0


@dataclass(frozen=True)
class CopyText:
    """A text prepared for ``compare``: its word count, shingle set and sentences.

    Made with the text (in the extraction worker, ``extractors.features``) or for a stored
    candidate. The sentences' bigrams, and their index, are worked out on the first ``compare``
    and kept: a stored text is compared with every version that comes after it (issue 8).
    """

    n_words: int
    shingles: frozenset[int]
    sentences: tuple[Sentence, ...]

    @cached_property
    def grams(self) -> tuple[frozenset[tuple[str, str]], ...]:
        """Each sentence's word bigrams."""
        return tuple(_bigrams(s) for s in self.sentences)

    @cached_property
    def gram_index(self) -> dict[tuple[str, str], list[int]]:
        """bigram -> the sentences long enough to align that have it."""
        by_gram: dict[tuple[str, str], list[int]] = {}
        for j, (sentence, grams) in enumerate(zip(self.sentences, self.grams, strict=True)):
            if len(sentence.tokens) >= MIN_SENTENCE_TOKENS:
                for gram in grams:
                    by_gram.setdefault(gram, []).append(j)
        return by_gram


@dataclass(frozen=True)
class CopyFingerprint:
    """What the index keeps of a text: its size and its lookup keys."""

    n_tokens: int
    band_keys: tuple[int, ...]
    anchor_keys: tuple[int, ...]

    @property
    def keys(self) -> tuple[int, ...]:
        return self.band_keys + self.anchor_keys


@dataclass(frozen=True)
class CopyEvidence:
    """Why two texts are (or are not) versions of one text."""

    containment: float
    jaccard: float
    aligned_sentences: int
    aligned_tokens: int
    aligned_share: float
    is_copy: bool

    @property
    def strength(self) -> float:
        """One number to rank several matching candidates by."""
        return max(self.containment, self.aligned_share)


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def shingle_hashes(words: list[str], size: int = SHINGLE_SIZE) -> list[int]:
    """Signed 64-bit hashes of the ``size``-word shingles, in text order (duplicates kept)."""
    if not words:
        return []
    if len(words) < size:
        return [_hash64(" ".join(words).encode("utf-8"))]
    # the hash of each shingle's UTF-8 text, with each word encoded once (the hot loop of
    # fingerprinting: no per-shingle string join or helper call)
    encoded = [w.encode("utf-8") for w in words]
    blake, from_bytes, space = hashlib.blake2b, int.from_bytes, b" "
    return [
        from_bytes(
            blake(space.join(encoded[i : i + size]), digest_size=8).digest(), "big", signed=True
        )
        for i in range(len(words) - size + 1)
    ]


def minhash(hashes: list[int]) -> np.ndarray:
    """The ``NUM_PERM`` MinHash signature of a set of shingle hashes (uint64 values < 2**32)."""
    if not hashes:
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint64)
    values = np.fromiter((h & 0xFFFFFFFF for h in set(hashes)), dtype=np.uint64)
    # a < 2**31 and values < 2**32, so a * v + b stays below 2**64
    permuted = (np.outer(_PERM_A, values) + _PERM_B[:, None]) % _MERSENNE & _MASK32
    signature: np.ndarray = permuted.min(axis=1)
    return signature


def band_keys(signature: np.ndarray) -> tuple[int, ...]:
    """One key per band: the band's number and its rows, hashed."""
    rows = signature.astype(">u4")
    return tuple(
        _hash64(b"band" + bytes([band]) + rows[band * BAND_ROWS : (band + 1) * BAND_ROWS].tobytes())
        for band in range(BANDS)
    )


def anchor_keys(hashes: list[int]) -> tuple[int, ...]:
    """The sampled shingles (hash = 0 mod ``ANCHOR_MOD``), first ``MAX_ANCHORS`` in text order."""
    chosen = (h for h in hashes if (h & 0xFFFFFFFFFFFFFFFF) % ANCHOR_MOD == 0)
    return tuple(dict.fromkeys(chosen))[:MAX_ANCHORS]


def fingerprint(
    text: str, words: list[str] | None = None, hashes: list[int] | None = None
) -> CopyFingerprint:
    """The index keys of ``text`` (no keys for an empty text); ``words``: its ``tokens``, and
    ``hashes``: their ``shingle_hashes``, when the caller has them already."""
    words = tokens(text) if words is None else words
    hashes = shingle_hashes(words) if hashes is None else hashes
    if not hashes:
        return CopyFingerprint(0, (), ())
    return CopyFingerprint(len(words), band_keys(minhash(hashes)), anchor_keys(hashes))


def anchor_share(shared: int, mine: int, theirs: int) -> float:
    """Anchors two texts share over the anchors of the text with fewer; 0 when that is not
    enough to verify: two shared anchors always are, one only for a text that has four or fewer
    (an urgent two-paragraph version)."""
    fewer = min(mine, theirs)
    if shared >= 2:
        return shared / max(1, fewer)
    return shared / fewer if shared and fewer <= 4 else 0.0


def sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` with quote-aware narrative counts (quotes reset at each paragraph)."""
    found: list[Sentence] = []
    for paragraph in text.splitlines():
        line = normalize_text(paragraph)
        quoted = False
        words: list[str] = []
        narrative = 0
        for match in _PIECE.finditer(line):
            piece = match.group()
            if piece == '"':
                quoted = not quoted
            elif piece in ".!?":
                after = line[match.end() : match.end() + 1]
                previous = words[-1] if words else ""
                if words and after in ("", " ", '"', "'", ")") and not _abbreviation(previous):
                    found.append(Sentence(tuple(words), narrative, True))
                    words, narrative = [], 0
            else:
                words.append(piece)
                narrative += not quoted
        if words:
            found.append(Sentence(tuple(words), narrative, False))
    return found


def _abbreviation(word: str) -> bool:
    return len(word) == 1 or word in _ABBREVIATIONS


def _bigrams(sentence: Sentence) -> frozenset[tuple[str, str]]:
    return frozenset(zip(sentence.tokens, sentence.tokens[1:], strict=False))


def align(new: CopyText, stored: CopyText, min_similarity: float) -> list[tuple[int, int, float]]:
    """One-to-one sentence pairs (new index, stored index, Dice) at or above ``min_similarity``."""
    stored_grams = stored.grams
    by_gram = stored.gram_index
    pairs: list[tuple[float, int, int]] = []
    for i, (sentence, grams) in enumerate(zip(new.sentences, new.grams, strict=True)):
        if len(sentence.tokens) < MIN_SENTENCE_TOKENS:
            continue
        shared = Counter(j for gram in grams for j in by_gram.get(gram, ()))
        for j, count in shared.items():
            dice = 2 * count / (len(grams) + len(stored_grams[j]))
            if dice >= min_similarity:
                pairs.append((dice, i, j))
    used_new: set[int] = set()
    used_stored: set[int] = set()
    aligned: list[tuple[int, int, float]] = []
    for dice, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if i not in used_new and j not in used_stored:
            used_new.add(i)
            used_stored.add(j)
            aligned.append((i, j, dice))
    return sorted(aligned)


def prepare(text: str, words: list[str] | None = None, hashes: list[int] | None = None) -> CopyText:
    """Tokenise ``text`` once for any number of comparisons (``words`` and ``hashes`` as for
    ``fingerprint``)."""
    words = tokens(text) if words is None else words
    hashes = shingle_hashes(words) if hashes is None else hashes
    return CopyText(len(words), frozenset(hashes), tuple(sentences(text)))


def _counts(sentence: Sentence) -> bool:
    return sentence.prose and len(sentence.tokens) >= MIN_SENTENCE_TOKENS


def _common_ending(
    aligned: list[tuple[int, int, float]], new: Sequence[Sentence], stored: Sequence[Sentence]
) -> set[tuple[int, int]]:
    """The aligned pairs that end both texts in step (lines without evidence are skipped)."""
    pairs = {(i, j) for i, j, _ in aligned}
    ending: set[tuple[int, int]] = set()
    i, j = len(new) - 1, len(stored) - 1
    while i >= 0 and j >= 0:
        if (i, j) in pairs:
            ending.add((i, j))
            i, j = i - 1, j - 1
        elif not new[i].evidence:
            i -= 1
        elif not stored[j].evidence:
            j -= 1
        else:
            break
    return ending


def compare(
    new: CopyText, stored: CopyText, thresholds: CopyThresholds, *, same_source: bool = False
) -> CopyEvidence:
    """Decide whether ``new`` is a version of ``stored`` (or the other way round); see the
    module's docstring for the rule. ``same_source``: both come from one site or publisher."""
    if not new.shingles or not stored.shingles:
        return CopyEvidence(0.0, 0.0, 0, 0, 0.0, False)
    shared = len(new.shingles & stored.shingles)
    containment = shared / min(len(new.shingles), len(stored.shingles))
    jaccard = shared / len(new.shingles | stored.shingles)
    new_s, stored_s = new.sentences, stored.sentences
    aligned = align(new, stored, thresholds.sentence_similarity)
    ending = _common_ending(aligned, new_s, stored_s) if same_source else set()
    prose = [
        (i, j)
        for i, j, _ in aligned
        if _counts(new_s[i]) and _counts(stored_s[j]) and (i, j) not in ending
    ]
    told = [(i, j) for i, j in prose if new_s[i].evidence and stored_s[j].evidence]
    aligned_tokens = sum(new_s[i].evidence for i, _ in told)
    longer = max(sum(s.evidence for s in new_s), sum(s.evidence for s in stored_s))
    share = aligned_tokens / longer if longer else 0.0
    long_enough = min(new.n_words, stored.n_words) >= thresholds.min_tokens
    rewrite = (
        len(told) >= thresholds.min_aligned_sentences
        and aligned_tokens >= thresholds.min_aligned_tokens
        and share >= thresholds.min_aligned_share
    )
    kept = (
        containment >= thresholds.rewrite_containment
        and len(prose) >= thresholds.min_aligned_sentences
    )
    is_copy = long_enough and (containment >= thresholds.containment or rewrite or kept)
    return CopyEvidence(
        round(containment, 4),
        round(jaccard, 4),
        len(prose),
        aligned_tokens,
        round(share, 4),
        is_copy,
    )
