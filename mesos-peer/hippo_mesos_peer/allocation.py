"""Offers: the allocation cycle, filters, DECLINE, SUPPRESS, REVIVE and rescinding.

Like the hierarchical allocator, each cycle hands the whole unallocated part of
an agent to one framework (the one with the smallest dominant share first),
in one OFFERS event per framework. An offer's resources stay allocated to the
framework until it accepts, declines, or the offer is rescinded. Declined (and
accepted-but-unused) resources are filtered for ``refuse_seconds`` (default 5,
capped at 365 days; 0 sets no filter): the agent is not offered again to that
framework and role while what it has free is no more than what was refused.
"""

from __future__ import annotations

import math
import time
from typing import Any

from hippo_mesos_peer.cluster import REGISTERED, AgentRecord, OfferFilter, OfferRecord
from hippo_mesos_peer.frameworks import SimFramework, _role_error
from hippo_mesos_peer.protocol import event_offers, event_rescind
from hippo_mesos_peer.resources import Resources

DEFAULT_REFUSE_SECONDS = 5.0
MAX_REFUSE_SECONDS = 365 * 24 * 3600.0


def refuse_seconds(filters: dict[str, Any] | None) -> float:
    value = (filters or {}).get("refuse_seconds", DEFAULT_REFUSE_SECONDS)
    if not math.isfinite(value) or value < 0:
        # The allocator falls back to the default for invalid or negative values.
        return DEFAULT_REFUSE_SECONDS
    return min(value, MAX_REFUSE_SECONDS)


class AllocationMixin:
    def _allocation_tick(self) -> None:
        self._allocate()
        self._allocation_timer = self.clock.call_later(self.allocation_interval, self._allocation_tick)

    def _allocate_soon(self) -> None:
        self.clock.call_later(0.0, self._allocate)

    def _offer_roles(self, framework: SimFramework) -> list[str]:
        return [r for r in framework.roles if r not in framework.suppressed_roles]

    def _filtered(self, framework_id: str, role: str, agent: AgentRecord, free: Resources) -> bool:
        now = time.monotonic()
        key = (framework_id, role, agent.agent_id)
        live = [f for f in self.filters.get(key, []) if f.expires > now]
        if live:
            self.filters[key] = live
        else:
            self.filters.pop(key, None)
        return any(f.refused.contains(free) for f in live)

    def _share(self, framework: SimFramework, totals: Resources) -> float:
        held = self._framework_used.get(framework.framework_id, Resources())
        for offer_id in framework.offer_ids:
            held = held + self.offers[offer_id].resources
        shares = [
            held.scalar(name) / totals.scalar(name)
            for name in ("cpus", "mem", "disk")
            if totals.scalar(name) > 0
        ]
        return max(shares, default=0.0)

    def _allocate(self) -> None:
        if not self.leading:
            return
        candidates = [
            f for f in self.frameworks.values() if f.connected and f.active and self._offer_roles(f)
        ]
        agents = [a for a in self.agents.values() if a.status == REGISTERED]
        if not candidates or not agents:
            return
        totals = Resources()
        for agent in agents:
            totals = totals + agent.total
        batches: dict[str, list[dict[str, Any]]] = {}
        for agent in agents:
            free = agent.available
            if not free.allocatable():
                continue
            ranked = sorted(candidates, key=lambda f: (self._share(f, totals), f.registered_time))
            for framework in ranked:
                role = next(
                    (
                        r
                        for r in self._offer_roles(framework)
                        if not self._filtered(framework.framework_id, r, agent, free)
                    ),
                    None,
                )
                if role is not None:
                    offer = self._make_offer(framework, role, agent, free)
                    batches.setdefault(framework.framework_id, []).append(offer)
                    break
        for framework_id, offers in batches.items():
            self._send(self.frameworks[framework_id], event_offers(offers))

    def _make_offer(
        self, framework: SimFramework, role: str, agent: AgentRecord, free: Resources
    ) -> dict[str, Any]:
        offer_id = self._new_offer_id()
        record = OfferRecord(offer_id, framework.framework_id, agent.agent_id, role, free)
        if self.offer_timeout is not None:
            record.timeout = self.clock.call_later(self.offer_timeout, self._offer_timed_out, offer_id)
        self.offers[offer_id] = record
        framework.offer_ids.add(offer_id)
        agent.offered = agent.offered + free
        multi_role = framework.multi_role
        offer: dict[str, Any] = {
            "id": {"value": offer_id},
            "framework_id": {"value": framework.framework_id},
            "agent_id": {"value": agent.agent_id},
            "hostname": agent.hostname,
            "url": agent.url(),
            "resources": free.to_json(
                allocation_role=role if multi_role else None,
                legacy_role="RESERVATION_REFINEMENT" not in framework.capabilities,
            ),
        }
        if agent.attributes:
            offer["attributes"] = [dict(a) for a in agent.attributes]
        if multi_role:
            offer["allocation_info"] = {"role": role}
        return offer

    def _remove_offer(self, offer: OfferRecord) -> None:
        """Take ``offer`` out of the books; its resources are free again."""
        del self.offers[offer.offer_id]
        if offer.timeout is not None:
            offer.timeout.cancel()
        framework = self.frameworks.get(offer.framework_id)
        if framework is not None:
            framework.offer_ids.discard(offer.offer_id)
        agent = self.agents[offer.agent_id]
        agent.offered = agent.offered - offer.resources

    def _add_filter(self, offer: OfferRecord, resources: Resources, seconds: float) -> None:
        if seconds <= 0 or resources.is_empty():
            return
        key = (offer.framework_id, offer.role, offer.agent_id)
        self.filters.setdefault(key, []).append(OfferFilter(resources, time.monotonic() + seconds))

    def _rescind(self, offer: OfferRecord) -> None:
        self._remove_offer(offer)
        framework = self.frameworks.get(offer.framework_id)
        if framework is not None and framework.connected:
            self._send(framework, event_rescind(offer.offer_id))

    def _offer_timed_out(self, offer_id: str) -> None:
        offer = self.offers.get(offer_id)
        if offer is not None:
            self._rescind(offer)

    def _rescind_framework_offers(self, framework: SimFramework) -> None:
        for offer_id in sorted(framework.offer_ids):
            self._rescind(self.offers[offer_id])

    def _discard_framework_offers(self, framework: SimFramework) -> None:
        for offer_id in sorted(framework.offer_ids):
            self._remove_offer(self.offers[offer_id])

    def rescind_all_offers(self) -> None:
        for offer in list(self.offers.values()):
            self._rescind(offer)

    def decline(self, framework: SimFramework, decline: dict[str, Any]) -> None:
        seconds = refuse_seconds(decline.get("filters"))
        for offer_id in decline.get("offer_ids", []):
            # Any known offer is declined, whoever it was made to, as the master does.
            offer = self.offers.get(offer_id["value"])
            if offer is None:
                self.notes.append(f"DECLINE of unknown offer {offer_id['value']}")
                continue
            self._remove_offer(offer)
            self._add_filter(offer, offer.resources, seconds)

    def _checked_roles(self, framework: SimFramework, body: dict[str, Any], call: str) -> set[str] | None:
        """The roles a SUPPRESS/REVIVE names (all when none), None if one is invalid."""
        roles = body.get("roles", [])
        for role in roles:
            if _role_error(role) or role not in framework.roles:
                self.notes.append(f"{call} dropped: role {role!r} is not one of {framework.roles}")
                return None
        return set(roles) if roles else set(framework.roles)

    def suppress(self, framework: SimFramework, body: dict[str, Any]) -> None:
        roles = self._checked_roles(framework, body, "SUPPRESS")
        if roles is not None:
            framework.suppressed_roles |= roles

    def revive(self, framework: SimFramework, body: dict[str, Any]) -> None:
        roles = self._checked_roles(framework, body, "REVIVE")
        if roles is None:
            return
        framework.suppressed_roles -= roles
        for key in [k for k in self.filters if k[0] == framework.framework_id and k[1] in roles]:
            del self.filters[key]
        self._allocate_soon()
