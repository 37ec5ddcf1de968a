"""Wire-copy evidence: word shingles, MinHash/LSH band keys, anchor shingles, sentence alignment.

Issue 3. Pure code: ``warehouse.matching`` stores the keys and asks ``compare`` about the
candidates they find. Two kinds of index key find candidates:

- **band keys**: a MinHash signature over 5-word shingles (128 permutations) cut into 32 bands
  of 4 rows. Near duplicates (reprints, retitled copies; Jaccard above about 0.4) share a band
  with high probability.
- **anchor keys**: the shingles whose hash is 0 mod 8 (Broder's mod-m sampling), in text order,
  at most ``MAX_ANCHORS``. Sampling is consistent, so a trimmed copy or a write-through that keeps
  a third of its sentences still shares several anchors with the original although its Jaccard
  is as low as 0.12 (seed 002 against seed 000).

``compare`` then decides from the two texts:

- containment: shingles in common / shingles of the shorter text (reprints, trims, extensions);
- sentence alignment: each sentence of one text against its most similar sentence of the other
  (Dice over word bigrams, one to one). An aligned sentence counts only with its narrative
  (unquoted) words, because independent reports of one event quote the same statement verbatim.

The rule (``CopyThresholds``): a copy when containment >= 0.5, or when at least 3 sentences
align carrying at least 25 narrative words and at least 20% of the shorter text's narrative
words. Titles play no part.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from extractors.text import normalize_text, tokens

SHINGLE_SIZE = 5
NUM_PERM = 128
BAND_ROWS = 4
BANDS = NUM_PERM // BAND_ROWS
ANCHOR_MOD = 8
MAX_ANCHORS = 200
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
    sentence_similarity: float = 0.5
    min_aligned_sentences: int = 3
    min_aligned_tokens: int = 25
    min_aligned_share: float = 0.2
    min_tokens: int = 12


@dataclass(frozen=True)
class Sentence:
    """A sentence as word tokens; ``narrative`` counts the tokens outside double quotes."""

    tokens: tuple[str, ...]
    narrative: int


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
    return [
        _hash64(" ".join(words[i : i + size]).encode("utf-8"))
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


def fingerprint(text: str) -> CopyFingerprint:
    """The index keys of ``text`` (no keys for an empty text)."""
    words = tokens(text)
    hashes = shingle_hashes(words)
    if not hashes:
        return CopyFingerprint(0, (), ())
    return CopyFingerprint(len(words), band_keys(minhash(hashes)), anchor_keys(hashes))


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
                    found.append(Sentence(tuple(words), narrative))
                    words, narrative = [], 0
            else:
                words.append(piece)
                narrative += not quoted
        if words:
            found.append(Sentence(tuple(words), narrative))
    return found


def _abbreviation(word: str) -> bool:
    return len(word) == 1 or word in _ABBREVIATIONS


def _bigrams(sentence: Sentence) -> set[tuple[str, str]]:
    return set(zip(sentence.tokens, sentence.tokens[1:], strict=False))


def align(
    new: list[Sentence], stored: list[Sentence], min_similarity: float
) -> list[tuple[int, int, float]]:
    """One-to-one sentence pairs (new index, stored index, Dice) at or above ``min_similarity``."""
    stored_grams = [_bigrams(s) for s in stored]
    by_gram: dict[tuple[str, str], list[int]] = {}
    for j, grams in enumerate(stored_grams):
        if len(stored[j].tokens) >= MIN_SENTENCE_TOKENS:
            for gram in grams:
                by_gram.setdefault(gram, []).append(j)
    pairs: list[tuple[float, int, int]] = []
    for i, sentence in enumerate(new):
        if len(sentence.tokens) < MIN_SENTENCE_TOKENS:
            continue
        grams = _bigrams(sentence)
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


def _narrative_total(found: list[Sentence]) -> int:
    return sum(s.narrative for s in found if len(s.tokens) >= MIN_SENTENCE_TOKENS)


def compare(new_text: str, stored_text: str, thresholds: CopyThresholds) -> CopyEvidence:
    """Decide whether ``new_text`` is a version of ``stored_text`` (or the other way round)."""
    new_words, stored_words = tokens(new_text), tokens(stored_text)
    new_set, stored_set = set(shingle_hashes(new_words)), set(shingle_hashes(stored_words))
    if not new_set or not stored_set:
        return CopyEvidence(0.0, 0.0, 0, 0, 0.0, False)
    shared = len(new_set & stored_set)
    containment = shared / min(len(new_set), len(stored_set))
    jaccard = shared / len(new_set | stored_set)
    new_sentences, stored_sentences = sentences(new_text), sentences(stored_text)
    aligned = align(new_sentences, stored_sentences, thresholds.sentence_similarity)
    aligned_tokens = sum(new_sentences[i].narrative for i, _, _ in aligned)
    shorter = min(_narrative_total(new_sentences), _narrative_total(stored_sentences))
    share = aligned_tokens / shorter if shorter else 0.0
    long_enough = min(len(new_words), len(stored_words)) >= thresholds.min_tokens
    rewrite = (
        len(aligned) >= thresholds.min_aligned_sentences
        and aligned_tokens >= thresholds.min_aligned_tokens
        and share >= thresholds.min_aligned_share
    )
    is_copy = long_enough and (containment >= thresholds.containment or rewrite)
    return CopyEvidence(
        round(containment, 4), round(jaccard, 4), len(aligned), aligned_tokens, round(share, 4),
        is_copy,
    )
