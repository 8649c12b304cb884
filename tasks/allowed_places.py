"""Where a run started through a deployment may read and write: only under roots the operator set on the worker.

Anyone who can create a run (the Run form, the API, an event) chooses its `source`, `output` and
`chunk_store`; the worker's own settings (`NARRATION_ALLOWED_ROOTS`, in its environment or `.env`)
decide where those may point, and no parameter or job variable can widen them. With no roots set,
a deployment run touches only the folder its worker runs in and `memory://`. Runs a person starts
with `narrate` on their own machine are not deployment runs and are not limited.

Refused before anything is read: paths outside every root (after following symlinks and `..`),
`~`, chained URLs (`a::b`), and remote URLs (`s3://`, `https://`, …) not under a root of their own
protocol. Redirects are not followed for http(s) sources, so an allowed prefix cannot lead
elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from fsspec.core import split_protocol

from tasks.errors import NarrationInputError
from tasks.settings import settings

LOCAL_PROTOCOLS = frozenset({None, "file", "local"})
ALWAYS_ALLOWED = ("memory://",)


def allowed_roots() -> list[str]:
    """The operator's roots, or the working folder; `memory://` is always allowed (it never leaves the process)."""
    configured = [root.strip() for root in settings().allowed_roots.replace("\n", ",").split(",") if root.strip()]
    return [*(configured or [os.getcwd()]), *ALWAYS_ALLOWED]


def _local_root(root: str) -> str | None:
    protocol, path = split_protocol(root)
    return os.path.realpath(os.path.expanduser(path)) if protocol in LOCAL_PROTOCOLS else None


def _under(path: str, root: str, separator: str) -> bool:
    root = root.rstrip(separator)
    return path == root or path.startswith(root + separator)


def is_allowed(url: str, roots: Iterable[str]) -> bool:
    """Whether `url` lies under one of `roots` (local paths compared after resolving symlinks and `..`)."""
    if "::" in url or url.startswith("~") or "/~" in url:
        return False
    protocol, path = split_protocol(url)
    if protocol in LOCAL_PROTOCOLS:
        resolved = os.path.realpath(path)
        return any(root is not None and _under(resolved, root, os.sep) for root in map(_local_root, roots))
    if ".." in path.split("/"):
        return False
    normalised = f"{protocol}://{path}"
    return any(
        split_protocol(root)[0] == protocol and _under(normalised, f"{protocol}://{split_protocol(root)[1]}", "/")
        for root in roots
    )


def check_allowed(url: str | None, field: str, roots: list[str] | None = None) -> None:
    """Refuse `url` (naming the field, the URL and the allowed roots) unless it is under an allowed root."""
    if url is None:
        return
    roots = roots if roots is not None else allowed_roots()
    if not is_allowed(url, roots):
        raise NarrationInputError(
            field,
            f"{url} is outside the places this worker allows ({', '.join(roots)}); "
            "the operator sets them with NARRATION_ALLOWED_ROOTS on the worker",
        )


def http_options(url: str | None) -> dict:
    """fsspec options that keep an http(s) source from following redirects away from its allowed prefix."""
    protocol = split_protocol(url or "")[0]
    return {"allow_redirects": False} if protocol in ("http", "https") else {}
