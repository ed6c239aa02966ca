"""Query parameters shared by listings, and the envelope every listing answers with."""

from __future__ import annotations

from typing import Any

import falcon

from hippo_core.store import Page

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Far past any listing Redis can hold, and far from where offset + limit overflows Redis' integers.
MAX_OFFSET = 1_000_000_000


def page_params(req: falcon.Request) -> tuple[int, int]:
    offset = req.get_param_as_int("offset", min_value=0, max_value=MAX_OFFSET, default=0)
    limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    return offset, limit


def envelope(page: Page) -> dict[str, Any]:
    return {"items": page.items, "total": page.total, "offset": page.offset, "limit": page.limit}


def envelope_json(page: Page[str]) -> bytes:
    """``envelope`` of a page whose items are JSON already (records as stored): no re-encoding."""
    items = ",".join(page.items)
    return f'{{"items":[{items}],"total":{page.total},"offset":{page.offset},"limit":{page.limit}}}'.encode()
