"""What the emulator saw and said, for tests to assert on: recent requests per route, and the speech timings.

Both are read through `/_emulator/*` only, never through response headers: a client under test must not be
able to learn what it is supposed to find out from the audio itself.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from typing import Any

REQUESTS_PER_ROUTE = 200
TIMINGS = 1000
# Headers that carry credentials in one provider's convention or another; never recorded.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "xi-api-key",
        "api-key",
        "x-api-key",
        "ocp-apim-subscription-key",
    }
)


def readable_body(raw: bytes | None, content_type: str) -> Any:
    """The body as a test wants to see it: parsed JSON for JSON, text otherwise, None when it was never read."""
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


class Journal:
    """Bounded records: the last requests of each route and the last answered speech timings."""

    def __init__(self) -> None:
        self._requests: dict[str, deque[dict[str, Any]]] = {}
        self._timings: deque[dict[str, Any]] = deque(maxlen=TIMINGS)

    def record_request(
        self,
        route: str,
        sequence: int,
        *,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: Any,
        status: int | None,
        paid: bool,
    ) -> None:
        self._requests.setdefault(route, deque(maxlen=REQUESTS_PER_ROUTE)).append(
            {
                "sequence": sequence,
                "route": route,
                "method": method,
                "path": path,
                "query": dict(query),
                "headers": {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS},
                "body": body,
                "status": status,  # None: the connection was reset or the client left before an answer
                "paid": paid,
            }
        )

    def record_timing(
        self,
        route: str,
        sequence: int,
        *,
        request_id: str | None,
        text: str,
        sample_rate: int,
        sentences: tuple[tuple[float, float], ...],
    ) -> None:
        self._timings.append(
            {
                "sequence": sequence,
                "request_id": request_id,
                "route": route,
                "text": text,
                "sample_rate": sample_rate,
                "sentences": [list(span) for span in sentences],
            }
        )

    def requests(self, route: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Oldest first; of one route, or of all routes in arrival order."""
        if route is not None:
            found = list(self._requests.get(route, ()))
        else:
            found = sorted((r for rs in self._requests.values() for r in rs), key=lambda r: r["sequence"])
        return found[-limit:] if limit else found

    def timings(self, route: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        found = [t for t in self._timings if route is None or t["route"] == route]
        return found[-limit:] if limit else found

    def clear(self) -> None:
        self._requests.clear()
        self._timings.clear()
