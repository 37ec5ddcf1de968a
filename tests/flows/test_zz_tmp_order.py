from pathlib import Path
from tests.flows.test_hostile import *  # noqa
from tests.flows.test_hostile import healthy, feed, config, run, notes, assert_healthy

def test_slow_first(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    links = "<a href='/x'>link text here</a> " * 50_000
    slow = f"<html><body><article>{links}</article></body></html>"
    with serve_site() as good, serve_site() as bad:
        bad.add("/slow", slow)
        bad.add("/feed.xml", feed(bad, [(bad.url("/slow"), "Slow page")]))
        cfg = config(("slow", bad.url("/feed.xml")), ("healthy", healthy(good)))
        cfg = cfg.model_copy(update={"extraction": cfg.extraction.model_copy(update={"time_limit_seconds": 2})})
        run(cfg, db)
    print(notes(db))
    assert_healthy(db, good.url("/healthy.xml"))
