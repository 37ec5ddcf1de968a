"""Text normalisation, exact-duplicate fingerprints, and JSON read into text UTF-8 can hold.

``normalize_text`` folds what varies between two renderings of the same copy (unicode form,
quotes and dashes, white space, case) so that ``text_hash`` recognises an exact duplicate
published under another URL. Near-duplicates are the copy detector's business, not this one's.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u200b": "",
    }
)
_WHITESPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+", re.UNICODE)


def normalize_text(text: str) -> str:
    """NFKC, unified quotes/dashes, collapsed white space, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    return _WHITESPACE.sub(" ", text).strip().lower()


def tokens(text: str) -> list[str]:
    """Word tokens of the normalised text (used for F1 scores and shingles)."""
    return _TOKEN.findall(normalize_text(text))


def text_hash(text: str, words: list[str] | None = None) -> str:
    """A stable hash of the token stream: punctuation and layout do not change it. ``words``:
    the text's ``tokens``, when the caller has them already."""
    words = tokens(text) if words is None else words
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()[:32]


def clean_whitespace(text: str) -> str:
    """Collapse runs of spaces inside lines and of blank lines, keep paragraph breaks."""
    lines = [_WHITESPACE.sub(" ", line).strip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def loads_json(raw: str | bytes) -> Any:
    """``json.loads``, with every lone surrogate in a string value made U+FFFD.

    JSON escapes UTF-16 (``"\\ud800"``), so a document (a JSON Feed, a page's JSON-LD) can
    decode to strings no UTF-8 encoder takes: one such title or site name would fail the
    warehouse's write, and with it the whole pass. Raises what ``json.loads`` raises.
    """
    doc = json.loads(raw)
    if isinstance(doc, str):
        return _LONE_SURROGATE.sub("\ufffd", doc)
    stack = [doc] if isinstance(doc, dict | list) else []
    while stack:  # iterative: a document nested as deep as json allows is no recursion hazard
        node = stack.pop()
        for key, value in list(node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(value, str):
                if _LONE_SURROGATE.search(value):
                    node[key] = _LONE_SURROGATE.sub("\ufffd", value)
            elif isinstance(value, dict | list):
                stack.append(value)
    return doc
