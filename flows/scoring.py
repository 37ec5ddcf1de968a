"""Scores for copy detection and story clustering (issue 3; docs/dedup-eval.md).

- copies, pairwise: each article's predicted root against its gold root. A true positive is a
  copy whose predicted ``copy_of`` is its gold root; a predicted root that is wrong counts as a
  false positive and, when the article is a copy, as a false negative too.
- stories: B-cubed precision, recall and F1 (Bagga and Baldwin 1998) over the articles with a
  gold story, and the adjusted Rand index (Hubert and Arabie 1985).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CopyScores:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


@dataclass(frozen=True)
class StoryScores:
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    adjusted_rand: float
    articles: int
    gold_stories: int
    predicted_stories: int


@dataclass(frozen=True)
class DedupScores:
    copies: CopyScores
    stories: StoryScores


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def copy_scores(gold: Mapping[str, str | None], predicted: Mapping[str, str | None]) -> CopyScores:
    tp = fp = fn = 0
    for item, want in gold.items():
        got = predicted.get(item)
        if got is not None and got == want:
            tp += 1
        else:
            fp += got is not None
            fn += want is not None
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return CopyScores(precision, recall, _f1(precision, recall), tp, fp, fn)


def bcubed(gold: Mapping[str, str], predicted: Mapping[str, str]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of ``predicted`` clusters over the items of ``gold``."""
    items = [i for i in gold if i in predicted]
    if not items:
        return 1.0, 1.0, 1.0
    pairs = Counter((gold[i], predicted[i]) for i in items)
    gold_sizes = Counter(gold[i] for i in items)
    predicted_sizes = Counter(predicted[i] for i in items)
    precision = recall = 0.0
    for i in items:
        both = pairs[(gold[i], predicted[i])]
        precision += both / predicted_sizes[predicted[i]]
        recall += both / gold_sizes[gold[i]]
    precision, recall = precision / len(items), recall / len(items)
    return precision, recall, _f1(precision, recall)


def _pairs(n: int) -> float:
    return n * (n - 1) / 2


def adjusted_rand(gold: Mapping[str, str], predicted: Mapping[str, str]) -> float:
    items = [i for i in gold if i in predicted]
    if len(items) < 2:
        return 1.0
    together = sum(_pairs(n) for n in Counter((gold[i], predicted[i]) for i in items).values())
    gold_pairs = sum(_pairs(n) for n in Counter(gold[i] for i in items).values())
    predicted_pairs = sum(_pairs(n) for n in Counter(predicted[i] for i in items).values())
    expected = gold_pairs * predicted_pairs / _pairs(len(items))
    best = (gold_pairs + predicted_pairs) / 2
    if best == expected:
        return 1.0
    return (together - expected) / (best - expected)


def story_scores(gold: Mapping[str, str], predicted: Mapping[str, str]) -> StoryScores:
    precision, recall, f1 = bcubed(gold, predicted)
    items = [i for i in gold if i in predicted]
    return StoryScores(
        precision,
        recall,
        f1,
        adjusted_rand(gold, predicted),
        len(items),
        len({gold[i] for i in items}),
        len({predicted[i] for i in items}),
    )


def score(
    gold_copy: Mapping[str, str | None],
    predicted_copy: Mapping[str, str | None],
    gold_story: Mapping[str, str],
    predicted_story: Mapping[str, str],
) -> DedupScores:
    return DedupScores(
        copy_scores(gold_copy, predicted_copy), story_scores(gold_story, predicted_story)
    )
