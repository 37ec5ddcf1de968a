"""Shared fixtures: Prefect's test harness (one temporary API for the session, on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A throwaway Prefect API and database for tests that run flows."""
    from prefect.testing.utilities import prefect_test_harness

    # the temporary server can take a while to start on a busy two-core machine
    with prefect_test_harness(server_startup_timeout=180):
        yield
