"""``start``/``max-results`` and the list links, as djblets builds them (§2)."""

from __future__ import annotations

from urllib.parse import urlencode

from .context import Call
from .payloads import link
from .wire import RB_500, Refusal, field_error, html

__all__ = ["DEFAULT_MAX_RESULTS", "MAX_RESULTS_CAP", "list_links", "page_of"]

DEFAULT_MAX_RESULTS = 25
MAX_RESULTS_CAP = 200


def _integer(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise Refusal(field_error(name, [f'"{raw}" is not an integer'])) from None


def page_of(call: Call) -> tuple[int, int]:
    """``(start, size)``: a negative start is 0, the size is capped at 200,
    ``0`` is kept (its ``next`` loops) and a negative size crashes (HTML 500)."""
    query = call.query
    start = 0
    if "start" in query:
        start = max(0, _integer("start", query["start"]))
    size = DEFAULT_MAX_RESULTS
    if "max-results" in query:
        size = _integer("max-results", query["max-results"])
        if size < 0:
            raise Refusal(html(500, RB_500))
        size = min(size, MAX_RESULTS_CAP)
    return start, size


def list_links(
    call: Call, start: int, size: int, shown: int, total: int
) -> dict[str, dict[str, str]]:
    """``create``, ``self`` (the query verbatim) and ``next``/``prev`` (``start``
    and ``max-results`` first, then the other parameters sorted and re-encoded)."""
    url = call.request.url
    base = call.payloads.origin + url.raw_path
    qs = url.raw_query_string
    links = {
        "create": link(base, "POST"),
        "self": link(base + (f"?{qs}" if qs else "")),
    }
    has_next, has_prev = start + shown < total, start > 0
    if not (has_next or has_prev):
        return links
    others = sorted((k, v) for k, v in url.query.items() if k not in ("start", "max-results"))
    extra = ("&" + urlencode(others)) if others else ""
    if has_next:
        links["next"] = link(f"{base}?start={start + size}&max-results={size}{extra}")
    if has_prev:
        links["prev"] = link(f"{base}?start={max(0, start - size)}&max-results={size}{extra}")
    return links
