"""A run of narrate-folder's share narrates its own documents, then helps with the other shares' unstarted ones.

The shares' runs start seconds apart (a worker polls every few seconds, a process takes seconds to
start), so a run that starts first would narrate its share and end while later runs are still
starting, and the provider's cap would sit idle in between. Each run therefore also gets documents of
the other shares, as spares: once one of its own is done, it takes a spare that nobody holds and whose
manifest is not yet current, from the end of the other shares (their own runs start at the front).

Every document is held alone while it is narrated (a Prefect limit of 1, shared by every worker), and
its manifest is checked again once it is held: a document narrated meanwhile by another run is
skipped, and nothing is paid for twice. An own document that another run holds is left to the end,
then waited for, and narrated if it is still not current: the holder failed, or it held another
document that shares the limit's stripe.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tasks.synthesis.global_limits import exclusive_name, held_alone_if_free
from tasks.text.sources import SourceDocument

# Enough spares for a run to keep busy until the runs after it are up, without every run of a large folder
# carrying every other document's URL in its parameters.
MAX_SPARES = 200
HOLDER_POLL_SECONDS = 2.0  # how often an own document held by another run is asked for again


@dataclass
class ShareOutcome:
    """What one run of a share did with each document it held, by URL."""

    narrated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # current once held: another run narrated it meanwhile
    failed: list[str] = field(default_factory=list)


def spares_for(groups: list[list[str]], number: int) -> list[str]:
    """The documents of the other shares that share `number` may take, the nearest first: the shares after
    it, then those before it, each from its end."""
    others = groups[number + 1 :] + groups[:number]
    return [url for group in others for url in reversed(group)][:MAX_SPARES]


async def narrate_own_then_spares(
    own: list[SourceDocument],
    spares: Callable[[], Awaitable[list[SourceDocument]]],
    workers: int,
    is_current: Callable[[SourceDocument], Awaitable[bool]],
    narrate_document: Callable[[SourceDocument], Awaitable[bool]],
) -> ShareOutcome:
    """Narrate `own` with `workers` at a time, each worker going on to the spares once no own document is left.

    `spares()` reads the spare documents (called once, when the first worker gets to them);
    `narrate_document` logs its own failure and returns False.
    """
    outcome = ShareOutcome()
    waiting_own = deque(own)
    held_elsewhere: list[SourceDocument] = []
    spare_queue: deque[SourceDocument] | None = None
    reading_spares = asyncio.Lock()

    async def narrate_held(document: SourceDocument) -> None:
        if await is_current(document):
            outcome.skipped.append(document.url)
        elif await narrate_document(document):
            outcome.narrated.append(document.url)
        else:
            outcome.failed.append(document.url)

    async def next_spare() -> SourceDocument | None:
        nonlocal spare_queue
        async with reading_spares:
            if spare_queue is None:
                spare_queue = deque(await spares())
        return spare_queue.popleft() if spare_queue else None

    async def worker() -> None:
        while waiting_own:
            document = waiting_own.popleft()
            async with held_alone_if_free(exclusive_name("document", document.url)) as held:
                if held:
                    await narrate_held(document)
                else:
                    held_elsewhere.append(document)
        while (document := await next_spare()) is not None:
            async with held_alone_if_free(exclusive_name("document", document.url)) as held:
                if held:
                    await narrate_held(document)

    async def after_its_holder(document: SourceDocument) -> None:
        # Asked again every few seconds: Prefect's own wait follows the server's Retry-After, which grows with
        # how long the limit's slot is held (a document's narration) and how often it was asked for, to 30 s.
        while True:
            async with held_alone_if_free(exclusive_name("document", document.url)) as held:
                if held:
                    await narrate_held(document)
                    return
            await asyncio.sleep(HOLDER_POLL_SECONDS)

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(own))))))
    await asyncio.gather(*(after_its_holder(document) for document in held_elsewhere))
    return outcome
