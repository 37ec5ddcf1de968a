"""The warehouse schema and its versioned migrations.

Each migration is applied once, in order, inside a transaction, and recorded in
``schema_migrations``. Public tables (CONTRACT.md): ``articles``, ``stories``, ``alerts``,
``feeds``, ``runs``. Internal tables start with no prefix but are documented as internal in
docs/warehouse.md: ``article_urls``, ``run_errors``.

Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "core tables",
        """
        CREATE TABLE feeds (
            feed_url            VARCHAR PRIMARY KEY,
            name                VARCHAR,
            title               VARCHAR,
            last_polled_at      TIMESTAMPTZ,
            last_ok_at          TIMESTAMPTZ,
            last_http_status    INTEGER,
            etag                VARCHAR,
            last_modified       VARCHAR,
            consecutive_errors  INTEGER NOT NULL DEFAULT 0,
            last_error          VARCHAR,
            items_last_seen     INTEGER
        );
        CREATE TABLE articles (
            article_id      VARCHAR PRIMARY KEY,
            url             VARCHAR NOT NULL,
            canonical_url   VARCHAR NOT NULL,
            feed_url        VARCHAR,
            source          VARCHAR,
            title           VARCHAR,
            author          VARCHAR,
            published_at    TIMESTAMPTZ,
            fetched_at      TIMESTAMPTZ NOT NULL,
            language        VARCHAR,
            text            VARCHAR,
            text_hash       VARCHAR,
            text_source     VARCHAR,
            note            VARCHAR,
            us_russia       BOOLEAN NOT NULL,
            relevance       DOUBLE NOT NULL,
            relevance_terms VARCHAR[],
            copy_of         VARCHAR,
            story_id        VARCHAR,
            run_id          VARCHAR,
            leader_call_evidence VARCHAR
        );
        CREATE INDEX articles_canonical_url ON articles (canonical_url);
        CREATE INDEX articles_text_hash ON articles (text_hash);
        CREATE TABLE article_urls (
            url         VARCHAR PRIMARY KEY,
            article_id  VARCHAR NOT NULL
        );
        CREATE TABLE stories (
            story_id       VARCHAR PRIMARY KEY,
            headline       VARCHAR,
            first_seen_at  TIMESTAMPTZ,
            last_seen_at   TIMESTAMPTZ,
            n_articles     INTEGER,
            n_sources      INTEGER,
            leader_call    BOOLEAN NOT NULL DEFAULT FALSE,
            leader_call_evidence VARCHAR,
            leader_call_article  VARCHAR
        );
        CREATE TABLE alerts (
            alert_id    VARCHAR PRIMARY KEY,
            story_id    VARCHAR NOT NULL,
            channel     VARCHAR NOT NULL,
            status      VARCHAR NOT NULL,
            attempts    INTEGER NOT NULL DEFAULT 0,
            created_at  TIMESTAMPTZ NOT NULL,
            sent_at     TIMESTAMPTZ,
            last_error  VARCHAR,
            next_attempt_at TIMESTAMPTZ
        );
        CREATE TABLE runs (
            run_id        VARCHAR PRIMARY KEY,
            flow_run_id   VARCHAR,
            started_at    TIMESTAMPTZ NOT NULL,
            finished_at   TIMESTAMPTZ,
            status        VARCHAR,
            feeds_polled  INTEGER,
            feeds_failed  INTEGER,
            items_seen    INTEGER,
            pages_fetched INTEGER,
            articles_new  INTEGER,
            copies        INTEGER,
            stories_new   INTEGER,
            alerts_sent   INTEGER,
            errors        INTEGER
        );
        CREATE TABLE run_errors (
            run_id    VARCHAR NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL,
            stage     VARCHAR NOT NULL,
            url       VARCHAR,
            error     VARCHAR NOT NULL
        );
        """,
    ),
    # issue 3: the copy and story index (internal tables, documented in docs/dedup-eval.md)
    Migration(
        2,
        "copy and story index",
        """
        CREATE TABLE copy_keys (
            key         BIGINT NOT NULL,
            article_id  VARCHAR NOT NULL,
            seen_at     TIMESTAMPTZ NOT NULL,
            n_anchors   SMALLINT NOT NULL
        );
        CREATE INDEX copy_keys_key ON copy_keys (key);
        CREATE TABLE story_keys (
            key       BIGINT NOT NULL,
            story_id  VARCHAR NOT NULL,
            day       INTEGER NOT NULL
        );
        CREATE INDEX story_keys_key ON story_keys (key);
        CREATE TABLE story_profiles (
            story_id  VARCHAR PRIMARY KEY,
            terms     VARCHAR[] NOT NULL,
            weights   DOUBLE[] NOT NULL
        );
        CREATE TABLE story_sources (
            key       BIGINT PRIMARY KEY,
            story_id  VARCHAR NOT NULL,
            source    VARCHAR NOT NULL
        );
        CREATE TABLE term_counts (
            key  BIGINT PRIMARY KEY,
            df   BIGINT NOT NULL
        );
        """,
    ),
    # issue 7: polite polling; when each feed is due again (extractors/schedule.py)
    Migration(
        3,
        "feed poll schedule",
        """
        ALTER TABLE feeds ADD COLUMN poll_interval_seconds DOUBLE;
        ALTER TABLE feeds ADD COLUMN next_poll_at TIMESTAMPTZ;
        ALTER TABLE feeds ADD COLUMN retry_after_until TIMESTAMPTZ;
        ALTER TABLE feeds ADD COLUMN items_digest VARCHAR;
        """,
    ),
    # issue 6: analysts' views over the public tables (docs/warehouse.md). Views bind at query
    # time, so a later migration that adds columns to articles or stories does not break them.
    Migration(
        4,
        "analyst views",
        """
        CREATE VIEW us_russia_articles AS
        SELECT
            article_id, url, canonical_url, feed_url, source, title, author, published_at,
            fetched_at, coalesce(published_at, fetched_at) AS seen_at, language, text,
            text_source, note, relevance, relevance_terms, copy_of, story_id,
            leader_call_evidence
        FROM articles
        WHERE us_russia;

        CREATE VIEW story_articles AS
        SELECT
            s.story_id, s.headline, s.leader_call,
            row_number() OVER (
                PARTITION BY s.story_id
                ORDER BY coalesce(a.published_at, a.fetched_at), a.article_id
            ) AS position,
            a.article_id, a.source, a.title, a.url, a.published_at, a.fetched_at,
            coalesce(a.published_at, a.fetched_at) AS seen_at, a.us_russia, a.relevance,
            a.copy_of IS NOT NULL AS is_copy, a.copy_of,
            root.source AS copy_of_source, root.title AS copy_of_title
        FROM stories AS s
        JOIN articles AS a ON a.story_id = s.story_id
        LEFT JOIN articles AS root ON root.article_id = a.copy_of;

        CREATE VIEW leader_calls AS
        WITH outlets AS (
            SELECT
                story_id,
                list(DISTINCT source ORDER BY source) FILTER (source IS NOT NULL) AS outlets,
                list(url ORDER BY coalesce(published_at, fetched_at), article_id) AS urls,
                count(*) FILTER (copy_of IS NOT NULL) AS n_copies
            FROM articles
            GROUP BY story_id
        ),
        sent AS (
            SELECT story_id, min(sent_at) AS alerted_at,
                   list(DISTINCT channel ORDER BY channel) AS alerted_channels
            FROM alerts
            WHERE status = 'sent'
            GROUP BY story_id
        )
        SELECT
            s.story_id, s.headline, s.first_seen_at, s.last_seen_at, s.n_articles, s.n_sources,
            o.n_copies, o.outlets, o.urls,
            s.leader_call_evidence AS evidence,
            s.leader_call_article AS evidence_article_id,
            e.source AS evidence_source, e.url AS evidence_url,
            sent.alerted_at, sent.alerted_channels
        FROM stories AS s
        LEFT JOIN outlets AS o ON o.story_id = s.story_id
        LEFT JOIN articles AS e ON e.article_id = s.leader_call_article
        LEFT JOIN sent ON sent.story_id = s.story_id
        WHERE s.leader_call;
        """,
    ),
    Migration(
        5,
        "runs count skipped feeds",
        """
        ALTER TABLE runs ADD COLUMN feeds_skipped INTEGER;
        """,
    ),
    # issue 8: migration 4's leader_calls aggregated every article of every story before the
    # leader_call filter applied (about 2 s over a million articles, bench/storage.py). The
    # same columns and rows, aggregating only the articles of leader-call stories: an analyst's
    # filter on the stories (first_seen_at) reaches the articles scan as a join filter. The
    # evidence article's source and URL come from that same aggregation, not a second scan of
    # articles: it is always one of its story's articles (flag_leader_call_stories picks it
    # among them, and an article's story_id never changes).
    Migration(
        6,
        "leader_calls aggregates only leader-call stories",
        """
        CREATE OR REPLACE VIEW leader_calls AS
        WITH sent AS (
            SELECT story_id, min(sent_at) AS alerted_at,
                   list(DISTINCT channel ORDER BY channel) AS alerted_channels
            FROM alerts
            WHERE status = 'sent'
            GROUP BY story_id
        )
        SELECT
            s.story_id, s.headline, s.first_seen_at, s.last_seen_at, s.n_articles, s.n_sources,
            o.n_copies, o.outlets, o.urls,
            s.leader_call_evidence AS evidence,
            s.leader_call_article AS evidence_article_id,
            o.evidence_source, o.evidence_url,
            sent.alerted_at, sent.alerted_channels
        FROM stories AS s
        LEFT JOIN (
            SELECT
                a.story_id,
                list(DISTINCT a.source ORDER BY a.source) FILTER (a.source IS NOT NULL)
                    AS outlets,
                list(a.url ORDER BY coalesce(a.published_at, a.fetched_at), a.article_id)
                    AS urls,
                count(*) FILTER (a.copy_of IS NOT NULL) AS n_copies,
                any_value(a.source) FILTER (a.article_id = c.leader_call_article)
                    AS evidence_source,
                any_value(a.url) FILTER (a.article_id = c.leader_call_article) AS evidence_url
            FROM stories AS c
            JOIN articles AS a ON a.story_id = c.story_id
            WHERE c.leader_call
            GROUP BY a.story_id
        ) AS o ON o.story_id = s.story_id
        LEFT JOIN sent ON sent.story_id = s.story_id
        WHERE s.leader_call;
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    # fetchall, not fetchone: duckdb 2 refuses register() on a connection whose last result
    # was not read to the end, and this is the last statement a fresh connection runs
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if not exists or not exists[0][0]:
        return 0
    rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(rows[0][0]) if rows else 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this file has and the database lacks; return their versions."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    have = current_version(con)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                [migration.version, migration.name],
            )
            con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")
            raise
        LOGGER.info("applied warehouse migration %d (%s)", migration.version, migration.name)
        applied.append(migration.version)
    return applied
