"""The file lock that orders writers of a local output: exclusive, across processes, and safe to cancel."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.store.local_lock import held_alone_on_disk, local_lock_path


def test_lock_file_sits_beside_a_local_output_and_nowhere_for_remote_ones(tmp_path: Path) -> None:
    assert local_lock_path(str(tmp_path / "book.manifest.json")) == tmp_path / ".book.manifest.json.lock"
    assert local_lock_path(f"file://{tmp_path}/book.manifest.json") == tmp_path / ".book.manifest.json.lock"
    assert local_lock_path("memory://out/book.manifest.json") is None
    assert local_lock_path("s3://bucket/out/book.manifest.json") is None


def test_a_second_holder_waits_until_the_first_is_done(tmp_path: Path) -> None:
    lock = tmp_path / ".out.lock"
    order: list[str] = []

    async def hold(name: str, seconds: float) -> None:
        async with held_alone_on_disk(lock):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    async def both() -> None:
        first = asyncio.create_task(hold("first", 0.3))
        await asyncio.sleep(0.05)
        await hold("second", 0)
        await first

    asyncio.run(both())
    assert order == ["first in", "first out", "second in", "second out"]


def test_another_process_holding_the_lock_is_waited_for_and_a_cancelled_wait_takes_nothing(tmp_path: Path) -> None:
    lock = tmp_path / ".out.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; d = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(d, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1.0)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

        async def cancelled_wait() -> None:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    async with held_alone_on_disk(lock):
                        pytest.fail("took a lock another process holds")

        asyncio.run(cancelled_wait())
        started = time.monotonic()

        async def wait_for_it() -> None:
            async with held_alone_on_disk(lock):
                pass

        asyncio.run(wait_for_it())
        assert time.monotonic() - started > 0.3  # it waited for the other process to let go
    finally:
        holder.kill()
        holder.wait()
