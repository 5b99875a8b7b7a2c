"""Segments: rules over attributes, engagement and store data, compiled to one SQL condition.

A rule is a small tree (``All``, ``AnyOf``, ``Not`` over leaves such as ``BoughtProduct`` or
``OpenedWithin``) that serialises to JSON for storage and compiles to a ``WHERE`` fragment over
``outreach_subscribers s``, so a segment of a million subscribers is one query, not a loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dropkit.core.database import Database, Dialect
from dropkit.core.errors import IntegrityError, ValidationError
from dropkit.core.jsontext import dumps_strict
from dropkit.outreach.errors import OutreachNotFoundError
from dropkit.outreach.models import from_json, new_id

__all__ = [
    "All",
    "AnyOf",
    "AttributeEquals",
    "BoughtProduct",
    "InList",
    "NoOrderWithin",
    "Not",
    "OpenedWithin",
    "Rule",
    "Segment",
    "Segments",
    "SpentOver",
    "compile_rule",
    "rule_from_dict",
    "rule_to_dict",
]

_BOUGHT = "('paid', 'fulfilling', 'partially_shipped', 'shipped', 'delivered')"
_DAY = 86400.0


@dataclass(frozen=True)
class AttributeEquals:
    key: str
    value: str | int | float


@dataclass(frozen=True)
class InList:
    list_id: str


@dataclass(frozen=True)
class BoughtProduct:
    """Has a paid order with a line of this SKU or product."""

    sku: str | None = None
    product_id: str | None = None


@dataclass(frozen=True)
class SpentOver:
    """Paid orders in ``currency`` total more than ``amount``."""

    amount: Decimal
    currency: str


@dataclass(frozen=True)
class NoOrderWithin:
    """No paid (not cancelled, not refunded) order in the last ``days`` days."""

    days: int


@dataclass(frozen=True)
class OpenedWithin:
    """Opened (a human open) any message in the last ``days`` days."""

    days: int


@dataclass(frozen=True)
class All:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    rule: Rule


Rule = (
    AttributeEquals
    | InList
    | BoughtProduct
    | SpentOver
    | NoOrderWithin
    | OpenedWithin
    | All
    | AnyOf
    | Not
)

_LEAVES: dict[str, type[Any]] = {
    "attribute": AttributeEquals,
    "in_list": InList,
    "bought": BoughtProduct,
    "spent_over": SpentOver,
    "no_order_within": NoOrderWithin,
    "opened_within": OpenedWithin,
}
_NAMES = {cls: name for name, cls in _LEAVES.items()}


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    if isinstance(rule, All | AnyOf):
        return {
            "type": "all" if isinstance(rule, All) else "any",
            "rules": [rule_to_dict(r) for r in rule.rules],
        }
    if isinstance(rule, Not):
        return {"type": "not", "rule": rule_to_dict(rule.rule)}
    data = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(rule).items()}
    return {"type": _NAMES[type(rule)], **data}


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """Parse a stored rule; unknown types or fields raise :class:`ValidationError`."""
    try:
        kind = data["type"]
        if kind in ("all", "any"):
            parts = tuple(rule_from_dict(r) for r in data["rules"])
            return All(parts) if kind == "all" else AnyOf(parts)
        if kind == "not":
            return Not(rule_from_dict(data["rule"]))
        fields = {k: v for k, v in data.items() if k != "type"}
        if kind == "spent_over":
            fields["amount"] = Decimal(str(fields["amount"]))
        rule: Rule = _LEAVES[kind](**fields)
        return rule
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise ValidationError(f"invalid segment rule: {data!r}") from exc


def compile_rule(rule: Rule, dialect: Dialect, now: float) -> tuple[str, list[Any]]:
    """A SQL condition over ``outreach_subscribers s`` and its parameters, in order."""
    if isinstance(rule, All | AnyOf):
        if not rule.rules:
            return ("1=1" if isinstance(rule, All) else "1=0"), []
        joiner = " AND " if isinstance(rule, All) else " OR "
        parts = [compile_rule(r, dialect, now) for r in rule.rules]
        return "(" + joiner.join(p[0] for p in parts) + ")", [a for p in parts for a in p[1]]
    if isinstance(rule, Not):
        sql, args = compile_rule(rule.rule, dialect, now)
        return f"NOT ({sql})", args
    if isinstance(rule, AttributeEquals):
        if dialect == "postgres":
            return "(s.attributes ->> {}) = {}", [rule.key, str(rule.value)]
        return "CAST(json_extract(s.attributes, {}) AS TEXT) = {}", [
            f'$."{rule.key}"',
            str(rule.value),
        ]
    if isinstance(rule, InList):
        return (
            "EXISTS (SELECT 1 FROM outreach_memberships m"
            " WHERE m.subscriber_id = s.id AND m.list_id = {})",
            [rule.list_id],
        )
    if isinstance(rule, BoughtProduct):
        column, value = ("l.sku", rule.sku) if rule.sku else ("l.product_id", rule.product_id)
        return (
            "EXISTS (SELECT 1 FROM commerce_orders o JOIN commerce_order_lines l"
            f" ON l.order_id = o.id WHERE LOWER(o.email) = s.email AND o.status IN {_BOUGHT}"
            f" AND {column} = {{}})",
            [value],
        )
    if isinstance(rule, SpentOver):
        return (
            "(SELECT COALESCE(SUM(CAST(o.total_amount AS NUMERIC)), 0) FROM commerce_orders o"
            f" WHERE LOWER(o.email) = s.email AND o.status IN {_BOUGHT} AND o.currency = {{}})"
            " > CAST({} AS NUMERIC)",
            [rule.currency, str(rule.amount)],
        )
    if isinstance(rule, NoOrderWithin):
        return (
            "NOT EXISTS (SELECT 1 FROM commerce_orders o WHERE LOWER(o.email) = s.email"
            f" AND o.status IN {_BOUGHT} AND o.placed_at >= {{}})",
            [now - rule.days * _DAY],
        )
    return (
        "EXISTS (SELECT 1 FROM outreach_events e WHERE e.subscriber_id = s.id"
        " AND e.kind = 'open' AND e.machine = {} AND e.created_at >= {})",
        [False, now - rule.days * _DAY],
    )


@dataclass(frozen=True)
class Segment:
    id: str
    name: str
    rule: Rule


class Segments:
    """Stored, named rules; evaluated in SQL whenever they are used."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = database
        self._clock = clock

    async def create(self, name: str, rule: Rule) -> Segment:
        segment = Segment(new_id("seg"), name, rule)
        compile_rule(rule, self._db.dialect, 0.0)  # refuse a malformed rule before writing
        try:
            await self._db.execute(
                "INSERT INTO outreach_segments (id, name, rule, created_at)"
                " VALUES ({}, {}, {}, {})",
                segment.id,
                name,
                dumps_strict(rule_to_dict(rule)),
                self._clock(),
            )
        except IntegrityError as exc:
            raise ValidationError(f"a segment named {name!r} exists") from exc
        return segment

    async def get(self, segment_id: str) -> Segment:
        row = await self._db.fetchrow("SELECT * FROM outreach_segments WHERE id = {}", segment_id)
        if row is None:
            raise OutreachNotFoundError(f"no segment {segment_id!r}")
        return Segment(row["id"], row["name"], rule_from_dict(from_json(row["rule"])))

    async def condition(self, segment_ids: Sequence[str]) -> tuple[str, list[Any]]:
        """The OR of the segments' conditions (``1=0`` for none)."""
        rules = [(await self.get(sid)).rule for sid in segment_ids]
        return compile_rule(AnyOf(tuple(rules)), self._db.dialect, self._clock())

    async def members(self, rule: Rule) -> list[str]:
        """The active subscribers' addresses a rule selects, sorted."""
        sql, args = compile_rule(rule, self._db.dialect, self._clock())
        rows = await self._db.fetch(
            f"SELECT s.email FROM outreach_subscribers s WHERE s.status = 'active' AND {sql}"
            " ORDER BY s.email",
            *args,
        )
        return [row["email"] for row in rows]
