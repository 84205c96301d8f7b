"""Small statistics for fair league tables: Wilson intervals, a composite's interval, ranks."""

import math
from collections.abc import Sequence
from statistics import NormalDist


def z_of(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a share; None without observations."""
    if n <= 0:
        return None
    z = z_of(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def composite(
    parts: Sequence[tuple[float, float, float]], confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """Weighted mean of shares with a normal-approximation interval.

    ``parts`` are (weight, share, n) of the components that have data; weights are normalised
    over them. The variance is Σ (w/W)² p(1−p)/n, components taken as independent; a share of
    0 or 1 from few cases would claim no spread, so each p is first shrunk by the Agresti–Coull
    adjustment (two successes and two failures added) for the variance only.
    """
    usable = [(w, p, n) for w, p, n in parts if n > 0 and w > 0]
    if not usable:
        return None
    total_w = sum(w for w, _, _ in usable)
    value = sum(w * p for w, p, _ in usable) / total_w
    z = z_of(confidence)
    var = 0.0
    for w, p, n in usable:
        p_adj = (p * n + 2) / (n + 4)
        var += (w / total_w) ** 2 * p_adj * (1 - p_adj) / (n + 4)
    half = z * math.sqrt(var)
    return value, max(0.0, value - half), min(1.0, value + half)


def competition_ranks(scores: Sequence[float | None]) -> list[int | None]:
    """1224-style ranks, higher score first; None scores are not ranked. Scores compare rounded to
    4 decimals so that float noise does not split a tie."""
    rounded = [None if s is None else round(s, 4) for s in scores]
    ranked = [s for s in rounded if s is not None]
    return [None if s is None else 1 + sum(1 for o in ranked if o > s) for s in rounded]
