"""One verified SSL context per CA file for Prefect's API clients, in a process that makes many of them.

Prefect builds a new verified context (`ssl.create_default_context(cafile=certifi.where())`) for every
API client, and a `narrate` run opens five: loading certifi's 150 certificates takes 0.2-0.4 s each
on this 2-core machine, about half of a warm runner's run of "Hello." (measured). A context is
thread-safe and left as it is once Prefect has it (it only passes it to httpx), so `narrate` (in its
own process or in a warm runner) shares one per CA file, rebuilt if the file changes. Contexts Prefect
changes after creating them (its "skip verify" branch) are never shared.
"""

from __future__ import annotations

import os
import ssl
import threading
import types


class SharedVerifiedContexts:
    """Stands in for the `ssl` module inside Prefect's client module: the same, but contexts are shared."""

    def __init__(self, module: types.ModuleType = ssl) -> None:
        self._ssl = module
        self._contexts: dict[tuple[str, int, int], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self._ssl, name)

    def create_default_context(
        self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, *, cafile=None, capath=None, cadata=None
    ) -> ssl.SSLContext:
        if cafile is None or capath is not None or cadata is not None or purpose != ssl.Purpose.SERVER_AUTH:
            return self._ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
        try:
            facts = os.stat(cafile)
        except OSError:
            return self._ssl.create_default_context(purpose, cafile=cafile)  # raises as it would have
        key = (os.fspath(cafile), facts.st_mtime_ns, facts.st_size)
        with self._lock:
            if key not in self._contexts:
                self._contexts[key] = self._ssl.create_default_context(purpose, cafile=cafile)
            return self._contexts[key]


def share_prefect_api_contexts() -> bool:
    """Have Prefect's API clients (async and sync) share verified contexts; False if Prefect's code has changed shape."""
    from prefect.client import orchestration

    if isinstance(getattr(orchestration, "ssl", None), SharedVerifiedContexts):
        return True
    if not isinstance(getattr(orchestration, "ssl", None), types.ModuleType):
        return False
    orchestration.ssl = SharedVerifiedContexts(orchestration.ssl)
    return True
