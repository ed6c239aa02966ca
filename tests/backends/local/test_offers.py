"""The local agent's offer books: filters, suppression, re-offers, with the clock passed in."""

from __future__ import annotations

import pytest

from hippo_core.backends.local.offers import OfferBook


@pytest.fixture
def book() -> OfferBook:
    return OfferBook("local-h", "h", cpus=2, mem=1000, interval=0.5)


def test_one_offer_at_a_time_holds_everything_free(book):
    offer, _ = book.next_offer(0.0)
    assert (offer.cpus, offer.mem, offer.agent_id, offer.hostname) == (2, 1000, "local-h", "h")
    assert book.next_offer(0.1) == (None, float("inf"))  # outstanding: nothing more to offer
    assert book.answer(["other"]) is None and book.outstanding is offer
    assert book.answer([offer.id]) is offer and book.outstanding is None


def test_a_refuse_filter_holds_back_what_was_free_but_not_what_is_freed_later(book):
    book.take(1, 400)
    offer, _ = book.next_offer(0.0)
    book.answer([offer.id])
    book.refuse(10, now=0.0)
    assert book.next_offer(5.0) == (None, 5.0)  # the same resources: held back for the rest
    book.give_back(1, 400)  # a task ended: more is free than was refused
    again, _ = book.next_offer(5.0)
    assert (again.cpus, again.mem) == (2, 1000)


def test_the_filter_ends_after_its_seconds(book):
    book.answer([book.next_offer(0.0)[0].id])
    book.refuse(10, now=0.0)
    assert book.next_offer(9.9)[0] is None
    assert book.next_offer(10.0)[0] is not None


def test_suppress_until_revive_which_also_clears_filters(book):
    book.answer([book.next_offer(0.0)[0].id])
    book.refuse(3600, now=0.0)
    book.suppress()
    assert book.next_offer(1.0) == (None, float("inf"))
    book.revive()
    assert book.next_offer(1.0)[0] is not None


def test_an_unanswered_offer_is_made_again_after_the_interval(book):
    offer, _ = book.next_offer(0.0)
    assert book.withdraw(offer, now=0.0)
    assert book.next_offer(0.2) == (None, pytest.approx(0.3))
    again, _ = book.next_offer(0.5)
    assert again.id != offer.id


def test_nothing_is_offered_when_nothing_is_free(book):
    book.take(2, 1000)
    assert book.next_offer(0.0) == (None, float("inf"))
    book.give_back(0.5, 100)
    assert book.next_offer(0.0)[0].cpus == 0.5
