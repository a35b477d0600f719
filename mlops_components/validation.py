"""Input validation shared by every component and the stack config.

Components validate at construction, collect every problem and raise once, so a user fixes
all of them in one round (the AWS CDK habit). A message names the component, the field, the
bad value and what is allowed: ``ModelRegistry 'churn': reader_account_ids[0] must be a
12-digit AWS account ID (got '1234')``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from training.contract import NON_NEGATIVE_METRICS, UNIT_INTERVAL_METRICS

#: Longest model name MlopsStack accepts. Every child's physical name is "<model>-<role>",
#: plus "-<7 chars>" where Pulumi auto-names it, and the tightest AWS limits are 63-64
#: characters (S3 buckets, IAM roles, EventBridge rules, SageMaker endpoints and models).
#: 43 let the pipeline's role "<model>-training-role-<7>" reach 65 (IAM allows 64). 32 leaves
#: a 31-character suffix budget: today's longest suffix is "-training-role-<7>" (22), and the
#: endpoint, monitoring and retraining children ("-endpoint-deployer-role-<7>", 31) must fit
#: too; a limit raised after users pick names cannot be lowered without breaking them.
#: tests/unit/test_name_limits.py checks every name at this length against AWS's limits.
MAX_MODEL_NAME_LENGTH = 32
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
#: SageMaker resource names (model package group, pipeline): alphanumerics and hyphens.
SAGEMAKER_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
#: A Lambda function ARN (the pipelines' Lambda steps name their function by it).
LAMBDA_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d:\d{12}:function:[A-Za-z0-9_-]{1,64}$")
INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
SECURITY_GROUP_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
MODEL_PACKAGE_GROUP_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package-group/"
    r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
#: An S3 bucket name (S3's naming rules: 3-63 lowercase letters, digits, dots, hyphens).
BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
KMS_KEY_ONLY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
#: Retraining cooldown: an hour by default (one incident, one retrain), a week at most.
DEFAULT_COOLDOWN_SECONDS = 3600
MAX_COOLDOWN_SECONDS = 7 * 86400
KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$")

#: Most instances one SageMaker processing job may run on (its ClusterConfig limit).
MAX_PROCESSING_INSTANCE_COUNT = 100


class ValidationError(ValueError):
    """One or more invalid inputs; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def is_known(value: Any) -> bool:
    """True for a plain value that can be checked now (not an Output or other awaitable).

    Duck-typed (a Pulumi Output has ``apply`` and ``future``) so that this module, which the
    SageMaker side imports, needs no Pulumi.
    """
    is_output = hasattr(value, "apply") and hasattr(value, "future")
    return not is_output and not hasattr(value, "__await__")


class Problems:
    """Collects validation problems for one component instance and raises them together."""

    def __init__(self, owner: str):
        self.owner = owner
        self.problems: list[str] = []

    def add(self, field: str, message: str, value: Any) -> None:
        self.problems.append(f"{self.owner}: {field} {message} (got {value!r})")

    def check(self, ok: bool, field: str, message: str, value: Any) -> None:
        if not ok:
            self.add(field, message, value)

    def at_least(self, field: str, value: Any, minimum: float) -> None:
        if is_known(value) and value is not None:
            self.check(_is_number(value) and value >= minimum, field, f"must be >= {minimum}",
                       value)

    def between(self, field: str, value: Any, low: float, high: float) -> None:
        if is_known(value) and value is not None:
            ok = _is_number(value) and low <= value <= high
            self.check(ok, field, f"must be between {low} and {high}", value)

    def matches(self, field: str, value: Any, pattern: re.Pattern[str], allowed: str) -> None:
        if is_known(value) and value is not None:
            self.check(isinstance(value, str) and bool(pattern.match(value)), field,
                       f"must be {allowed}", value)

    def account_ids(self, field: str, values: Iterable[Any] | None) -> None:
        if values is None or not is_known(values):
            return
        for index, account_id in enumerate(values):
            self.matches(f"{field}[{index}]", account_id, ACCOUNT_ID_RE,
                         "a 12-digit AWS account ID")

    def one_of(self, field: str, value: Any, enum: type[Enum]) -> Any:
        """Coerce ``value`` into ``enum`` or record a problem listing the allowed values."""
        if isinstance(value, enum) or not is_known(value):
            return value
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(repr(member.value) for member in enum)
            self.add(field, f"must be one of {allowed}", value)
            return value

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationError(self.problems)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- rules shared by the stack config, the pipeline spec and the CLI's flags ------------------


def threshold_problem(threshold: Any, metric: str | None) -> str | None:
    """Why ``threshold`` cannot be the gate threshold of ``metric``, or None when it can.

    Finite, and inside the metric's range (``metric`` None: finiteness only).
    """
    if not _is_number(threshold) or not math.isfinite(threshold):
        return "must be a finite number"
    if metric in UNIT_INTERVAL_METRICS and not 0.0 <= threshold <= 1.0:
        return "must be between 0.0 and 1.0"
    if metric in NON_NEGATIVE_METRICS and threshold < 0.0:
        return "must be >= 0.0"
    if metric == "r2" and threshold > 1.0:
        return "must be <= 1.0 for r2"
    return None


def instance_count_problem(count: Any) -> str | None:
    """Why ``count`` cannot be a processing job's instance count, or None when it can."""
    if not isinstance(count, int) or isinstance(count, bool) \
            or not 1 <= count <= MAX_PROCESSING_INSTANCE_COUNT:
        return f"must be an integer >= 1 and <= {MAX_PROCESSING_INSTANCE_COUNT}"
    return None


_RATE_RE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON_RE = re.compile(r"^cron\(([^()]+)\)$")
_CRON_FIELD_RE = re.compile(r"^[0-9A-Za-z*?,/#L-]+$")
RATE_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_problem(expression: Any) -> str | None:
    """Why ``expression`` is not an EventBridge schedule expression; None when it is one.

    ``rate(<n> <unit>)``: n >= 1, unit minute/hour/day, singular exactly when n is 1.
    ``cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)``: six fields, and
    one of day-of-month and day-of-week is ``?`` (EventBridge cannot take both).
    """
    allowed = ("must be rate(<n> minute(s)|hour(s)|day(s)) or cron(<6 fields>), "
               "e.g. 'rate(1 day)' or 'cron(0 3 * * ? *)'")
    if not isinstance(expression, str):
        return allowed
    rate = _RATE_RE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            return "must be a rate of at least 1"
        if (value == 1) != (not unit.endswith("s")):
            singular = unit.rstrip("s")
            return f"must say '{value} {singular if value == 1 else singular + 's'}'"
        return None
    cron = _CRON_RE.match(expression)
    if not cron:
        return allowed
    fields = cron.group(1).split()
    if len(fields) != 6 or not all(_CRON_FIELD_RE.match(part) for part in fields):
        return "must have 6 cron fields: minutes hours day-of-month month day-of-week year"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "must have '?' in exactly one of day-of-month and day-of-week"
    return None


def rate_seconds(expression: str) -> int | None:
    """The period of a ``rate(...)`` expression in seconds; None for a cron expression."""
    rate = _RATE_RE.match(expression)
    if not rate:
        return None
    return int(rate.group(1)) * RATE_UNIT_SECONDS[rate.group(2).rstrip("s")]


#: AWS's pricing month: 730 hours (a 365-day year over 12), what "a month" means in estimates.
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
_WEEKDAYS = {name: index for index, name in
             enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_MONTHS = {name: index for index, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    start=1)}


def runs_per_month(expression: str) -> float:
    """How many times a valid schedule expression fires in an average month.

    ``rate(...)``: the month divided by the period. ``cron(...)``: the firings of the minute,
    hour, day-of-month, month and day-of-week fields counted over a 365-day year, divided by
    12 (any year field is taken as every year). ``L``, ``W`` and ``#`` (last day, nearest
    weekday, n-th weekday) count as one day a month.
    """
    seconds = rate_seconds(expression)
    if seconds is not None:
        return DAYS_PER_MONTH * 86400 / seconds
    cron = _CRON_RE.match(expression)
    if not cron:
        raise ValueError(f"not a schedule expression: {expression!r}")
    minutes, hours, day_of_month, month, day_of_week, _year = cron.group(1).split()
    per_day = len(_cron_values(minutes, 0, 59)) * len(_cron_values(hours, 0, 23))
    months = _cron_values(month, 1, 12, _MONTHS)
    special = any(mark in part for part in (day_of_month, day_of_week) for mark in "LW#")
    if special:
        return per_day * len(months) / 12
    if day_of_month == "?":
        weekdays = _cron_values(day_of_week, 1, 7, _WEEKDAYS)
        days_a_year = 365 * len(weekdays) / 7 * len(months) / 12
    else:
        days = _cron_values(day_of_month, 1, 31)
        days_a_year = sum(1 for m in months for d in days if d <= _MONTH_DAYS[m - 1])
    return per_day * days_a_year / 12


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _cron_values(field: str, low: int, high: int,
                 names: Mapping[str, int] | None = None) -> set[int]:
    """The values one cron field selects: ``*``, ``?``, lists, ranges, steps and names."""
    values: set[int] = set()
    for part in field.upper().split(","):
        part, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if part in ("*", "?", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _cron_value(first, names), _cron_value(last, names)
        else:
            start = _cron_value(part, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return {value for value in values if low <= value <= high}


def _cron_value(text: str, names: Mapping[str, int] | None) -> int:
    return (names or {}).get(text) or int(text)


def is_int(value: Any) -> bool:
    """An int that is not a bool (True is an int to Python, never a count to us)."""
    return isinstance(value, int) and not isinstance(value, bool)
