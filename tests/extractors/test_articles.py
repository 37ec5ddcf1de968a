"""``extract_page``'s ``fallback`` option, directly and through the worker pool (issue 8)."""

from __future__ import annotations

import asyncio

import pytest

from extractors.articles import extract_page
from extractors.workers import ExtractionPool
from tests.support.corpus import aeb_dev_missing, load_aeb_dev, token_f1

# the one aeb-dev page (of 91) where trafilatura's fallback extractors change the text: they
# replace the annotated body with a longer, mostly off-article text
PAGE_ID = "fde930b01859de8311c6a14f8aa8c72be0659b551367803deb6736cf3526cf2e"

pytestmark = pytest.mark.skipif(aeb_dev_missing() is not None, reason=str(aeb_dev_missing()))


def _page():  # type: ignore[no-untyped-def]
    return next(p for p in load_aeb_dev() if p.id == PAGE_ID)


def test_fallback_extractors_run_only_when_asked() -> None:
    page = _page()
    plain = extract_page(page.html, page.url)
    with_fallback = extract_page(page.html, page.url, fallback=True)
    assert token_f1(plain.text, page.gold) > 0.95
    assert token_f1(with_fallback.text, page.gold) < 0.6
    assert len(with_fallback.text) > 2 * len(plain.text)


def test_the_pool_passes_the_fallback_option_to_its_workers() -> None:
    page = _page()

    async def extract(fallback: bool) -> str:
        async with ExtractionPool(1, fallback=fallback) as pool:
            result = await pool.extract(page.html, page.url)
        assert not isinstance(result, Exception), result
        return result.text

    assert asyncio.run(extract(False)) == extract_page(page.html, page.url).text
    assert asyncio.run(extract(True)) == extract_page(page.html, page.url, fallback=True).text
