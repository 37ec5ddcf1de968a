"""``newsmon eval dedup`` (issue 3): runs the labelled set through the warehouse and scores it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.evaluation import DEFAULT_CORPUS, build_labelled_set, corpus_missing

pytestmark = pytest.mark.skipif(
    corpus_missing(DEFAULT_CORPUS) is not None, reason=str(corpus_missing(DEFAULT_CORPUS))
)


def test_eval_dedup_prints_copy_and_story_scores() -> None:
    result = CliRunner().invoke(main, ["eval", "dedup", "--limit", "4"])
    assert result.exit_code == 0, result.output
    assert "copies (article -> root): precision" in result.output
    assert "recall" in result.output and "F1" in result.output
    assert "B-cubed precision" in result.output and "adjusted Rand" in result.output


def test_eval_dedup_json_has_the_scores() -> None:
    result = CliRunner().invoke(main, ["eval", "dedup", "--limit", "3", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert 0.0 <= scores["copies"]["precision"] <= 1.0
    assert 0.0 <= scores["stories"]["bcubed_f1"] <= 1.0


def test_the_labelled_set_is_deterministic_and_labelled() -> None:
    first = build_labelled_set(DEFAULT_CORPUS, limit=6)
    second = build_labelled_set(DEFAULT_CORPUS, limit=6)
    assert [(i.item_id, i.group, i.story, i.html) for i in first] == [
        (i.item_id, i.group, i.story, i.html) for i in second
    ]
    kinds = {i.kind for i in first}
    assert {"original", "seed"} <= kinds and len(kinds) >= 4
    assert [i.published_at for i in first] == sorted(i.published_at for i in first)


def test_an_unusable_corpus_is_one_line(tmp_path: object) -> None:
    result = CliRunner().invoke(main, ["eval", "dedup", "--corpus", str(tmp_path)])
    assert result.exit_code != 0
    assert "evaluation corpus is not at" in result.output


@pytest.mark.parametrize(
    ("gold", "message"),
    [
        ("not json\n", "gold.jsonl is not readable"),
        ('{"id": "x1", "url": "https://e.com/a", "text": "t"}\n', "x1.html.gz is not readable"),
        ('{"url": "https://e.com/a"}\n', "gold.jsonl is not readable"),
    ],
)
def test_a_broken_corpus_is_one_line(tmp_path: Path, gold: str, message: str) -> None:
    # a bad line or a missing page ended in a traceback
    (tmp_path / "aeb-dev" / "html").mkdir(parents=True)
    (tmp_path / "aeb-dev" / "gold.jsonl").write_text(gold, encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", "dedup", "--corpus", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert message in result.output
