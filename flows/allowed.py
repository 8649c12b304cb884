"""The allowed-places rule applied where a run begins (tasks/allowed_places.py says why).

Only runs of deployments are limited: a person running `narrate` on their own files is not.
"""

from __future__ import annotations

from prefect.context import FlowRunContext
from prefect.runtime import deployment

from blocks.narration_storage import NarrationStorage
from tasks.allowed_places import allowed_roots, check_allowed
from tasks.errors import NarrationInputError


def deployment_of_this_run() -> str | None:
    """The deployment of this flow run, or of the deployment run it is nested in; None for a run started by hand.

    A top-level run started by hand is known from the run in Prefect's context: Prefect's own lookup
    reads the run again from the API there (10-20 ms, on the event loop, before the first request).
    """
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is not None and run.deployment_id is None and run.parent_task_run_id is None:
        return None
    return deployment.get_id()


def roots_for_this_run() -> list[str] | None:
    """The worker's allowed roots for a deployment run; None (no limit) for a run started by hand."""
    return allowed_roots() if deployment_of_this_run() else None


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
