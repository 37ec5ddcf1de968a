"""Errors cross process boundaries as values: they must pickle with their context."""

from __future__ import annotations

import pickle

import pytest

from extractors.errors import (
    BlockedAddressError,
    ConfigError,
    ExtractionError,
    FeedError,
    HTTPStatusError,
    NewsmonError,
)


@pytest.mark.parametrize(
    "error",
    [
        ExtractionError("empty page", url="http://127.0.0.1/a"),
        FeedError("not a feed", url="http://127.0.0.1/f"),
        HTTPStatusError("HTTP 429", url="http://127.0.0.1/f", status=429, retry_after="120"),
        BlockedAddressError("refused", url="http://10.0.0.1/"),
        ConfigError("unknown key", key="feeds[0].nmae"),
    ],
)
def test_errors_round_trip_through_pickle(error: NewsmonError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__
