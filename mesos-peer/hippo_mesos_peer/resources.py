"""Resource arithmetic for agents, offers and tasks.

Scalars are kept in thousandths, as Mesos rounds scalar values to three
decimals, so ``0.1 + 0.2`` cpus fit an offer of ``0.3``. Ranges (ports) are
merged, compared and subtracted as sets of integers. Only unreserved resources
exist in the peer's cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hippo_mesos_peer.rules import fixed_point

Range = tuple[int, int]


def _milli(value: float) -> int:
    return fixed_point(value)


def _merge(ranges: list[Range]) -> tuple[Range, ...]:
    merged: list[list[int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((begin, end) for begin, end in merged)


def _ranges_contain(outer: tuple[Range, ...], inner: tuple[Range, ...]) -> bool:
    return all(any(b >= ob and e <= oe for ob, oe in outer) for b, e in inner)


def _ranges_subtract(outer: tuple[Range, ...], inner: tuple[Range, ...]) -> tuple[Range, ...]:
    result = list(outer)
    for cut_begin, cut_end in inner:
        pieces: list[Range] = []
        for begin, end in result:
            if cut_end < begin or cut_begin > end:
                pieces.append((begin, end))
                continue
            if begin < cut_begin:
                pieces.append((begin, cut_begin - 1))
            if end > cut_end:
                pieces.append((cut_end + 1, end))
        result = pieces
    return _merge(result)


@dataclass(frozen=True)
class Resources:
    """An immutable bag of scalar, range and set resources."""

    scalars: dict[str, int] = field(default_factory=dict)
    ranges: dict[str, tuple[Range, ...]] = field(default_factory=dict)
    sets: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, cpus: float, mem: float, disk: float, ports: tuple[Range, ...] = ()) -> Resources:
        scalars = {
            name: _milli(value) for name, value in (("cpus", cpus), ("mem", mem), ("disk", disk)) if value > 0
        }
        return cls(scalars, {"ports": _merge(list(ports))} if ports else {})

    @classmethod
    def from_json(cls, items: list[dict[str, Any]]) -> Resources:
        """From ``Resource`` messages that passed ``rules.resources_error``."""
        total = cls()
        for item in items:
            name = item["name"]
            if item["type"] == "SCALAR":
                total = total + cls({name: _milli(item["scalar"]["value"])})
            elif item["type"] == "RANGES":
                spans = [(r["begin"], r["end"]) for r in item.get("ranges", {}).get("range", [])]
                total = total + cls(ranges={name: _merge(spans)})
            elif item["type"] == "SET":
                total = total + cls(sets={name: frozenset(item.get("set", {}).get("item", []))})
        return total

    def __add__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for name, value in other.scalars.items():
            scalars[name] = scalars.get(name, 0) + value
        ranges = dict(self.ranges)
        for name, spans in other.ranges.items():
            ranges[name] = _merge(list(ranges.get(name, ())) + list(spans))
        sets = dict(self.sets)
        for name, items in other.sets.items():
            sets[name] = sets.get(name, frozenset()) | items
        return Resources(scalars, ranges, sets)

    def __sub__(self, other: Resources) -> Resources:
        scalars = {
            name: value - other.scalars.get(name, 0)
            for name, value in self.scalars.items()
            if value - other.scalars.get(name, 0) > 0
        }
        ranges = {}
        for name, spans in self.ranges.items():
            left = _ranges_subtract(spans, other.ranges.get(name, ()))
            if left:
                ranges[name] = left
        sets = {
            name: items - other.sets.get(name, frozenset())
            for name, items in self.sets.items()
            if items - other.sets.get(name, frozenset())
        }
        return Resources(scalars, ranges, sets)

    def contains(self, other: Resources) -> bool:
        return (
            all(self.scalars.get(n, 0) >= v for n, v in other.scalars.items())
            and all(_ranges_contain(self.ranges.get(n, ()), s) for n, s in other.ranges.items())
            and all(items <= self.sets.get(n, frozenset()) for n, items in other.sets.items())
        )

    def is_empty(self) -> bool:
        return not (self.scalars or self.ranges or self.sets)

    def scalar(self, name: str) -> float:
        return self.scalars.get(name, 0) / 1000

    def allocatable(self) -> bool:
        """Mesos' default ``--min_allocatable_resources``: cpus:0.01 | mem:32."""
        return self.scalars.get("cpus", 0) >= 10 or self.scalars.get("mem", 0) >= 32_000

    def to_json(self, *, allocation_role: str | None, legacy_role: bool) -> list[dict[str, Any]]:
        """``Resource`` messages as the master puts them in an offer.

        ``allocation_role`` is set for MULTI_ROLE frameworks only; ``legacy_role``
        adds the pre-reservation-refinement ``"role": "*"``.
        """
        items: list[dict[str, Any]] = []
        for name in sorted(self.scalars):
            items.append({"name": name, "type": "SCALAR", "scalar": {"value": self.scalar(name)}})
        for name in sorted(self.ranges):
            spans = [{"begin": b, "end": e} for b, e in self.ranges[name]]
            items.append({"name": name, "type": "RANGES", "ranges": {"range": spans}})
        for name in sorted(self.sets):
            items.append({"name": name, "type": "SET", "set": {"item": sorted(self.sets[name])}})
        for item in items:
            if legacy_role:
                item["role"] = "*"
            if allocation_role is not None:
                item["allocation_info"] = {"role": allocation_role}
        return items

    def __str__(self) -> str:
        parts = [f"{n}:{self.scalar(n):g}" for n in sorted(self.scalars)]
        parts += [f"{n}:[{','.join(f'{b}-{e}' for b, e in self.ranges[n])}]" for n in sorted(self.ranges)]
        parts += [f"{n}:{{{','.join(sorted(self.sets[n]))}}}" for n in sorted(self.sets)]
        return "; ".join(parts) if parts else "{}"


def foreign_to(items: list[dict[str, Any]], role: str) -> bool:
    """True when some resource is reserved, or allocated to a role other than ``role``.

    Offers in the peer hold only unreserved resources allocated to one role, so
    such a task can never fit.
    """
    for item in items:
        if item.get("role", "*") != "*" or item.get("reservations") or "reservation" in item:
            return True
        allocated = item.get("allocation_info", {}).get("role")
        if allocated is not None and allocated != role:
            return True
    return False
