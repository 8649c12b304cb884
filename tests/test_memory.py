"""Memory freed inside glibc's heap goes back to the system when a run asks for it between phases."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

HEAP_WITH_HOLES = """
def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

def free_between_kept():
    blocks = [b"x" * (64 * 1024) for _ in range(800)]  # 50 MB in the heap (each under the mmap threshold)
    kept = blocks[7::8]  # one in eight stays: the rest is freed between them, where glibc cannot trim by itself
    del blocks
    return kept
"""

PROBE = HEAP_WITH_HOLES + textwrap.dedent(
    """
    from speech_audio.memory import return_freed_memory

    kept = free_between_kept()
    before = rss_mb()
    returned = return_freed_memory()
    print(returned, before - rss_mb())
    """
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True"
    assert float(out[1]) > 25  # of the 44 MB freed between the kept blocks


PACED_PROBE = HEAP_WITH_HOLES + textwrap.dedent(
    """
    from speech_audio.memory import TRIM_AFTER_SECONDS, return_freed_memory_after

    kept = [free_between_kept()]
    before = rss_mb()
    short = [return_freed_memory_after(3.0) for _ in range(int(TRIM_AFTER_SECONDS // 3) - 1)]
    print(any(short), before - rss_mb() < 5, return_freed_memory_after(3.0), before - rss_mb() > 25)
    kept.append(free_between_kept())
    print(return_freed_memory_after(TRIM_AFTER_SECONDS))  # a long chunk hands back at once
    """
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_short_chunks_hand_freed_memory_back_once_a_minute_of_audio_is_measured():
    """Each short chunk reuses what the last one freed: handing it back after every chunk only made the
    next one fault its pages in again."""
    lines = subprocess.run([sys.executable, "-c", PACED_PROBE], capture_output=True, text=True, check=True).stdout
    assert lines.split() == ["False", "True", "True", "True", "True"]


def test_a_long_books_manifest_repr_counts_its_chunks_and_sentences_instead_of_listing_them():
    from tasks.models import Manifest, ManifestSentence

    sentences = [ManifestSentence(start_seconds=i, end_seconds=i + 0.9, text=f"Sentence {i}.") for i in range(20_000)]
    manifest = Manifest.model_construct(name="book", audio="memory://book.mp3", chunks=[], sentences=sentences)
    text = repr(manifest)
    assert "sentences=[…20000 items…]" in text and "chunks=[…0 items…]" in text
    assert "name='book'" in text and len(text) < 500
    assert manifest.sentences[19_999].text == "Sentence 19999."  # only the repr is shortened
