"""Marathon placement constraints: parse them, and check an offer against them.

A constraint is ``[field, operator]`` or ``[field, operator, value]``. ``field`` is
``hostname`` (also spelled ``@hostname``) or the name of an agent attribute, whose
value Hippo compares as the text the backend rendered (``Offer.attributes``). The
operator is matched case-insensitively and stored upper-case.

=========  ==================  =================================================
operator   value               an offer is acceptable for one more task when
=========  ==================  =================================================
UNIQUE     none                no task of the group runs on the offer's value
CLUSTER    optional text       the offer's value equals the given one; without a
                               value, equals the value of the group's first placed
                               task (any value while nothing is placed)
GROUP_BY   optional integer N  the offer's value runs no task of the group yet, or
                               runs the fewest of all values seen and at least N
                               distinct values are already in use
LIKE       regular expression  the offer's value fully matches the expression
UNLIKE     regular expression  the offer's value does not fully match it
MAX_PER    integer N >= 1      fewer than N tasks of the group run on the value
IS         text                the offer's value is exactly the given one
EQUAL      text                the same as IS (an older spelling)
=========  ==================  =================================================

As in Marathon, an offer lacking the attribute is refused by every operator except
UNLIKE, which accepts it. Regular expressions use Python's ``re`` syntax (close to
Java's for ordinary patterns) and must match the whole value, so ``rack-[1-3]``
does not match ``rack-10``.

One deliberate difference from Marathon: GROUP_BY ignores placed tasks whose agent
lacks the attribute (Marathon counts them as a group of their own, which can stop a
group from ever growing once a constraint is added to a running queue).

"The group" is the set of active tasks of one queue or one task family;
``placed`` lists where they run, in launch order (CLUSTER without a value follows
the first one).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any

from hippo_core.backend import Offer

HOSTNAME_FIELDS = frozenset({"hostname", "@hostname"})


class Operator(StrEnum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"
    IS = "IS"
    EQUAL = "EQUAL"


class Takes(StrEnum):
    """What an operator takes as its value (the third item)."""

    NOTHING = "nothing"
    OPTIONAL_TEXT = "optional text"
    OPTIONAL_COUNT = "optional count"
    REGEX = "regex"
    COUNT = "count"
    TEXT = "text"


# The value column of the table above; the parser and the JSON schema both follow it.
TAKES: dict[Operator, Takes] = {
    Operator.UNIQUE: Takes.NOTHING,
    Operator.CLUSTER: Takes.OPTIONAL_TEXT,
    Operator.GROUP_BY: Takes.OPTIONAL_COUNT,
    Operator.LIKE: Takes.REGEX,
    Operator.UNLIKE: Takes.REGEX,
    Operator.MAX_PER: Takes.COUNT,
    Operator.IS: Takes.TEXT,
    Operator.EQUAL: Takes.TEXT,
}
_COUNT_PATTERN = re.compile(r"[0-9]+")
_OPERATOR_NAMES = ", ".join(op.value for op in Operator)
# Longest field, operator or value the task schema lets through.
MAX_TEXT = 1000


class ConstraintError(ValueError):
    """A constraint is malformed. ``index`` is its position, ``None`` for the list itself."""

    def __init__(self, index: int | None, message: str) -> None:
        self.index = index
        self.message = message
        super().__init__(f"{self.path}: {message}")

    @property
    def path(self) -> str:
        return "constraints" if self.index is None else f"constraints/{self.index}"


@dataclass(frozen=True)
class Constraint:
    """One valid constraint; building one with a bad operator or value raises ValueError."""

    field: str
    operator: Operator
    value: str | None = None
    pattern: re.Pattern[str] | None = dataclass_field(default=None, init=False, compare=False, repr=False)
    count: int | None = dataclass_field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field:
            raise ValueError("field must be a non-empty string: 'hostname' or an agent attribute name")
        operator = _operator(self.operator)
        # Frozen: normalised values go in through object.__setattr__, once, here.
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "value", _checked_value(operator, self.value))
        if TAKES[operator] is Takes.REGEX:
            object.__setattr__(self, "pattern", _compiled(operator, self.value))
        elif operator in (Operator.MAX_PER, Operator.GROUP_BY) and self.value is not None:
            object.__setattr__(self, "count", int(self.value))

    def to_json(self) -> list[str]:
        """The ``[field, operator, value?]`` form, as stored and shown by the API."""
        head = [self.field, self.operator.value]
        return head if self.value is None else [*head, self.value]

    def __str__(self) -> str:
        return " ".join(self.to_json())


def _operator(raw: Any) -> Operator:
    if isinstance(raw, Operator):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"operator must be a string, one of {_OPERATOR_NAMES}")
    try:
        return Operator(raw.upper())
    except ValueError:
        close = difflib.get_close_matches(raw.upper(), [op.value for op in Operator], n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ValueError(f"unknown operator {raw!r}; {hint}operators: {_OPERATOR_NAMES}") from None


def _checked_value(operator: Operator, value: Any) -> str | None:
    """The value ``operator`` accepts, with ``None`` and ``""`` both meaning "no value"."""
    if value is not None and not isinstance(value, str):
        hint = ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            hint = f'; write it in quotes, e.g. "{value}"'
        raise ValueError(f"value must be a string, got {type(value).__name__} {value!r}{hint}")
    value = value or None
    takes = TAKES[operator]
    if takes is Takes.NOTHING:
        if value is not None:
            raise ValueError(f"{operator} takes no value; remove {value!r}")
    elif takes is Takes.OPTIONAL_COUNT:
        if value is not None and not _is_count(value):
            raise ValueError(
                f"{operator} value must be a positive integer (how many distinct values to "
                f"spread over), or left out; got {value!r}"
            )
    elif takes is Takes.COUNT:
        if value is None or not _is_count(value):
            raise ValueError(
                f"{operator} needs a positive integer value (the most tasks of the group per "
                f'value), e.g. ["rack", "{operator}", "2"]; got {value!r}'
            )
    elif takes is Takes.REGEX:
        if value is None:
            raise ValueError(
                f'{operator} needs a regular expression value, e.g. ["rack", "{operator}", "rack-[1-3]"]'
            )
    elif takes is Takes.TEXT and value is None:
        raise ValueError(f'{operator} needs the exact value to match, e.g. ["rack", "{operator}", "rack-1"]')
    return value


def _is_count(value: str) -> bool:
    return _COUNT_PATTERN.fullmatch(value) is not None and int(value) > 0


def _compiled(operator: Operator, expression: str | None) -> re.Pattern[str]:
    assert expression is not None  # _checked_value insists on one for LIKE and UNLIKE
    try:
        return re.compile(expression)
    except (re.error, OverflowError, RecursionError) as exc:
        # OverflowError: a repetition count past what re supports (a{99999999999}).
        raise ValueError(f"{operator} value {expression!r} is not a valid regular expression: {exc}") from exc


# A positive integer as the parser reads it: ASCII digits, leading zeros allowed.
_COUNT_REGEX = "[0-9]*[1-9][0-9]*"


def _value_schema(takes: Takes) -> dict[str, Any]:
    text: dict[str, Any] = {"type": "string", "maxLength": MAX_TEXT}
    if takes is Takes.NOTHING:
        return {"const": "", "description": "No value; the item may be left out."}
    if takes is Takes.OPTIONAL_TEXT:
        return {
            **text,
            "description": "The value every task of the group runs on; empty or left out: "
            "the value of the group's first placed task.",
        }
    if takes is Takes.OPTIONAL_COUNT:
        return {
            **text,
            "pattern": f"^(?:{_COUNT_REGEX})?$",
            "description": "How many distinct values to spread over (a positive integer), or empty.",
        }
    if takes is Takes.COUNT:
        return {
            **text,
            "pattern": f"^{_COUNT_REGEX}$",
            "description": "The most tasks of the group per value.",
        }
    if takes is Takes.REGEX:
        return {
            **text,
            "minLength": 1,
            "format": "regex",
            "description": "A regular expression in Python's re syntax, matched against the whole value.",
        }
    return {**text, "minLength": 1, "description": "The exact value to match."}


def json_schema() -> dict[str, Any]:
    """The JSON schema of one constraint: what :func:`constraint_problems` accepts, operator
    by operator, with each operator spelled as it is stored (the parser takes any case).

    A ``[field, operator, value]`` tuple (``prefixItems``), one branch per operator, so a
    client or a generator of test data knows which value each operator takes.
    """
    field = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_TEXT,
        "description": "hostname (or @hostname), or the name of an agent attribute.",
    }
    branches = []
    for operator, takes in TAKES.items():
        optional = takes in (Takes.NOTHING, Takes.OPTIONAL_TEXT, Takes.OPTIONAL_COUNT)
        branches.append(
            {
                "title": f"{operator}: {takes}",
                "prefixItems": [field, {"const": operator.value}, _value_schema(takes)],
                "minItems": 2 if optional else 3,
            }
        )
    return {
        "type": "array",
        "minItems": 2,
        "maxItems": 3,
        "anyOf": branches,
        "description": "[field, operator, value?]; operators match in any case, stored upper-case.",
    }


def constraint_problems(raw: Any) -> list[ConstraintError]:
    """Every problem in ``raw`` (a JSON list of constraints), without raising."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        return [
            ConstraintError(
                None,
                f"constraints must be a list of [field, operator, value?] lists, got {type(raw).__name__}",
            )
        ]
    problems = []
    for index, item in enumerate(raw):
        try:
            _one(item)
        except ValueError as exc:
            problems.append(ConstraintError(index, str(exc)))
    return problems


def parse_constraints(raw: Any) -> list[Constraint]:
    """Constraints from their JSON form; raises ConstraintError for the first bad one."""
    problems = constraint_problems(raw)
    if problems:
        raise problems[0]
    return [_one(item) for item in raw or ()]


def _one(item: Any) -> Constraint:
    if not isinstance(item, list | tuple):
        raise ValueError(
            "a constraint must be a list [field, operator] or [field, operator, value], "
            f"got {type(item).__name__} {item!r}"
        )
    if not 2 <= len(item) <= 3:
        raise ValueError(f"a constraint must have 2 or 3 items [field, operator, value?], got {len(item)}")
    return Constraint(*item)


@dataclass(frozen=True)
class Placement:
    """Where one task of a group runs: its agent's hostname and attributes."""

    hostname: str
    attributes: Mapping[str, str] = dataclass_field(default_factory=dict)

    @classmethod
    def on(cls, offer: Offer) -> Placement:
        return cls(offer.hostname, offer.attributes)

    def value(self, name: str) -> str | None:
        return self.hostname if name in HOSTNAME_FIELDS else self.attributes.get(name)


class PlacedIndex:
    """A group's placed tasks, counted per value of each field a constraint asks about.

    Counts are built on first use of a field and kept current by ``add``, so checking
    a constraint costs about the same however many tasks the group runs.
    """

    def __init__(self, placed: Iterable[Placement] = ()) -> None:
        self._placed = list(placed)
        self._counts: dict[str, Counter[str]] = {}
        self._fewest: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._placed)

    @property
    def first(self) -> Placement | None:
        return self._placed[0] if self._placed else None

    def add(self, placement: Placement) -> None:
        self._placed.append(placement)
        for name, counts in self._counts.items():
            value = placement.value(name)
            if value is not None:
                counts[value] += 1
        self._fewest.clear()

    def counts(self, name: str) -> Counter[str]:
        """Tasks per value of ``name``; tasks whose agent lacks it are not counted."""
        counts = self._counts.get(name)
        if counts is None:
            values = (p.value(name) for p in self._placed)
            counts = self._counts[name] = Counter(v for v in values if v is not None)
        return counts

    def fewest(self, name: str) -> int:
        """Tasks on the least used value of ``name`` (0 when none is used)."""
        if name not in self._fewest:
            self._fewest[name] = min(self.counts(name).values(), default=0)
        return self._fewest[name]


def offer_value(name: str, offer: Offer) -> str | None:
    return offer.hostname if name in HOSTNAME_FIELDS else offer.attributes.get(name)


def unmet(constraint: Constraint, offer: Offer, placed: PlacedIndex) -> str | None:
    """Why ``offer`` cannot take one more task of the group under ``constraint``, or None."""
    op = constraint.operator
    value = offer_value(constraint.field, offer)
    if value is None:
        if op is Operator.UNLIKE:
            return None
        return f"agent {offer.hostname} has no attribute {constraint.field} ({constraint})"
    where = f"{constraint.field} {value}"
    if op is Operator.UNIQUE:
        if placed.counts(constraint.field)[value]:
            return f"{where} already runs a task of this group (UNIQUE)"
    elif op is Operator.CLUSTER:
        return _unmet_cluster(constraint, value, placed)
    elif op is Operator.GROUP_BY:
        return _unmet_group_by(constraint, value, placed)
    elif op is Operator.LIKE:
        assert constraint.pattern is not None
        if not constraint.pattern.fullmatch(value):
            return f"{where} does not match {constraint.value} (LIKE)"
    elif op is Operator.UNLIKE:
        assert constraint.pattern is not None
        if constraint.pattern.fullmatch(value):
            return f"{where} matches {constraint.value} (UNLIKE)"
    elif op is Operator.MAX_PER:
        running = placed.counts(constraint.field)[value]
        if constraint.count is not None and running >= constraint.count:
            limit = constraint.count
            return f"{where} already runs {running} tasks of this group (MAX_PER {limit})"
    elif value != constraint.value:  # IS and EQUAL
        return f"{where} is not {constraint.value} ({op})"
    return None


def _unmet_cluster(constraint: Constraint, value: str, placed: PlacedIndex) -> str | None:
    name = constraint.field
    if constraint.value is not None:
        if value != constraint.value:
            return f"{name} {value} is not {constraint.value} (CLUSTER)"
        return None
    first = placed.first
    if first is None:
        return None
    target = first.value(name)
    if target is None:
        return f"the group's first task runs on an agent without {name}; none can join it (CLUSTER)"
    if value != target:
        return f"this group runs on {name} {target}, not {value} (CLUSTER)"
    return None


def _unmet_group_by(constraint: Constraint, value: str, placed: PlacedIndex) -> str | None:
    name = constraint.field
    counts = placed.counts(name)
    running = counts[value]
    if not running:
        return None
    wanted = constraint.count or 0
    if len(counts) < wanted:
        return (
            f"{name} {value} already runs a task of this group and only {len(counts)} of "
            f"{wanted} {name} values are in use; waiting for another (GROUP_BY {wanted})"
        )
    fewest = placed.fewest(name)
    if running > fewest:
        return f"{name} {value} runs {running} tasks of this group, another value runs {fewest} (GROUP_BY)"
    return None


def first_unmet(
    constraints: Sequence[Constraint], offer: Offer, placed: PlacedIndex
) -> tuple[Constraint, str] | None:
    """The first constraint ``offer`` fails and why, or None when it meets them all."""
    for constraint in constraints:
        reason = unmet(constraint, offer, placed)
        if reason is not None:
            return constraint, reason
    return None


def meets(constraints: Sequence[Constraint], offer: Offer, placed: Iterable[Placement]) -> str | None:
    """None if ``offer`` may take one more task of the group, else a short reason."""
    failed = first_unmet(constraints, offer, PlacedIndex(placed))
    return None if failed is None else failed[1]
