"""Term lists a config may replace or extend: shared by the relevance and leader-call rules."""

from __future__ import annotations

from collections.abc import Iterable

from extractors.errors import ConfigError


def checked_terms(terms: Iterable[str], *, key: str) -> list[str]:
    """The terms, white space folded; ``ConfigError`` naming ``key`` for a blank or a string."""
    if isinstance(terms, str):
        raise ConfigError("must be a list of terms, not a string", key=key)
    checked = []
    for term in terms:
        if not isinstance(term, str) or not term.strip():
            raise ConfigError(f"not a usable term: {term!r}", key=key)
        checked.append(" ".join(term.split()))
    return checked


def merged_terms(
    base: Iterable[str],
    replacement: Iterable[str] | None,
    extra: Iterable[str] | None,
    *,
    key: str,
) -> tuple[str, ...]:
    """``replacement`` (if given) instead of ``base``, then ``extra``; each term once, in order.

    ``key`` names the replacement's key (``relevance.us``); a bad extra is named by its own
    (``relevance.extra_us``)."""
    start = list(base) if replacement is None else checked_terms(replacement, key=key)
    section, _, name = key.rpartition(".")
    extra_key = f"{section}.extra_{name}" if section else f"extra_{name}"
    return tuple(dict.fromkeys([*start, *checked_terms(extra or (), key=extra_key)]))
