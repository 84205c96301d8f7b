"""Measures and dimensions over `daily_stats`, as SQL expressions with Russian titles.

Every measure merges the daily aggregates of migration 0003, so no report reads raw rows.
Shares are NULL (shown as "—") when their denominator is zero.
"""

from dataclasses import dataclass
from typing import Literal

Fmt = Literal["int", "share", "float", "hours"]


@dataclass(frozen=True)
class Measure:
    name: str
    sql: str
    title: str
    fmt: Fmt


def _share(num: str, den: str) -> str:
    return f"sum({num}) / nullIf(sum({den}), 0)"


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in [
        Measure("messages", "sum(messages)", "сообщений", "int"),
        Measure("cases", "sum(cases)", "обращений", "int"),
        Measure("problems", "uniqExactMerge(problems)", "проблем (кластеров)", "int"),
        Measure("registration_median_h", "quantilesTDigestMerge(0.5, 0.9)(registration_hours)[1]",
                "регистрация, медиана, раб. ч", "hours"),
        Measure("registration_p90_h", "quantilesTDigestMerge(0.5, 0.9)(registration_hours)[2]",
                "регистрация, p90, раб. ч", "hours"),
        Measure("first_response_median_h", "quantilesTDigestMerge(0.5, 0.9)(first_response_hours)[1]",
                "первый ответ, медиана, раб. ч", "hours"),
        Measure("first_response_p90_h", "quantilesTDigestMerge(0.5, 0.9)(first_response_hours)[2]",
                "первый ответ, p90, раб. ч", "hours"),
        Measure("resolution_median_h", "quantilesTDigestMerge(0.5, 0.9)(resolution_hours)[1]",
                "ответ по существу, медиана, раб. ч", "hours"),
        Measure("resolution_p90_h", "quantilesTDigestMerge(0.5, 0.9)(resolution_hours)[2]",
                "ответ по существу, p90, раб. ч", "hours"),
        Measure("answered_in_time_share", _share("answered_in_time", "with_deadline"), "доля в срок", "share"),
        Measure("overdue", "sum(overdue)", "просрочено", "int"),
        Measure("overdue_days", "sum(overdue_days)", "дней просрочки", "float"),
        Measure("resolved_share", _share("resolved", "cases"), "доля решённых", "share"),
        Measure("reopened_share", _share("reopened", "cases"), "доля переоткрытых", "share"),
        Measure("interim_only_share", _share("interim_only", "cases"), "доля только с промежуточным ответом",
                "share"),
        Measure("satisfaction_mean", _share("rating_sum", "rated"), "оценка жителей, среднее", "float"),
        Measure("satisfaction_good_share", _share("rating_good", "rated"), "доля оценок 4–5", "share"),
        Measure("rated", "sum(rated)", "оценок", "int"),
        Measure("repeated", "sum(repeated)", "повторных жалоб", "int"),
        Measure("repeated_share", _share("repeated", "complaints"), "доля повторных жалоб", "share"),
        Measure("open", "sum(open)", "открыто сейчас", "int"),
        Measure("open_overdue", "sum(open_overdue)", "открыто и просрочено сейчас", "int"),
    ]
}  # fmt: skip

DEFAULT_BREAKDOWN_MEASURES = [
    "messages", "cases", "answered_in_time_share", "overdue", "resolved_share", "satisfaction_mean",
]  # fmt: skip

# Dimensions: column expression over daily_stats and the Russian title.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "block": ("block", "блок"),
    "department": ("department", "подразделение"),
    "settlement": ("settlement", "поселение"),
    "level": ("level", "уровень"),
    "channel": ("channel", "канал"),
    "category": ("category", "категория"),
    "day": ("day", "день"),
    "week": ("toMonday(day)", "неделя"),
    "month": ("toStartOfMonth(day)", "месяц"),
    "year": ("toYear(day)", "год"),
}

# Dimensions daily_body_stats keeps: a breakdown along these alone reads the smaller table.
BODY_DIMENSIONS = {"block", "department", "settlement", "level", "day", "week", "month", "year"}


class UnknownName(ValueError):
    pass


def parse_list(text: str | None, known: dict[str, object], what: str, default: list[str]) -> list[str]:
    if not text:
        return list(default)
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in known]
    if bad:
        raise UnknownName(f"неизвестный {what}: {', '.join(bad)}; допустимы: {', '.join(known)}")
    return names
