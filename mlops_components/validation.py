"""Input validation shared by every component and the stack config.

Components validate at construction, collect every problem and raise once, so a user fixes
all of them in one round (the AWS CDK habit). A message names the component, the field, the
bad value and what is allowed: ``ModelRegistry 'churn': reader_account_ids[0] must be a
12-digit AWS account ID (got '1234')``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

#: Longest model name MlopsStack accepts: its bucket is auto-named
#: "<model>-data-bucket-<7 chars>", and S3 names stop at 63 characters.
MAX_MODEL_NAME_LENGTH = 43
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
#: SageMaker resource names (model package group, pipeline): alphanumerics and hyphens.
SAGEMAKER_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
SECURITY_GROUP_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
KMS_KEY_ONLY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
#: Retraining cooldown: an hour by default (one incident, one retrain), a week at most.
DEFAULT_COOLDOWN_SECONDS = 3600
MAX_COOLDOWN_SECONDS = 7 * 86400
KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$")


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
