"""The shared evaluation corpora (``../shared/corpus`` beside the checkout) and how to score them.

Page text is copyrighted by its publishers (corpus README): it is read from the shared folder at
test time and never copied into the project.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from extractors.text import tokens

# tests/support/corpus.py -> parents[2] is the checkout, parents[3] the folder holding shared/
CORPUS_DIR = Path(__file__).resolve().parents[3] / "shared" / "corpus"
AEB_DEV_DIR = CORPUS_DIR / "aeb-dev"


@dataclass(frozen=True)
class GoldPage:
    """One page of the article-extraction benchmark with its human-annotated article text.

    ``url`` is where the page was originally published; ``html`` the page as saved (bytes, in
    the page's own encoding); ``gold`` the annotated article body.
    """

    id: str
    url: str
    html: bytes
    gold: str


def aeb_dev_missing() -> str | None:
    """Why the aeb-dev corpus cannot be used here, or ``None`` when it can."""
    gold = AEB_DEV_DIR / "gold.jsonl"
    if not gold.is_file():
        return f"the aeb-dev corpus is not at {AEB_DEV_DIR} (expected ../shared/corpus)"
    return None


def load_aeb_dev(limit: int | None = None) -> list[GoldPage]:
    """The aeb-dev pages in ``gold.jsonl`` order (the first ``limit`` of them if given)."""
    pages: list[GoldPage] = []
    with (AEB_DEV_DIR / "gold.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            if limit is not None and len(pages) >= limit:
                break
            record = json.loads(line)
            html = gzip.decompress((AEB_DEV_DIR / "html" / f"{record['id']}.html.gz").read_bytes())
            pages.append(GoldPage(record["id"], record["url"], html, record["text"]))
    return pages


def token_f1(predicted: str, gold: str) -> float:
    """Bag-of-words F1 of ``predicted`` against ``gold`` over ``extractors.text.tokens``.

    Tokens are counted with multiplicity (the overlap of two multisets), so a paragraph
    extracted twice costs precision. Two empty texts agree (1.0); one empty text scores 0.0.
    """
    got, want = Counter(tokens(predicted)), Counter(tokens(gold))
    if not got and not want:
        return 1.0
    overlap = sum((got & want).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(got.values())
    recall = overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)
