"""Wire-style variants of an article for the dedup evaluation (issue 3; docs/dedup-eval.md).

What editors and syndication do to a wire text, as deterministic operations driven by a seeded
``random.Random``: trim the ending, give it a new headline, edit a kept paragraph lightly,
write a paragraph afresh (stood in for by a local scramble of its words, which keeps the names
and topic and destroys the word sequences a copy detector sees), and publish it all under other
page furniture (``render_page``). No operation looks at the matcher's thresholds.
"""

from __future__ import annotations

import html
import random
import re
from datetime import datetime

OUTLETS = (
    "Metro Herald",
    "Capital Journal",
    "Valley Gazette",
    "Harbor Times",
    "Lakeside Ledger",
    "Pacific Post",
    "Northern Star",
    "Evening Courier",
    "Prairie Dispatch",
    "Coastal Tribune",
    "Summit Daily",
    "River City News",
)
_SWAPS = {
    "said": "says",
    "says": "said",
    "told": "said to",
    "has": "had",
    "is": "was",
    "are": "were",
    "will": "would",
    "can": "could",
    "big": "large",
    "large": "big",
    "about": "around",
    "around": "about",
    "also": "as well",
    "but": "though",
    "very": "highly",
    "new": "fresh",
    "first": "initial",
}
_FILLERS = ("also", "now", "still", "again", "already", "reportedly")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“‘(])")
_NAV = ("Home", "News", "Local", "Nation", "World", "Business", "Sports", "Opinion", "Obituaries")


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.splitlines() if p.strip()]


def slug(outlet: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", outlet.lower()).strip("-")


def edit_sentence(sentence: str, rng: random.Random) -> str:
    """One to three small edits: a word swapped, dropped or added, a trailing clause cut."""
    words = sentence.split()
    if len(words) < 6:
        return sentence
    for _ in range(rng.randint(1, 3)):
        operation = rng.random()
        position = rng.randrange(1, len(words) - 1)
        if operation < 0.35:
            swaps = [i for i, w in enumerate(words) if w.lower() in _SWAPS]
            if swaps:
                i = rng.choice(swaps)
                words[i] = _SWAPS[words[i].lower()]
            else:
                del words[position]
        elif operation < 0.65:
            del words[position]
        elif operation < 0.85:
            words.insert(position, rng.choice(_FILLERS))
        else:
            commas = [i for i, w in enumerate(words) if w.endswith(",") and i > len(words) * 0.6]
            if commas:
                words = words[: commas[-1] + 1]
                words[-1] = words[-1].rstrip(",") + "."
    return " ".join(words)


def edit_paragraph(paragraph: str, rng: random.Random) -> str:
    """A kept paragraph as a later version prints it: each sentence lightly edited."""
    return " ".join(edit_sentence(s, rng) for s in _SENTENCE.split(paragraph))


def scramble(paragraph: str, rng: random.Random) -> str:
    """A paragraph written afresh: its words shuffled within windows of five."""
    words = paragraph.split()
    out: list[str] = []
    for start in range(0, len(words), 5):
        window = words[start : start + 5]
        rng.shuffle(window)
        out += window
    text = " ".join(w.strip(".!?") for w in out)
    return text[:1].upper() + text[1:] + "."


def trim(paras: list[str], rng: random.Random) -> list[str]:
    """The first 30-70% of the paragraphs (at least two): a copy cut to fit."""
    keep = max(2, round(len(paras) * rng.uniform(0.3, 0.7)))
    return paras[:keep]


def lead(paras: list[str]) -> list[str]:
    """An urgent first version: the opening paragraphs, 40 words or more (headings and captions
    before the first real paragraph left out)."""
    start = next((i for i, p in enumerate(paras) if len(p.split()) >= 8), 0)
    kept: list[str] = []
    for paragraph in paras[start:]:
        kept.append(paragraph)
        if sum(len(p.split()) for p in kept) >= 40:
            break
    return kept


def update(paras: list[str], rng: random.Random) -> list[str]:
    """A write-through: about a third kept and lightly edited, a third rewritten, new ones added.

    The new top is a rewritten paragraph; added paragraphs recombine words of the dropped ones.
    """
    indices = list(range(len(paras)))
    rng.shuffle(indices)
    n_keep = max(2, round(len(paras) * rng.uniform(0.28, 0.4)))
    n_rewrite = max(1, round(len(paras) * rng.uniform(0.2, 0.35)))
    keep = set(indices[:n_keep])
    rewrite = set(indices[n_keep : n_keep + n_rewrite])
    dropped = [paras[i] for i in indices[n_keep + n_rewrite :]] or list(paras)
    body: list[str] = []
    for i, paragraph in enumerate(paras):
        if i in keep:
            body.append(edit_paragraph(paragraph, rng))
        elif i in rewrite:
            body.append(scramble(paragraph, rng))
    for _ in range(rng.randint(1, 3)):
        source = rng.choice(dropped)
        body.insert(rng.randrange(0, len(body) + 1), scramble(source, rng))
    return [scramble(paras[0], rng), *body]


def new_headline(paras: list[str], rng: random.Random) -> str:
    """A new headline made from words of a later sentence."""
    source = paras[min(len(paras) - 1, rng.randint(1, 3))].split()
    start = rng.randrange(0, max(1, len(source) - 8))
    words = [w.strip(',.;:"“”') for w in source[start : start + rng.randint(6, 10)]]
    return " ".join(w[:1].upper() + w[1:] for w in words if w)


def render_page(
    *,
    outlet: str,
    url: str,
    title: str,
    paras: list[str],
    published: datetime,
    style: int,
    credit: str | None = None,
) -> str:
    """The article as a news page of one of three furniture styles."""
    e = html.escape
    nav = "".join(f'<li><a href="/{n.lower()}">{n}</a></li>' for n in _NAV[style:] + _NAV[:style])
    body: list[str] = []
    for index, paragraph in enumerate(paras, start=1):
        body.append(f"<p>{e(paragraph)}</p>")
        if style == 1 and index == 2:
            body.append('<p class="read-more"><a href="/more">READ MORE: Our coverage</a></p>')
        if style == 2 and index % 3 == 0:
            body.append('<div class="ad"><span>Advertisement</span></div>')
    if credit:
        body.append(f'<p class="credit"><em>{e(credit)}</em></p>')
    sidebar = "".join(f"<li><a href='/top/{i}'>Top story number {i}</a></li>" for i in range(5))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{e(title)} - {e(outlet)}</title>
<meta property="og:site_name" content="{e(outlet)}">
<meta property="og:title" content="{e(title)}">
<meta property="article:published_time" content="{published.isoformat()}">
<link rel="canonical" href="{e(url)}"></head>
<body><header><a href="/" class="logo">{e(outlet)}</a><nav><ul>{nav}</ul></nav>
<div class="cookie">We use cookies to improve your experience. <a href="/privacy">Learn more</a>
</div></header>
<main><article><h1>{e(title)}</h1>
<div class="byline">By {e(outlet)} staff &middot; {published.strftime("%b %d, %Y")}</div>
<div class="story-body">{"".join(body)}</div></article>
<aside><h2>Most read</h2><ul>{sidebar}</ul></aside></main>
<footer><p>&copy; {published.year} {e(outlet)}. All rights reserved.</p>
<a href="/terms">Terms</a> <a href="/contact">Contact</a></footer></body></html>"""
