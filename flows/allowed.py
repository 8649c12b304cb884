"""The allowed-places rule applied where a run begins (tasks/allowed_places.py says why).

Only runs of deployments are limited: a person running `narrate` on their own files is not.
"""

from __future__ import annotations

from prefect.runtime import deployment

from blocks.narration_storage import NarrationStorage
from tasks.allowed_places import allowed_roots, check_allowed
from tasks.errors import NarrationInputError


def roots_for_this_run() -> list[str] | None:
    """The worker's allowed roots for a deployment run; None (no limit) for a run started by hand."""
    return allowed_roots() if deployment.get_id() else None


def enforce(roots: list[str] | None, **urls: str | None) -> None:
    """Refuse any of `urls` (by field name) outside `roots`, before anything is read or written."""
    if roots is None:
        return
    for field, url in urls.items():
        check_allowed(url, field, roots)


def within_storage(storage: NarrationStorage, **urls: str | None) -> None:
    """A storage block's credentials open only what lies under its base URL."""
    protocol = storage.protocol
    for field, url in urls.items():
        if url and url.startswith(f"{protocol}://") and not check_under(url, storage.base_url):
            raise NarrationInputError(
                field, f"{url} is outside the storage block's base URL {storage.base_url}; its credentials stop there"
            )


def check_under(url: str, base: str) -> bool:
    base = base.rstrip("/")
    return url == base or url.startswith(base + "/")
