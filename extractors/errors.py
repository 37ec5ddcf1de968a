"""The newsmon error tree.

Every error the project raises on purpose derives from ``NewsmonError``::

    NewsmonError
    ├── ConfigError(key)            an unusable config; names the offending key
    ├── FetchError(url)             a request that could not produce a usable body
    │   ├── BlockedAddressError     the SSRF guard refused the target address
    │   ├── ResponseTooLarge        the (decompressed) body passed the size cap
    │   └── HTTPStatusError         a non-success status (carries ``status``)
    ├── FeedError(url)              bytes that are not a usable feed
    ├── ExtractionError(url)        a page that yielded no article text
    └── WarehouseError              the DuckDB file cannot be opened, locked or migrated
        └── WarehouseLocked         another process held the file past our patience

Per-item failures are not raised through a pass: the pipeline turns them into recorded outcomes
(``feeds.last_error``, ``runs.errors``). Only ``ConfigError`` and ``WarehouseError`` stop a command.
"""

from __future__ import annotations


class NewsmonError(Exception):
    """Base of every error newsmon raises on purpose.

    Errors cross process boundaries (extraction workers, Dask workers) as values, so they must
    pickle: the default ``Exception`` pickling calls ``cls(*args)`` and loses keyword-only
    context such as ``url``; ``__reduce__`` restores the instance's attributes instead.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[NewsmonError], args: tuple[object, ...], state: dict[str, object]
) -> NewsmonError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(NewsmonError):
    """The config cannot be used; ``key`` names the offending entry (``feeds[2].url``)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class FetchError(NewsmonError):
    """A URL could not be fetched into a usable body."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class BlockedAddressError(FetchError):
    """The target resolves to an address the fetch policy does not allow."""


class ResponseTooLarge(FetchError):
    """The body grew past the configured cap (counted after decompression)."""


class HTTPStatusError(FetchError):
    """The server answered with a status we cannot use."""

    def __init__(
        self, message: str, *, url: str, status: int, retry_after: str | None = None
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message, url=url)


class FeedError(NewsmonError):
    """The fetched bytes are not a feed we can read."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class ExtractionError(NewsmonError):
    """A page yielded no article text."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class WarehouseError(NewsmonError):
    """The warehouse cannot be opened, locked, migrated or written."""


class WarehouseLocked(WarehouseError):
    """Another process (a writer, or a reader holding the file open) kept the file locked."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (DuckDB's run to several), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
