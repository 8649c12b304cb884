"""Assembly ahead: a narration's segments made while the provider still answers for later chunks.

Segments (tasks.store.segments) hold consecutive chunks and depend on nothing else, and where they
fall is known from the plan. So each segment holding a chunk this run pays for is made as soon as its
last chunk is stored and measured: MP3 and AAC fragments kept beside the chunk store (encoding is the
slow part of assembly: a long book's took minutes after its last answer), raw PCM pieces of a WAV
narration in a folder of the run's own. Assembly then finds them under their keys and joins them.

It cannot change a narration: a segment made ahead under other placements is not found under the
final ones' key, and one that failed or was not reached is made at assembly as before.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from speech_audio.encodings import AudioKind
from tasks.models import ChunkAudio, PlannedChunk
from tasks.output.assembly import encode_segment, segment_kind
from tasks.output.chunk_analysis import analysis_for, measuring_turn
from tasks.output.pauses import Pauses
from tasks.output.placement import place_chunk
from tasks.store.chunk_store import ChunkStore
from tasks.store.segments import SegmentStore, segment_bounds, segment_key

logger = logging.getLogger(__name__)

_by_run: dict[str, AssemblyAhead] = {}
_thread: ThreadPoolExecutor | None = None


def _ahead_thread() -> ThreadPoolExecutor:
    """The process's one thread for making segments ahead, whichever runs it serves.

    Making a segment waits for the measuring turn chunk by chunk. In the default pool those waits
    would hold threads that answers need to be checked, stored and measured (documents narrated side
    by side in one process each have their assembly ahead).
    """
    global _thread
    if _thread is None:
        _thread = ThreadPoolExecutor(1, thread_name_prefix="assembly-ahead")
    return _thread


def ahead_for(run_id: str) -> AssemblyAhead | None:
    """The assembly ahead of the run `run_id` in this process, if it has one."""
    return _by_run.get(run_id)


class AssemblyAhead:
    """Makes each segment with new chunks once all its chunks are in hand, one segment at a time."""

    def __init__(
        self,
        store_url: str,
        chunks: list[PlannedChunk],
        stored: dict[str, ChunkAudio],
        kind: AudioKind,
        sample_rate: int,
        pauses: Pauses,
        loudness: tuple[float, float] | None,
        language: str,
        chapter_starts: set[int],
    ) -> None:
        """`kind` is the narration's; `loudness` is (target, ceiling), or None when loudness is left alone."""
        joined = segment_kind(kind)
        assert joined is not None, f"{kind} is encoded whole"
        self._store = ChunkStore(store_url)
        self.pieces_folder = tempfile.mkdtemp(prefix="narration-pieces-") if joined is AudioKind.PCM else None
        self._segments = SegmentStore(self._store, self.pieces_folder)
        self._discarding: asyncio.Future[None] | None = None
        self._chunks, self._kind, self._joined, self._rate = chunks, kind, joined, sample_rate
        self._pauses, self._loudness, self._language, self._chapters = pauses, loudness, language, chapter_starts
        self._audio: dict[str, ChunkAudio] = dict(stored)
        self._missing: dict[int, set[str]] = {}  # segment number -> keys not yet in hand
        self._parts: list[slice] = segment_bounds(
            [chunk.key for chunk in chunks],
            [chunk.paragraph_end for chunk in chunks],
            [i + 1 in chapter_starts for i in range(len(chunks))],
        )
        self._waiting_on: defaultdict[str, list[int]] = defaultdict(list)  # key -> segments waiting for it
        for number, part in enumerate(self._parts):
            keys = {chunk.key for chunk in chunks[part]} - stored.keys()
            if keys:  # a segment of stored chunks only was most likely made before: assembly looks it up
                self._missing[number] = keys
                for key in keys:
                    self._waiting_on[key].append(number)
        self._ready: asyncio.Queue[int | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._worker = asyncio.create_task(self._work())

    @classmethod
    def begin(cls, run_id: str, *args, **kwargs) -> AssemblyAhead:
        """Start assembling ahead for the run `run_id`; its synthesis tasks report chunks through ahead_for."""
        ahead = _by_run[run_id] = cls(*args, **kwargs)
        return ahead

    def chunk_stored(self, audio: ChunkAudio) -> None:
        """A chunk of the run is stored and measured (callable from any thread)."""
        try:
            on_own_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # a thread without a loop
            on_own_loop = False
        if not on_own_loop:  # task runs of the flow share its loop; anything else hands the news over
            self._loop.call_soon_threadsafe(self.chunk_stored, audio)
            return
        self._audio[audio.key] = audio
        for number in self._waiting_on.pop(audio.key, []):
            keys = self._missing.get(number)
            if keys is not None:
                keys.discard(audio.key)
                if not keys:
                    del self._missing[number]
                    self._ready.put_nowait(number)

    async def end(self, run_id: str, *, wanted: bool) -> None:
        """Stop taking chunks; with `wanted`, finish the segments already in hand (assembly would only make
        them again), else drop them (the run failed). Idempotent."""
        _by_run.pop(run_id, None)
        if not wanted:
            while not self._ready.empty():
                self._ready.get_nowait()
        self._ready.put_nowait(None)
        await asyncio.shield(self._worker)

    def start_discarding(self) -> None:
        """Begin removing the run's own pieces in a worker thread, once assembly has joined them.

        Unlinking a long narration's pieces frees its pages in the kernel (40 ms for a 400-chunk WAV
        here): begun at once, it overlaps writing the subtitles and manifest instead of following them.
        """
        if self.pieces_folder and self._discarding is None:
            # the segment-making thread: idle by now, and the default pool's threads are for checking answers
            self._discarding = self._loop.run_in_executor(_ahead_thread(), shutil.rmtree, self.pieces_folder, True)

    async def discard(self) -> None:
        """Remove the run's own pieces (kept segments stay: a rerun or the next edit uses them)."""
        self.start_discarding()
        if self._discarding is not None:
            await asyncio.shield(self._discarding)

    async def _work(self) -> None:
        while (number := await self._ready.get()) is not None:
            try:
                await self._loop.run_in_executor(_ahead_thread(), self._make, self._parts[number])
            except Exception as error:  # noqa: BLE001 - assembly makes it instead; nothing paid for is lost
                logger.warning(
                    "segment of chunks %d-%d not made ahead: %r",
                    self._parts[number].start,
                    self._parts[number].stop - 1,
                    error,
                )

    def _make(self, part: slice) -> None:
        placements = []
        for i in range(part.start, part.stop):
            chunk, audio = self._chunks[i], self._audio[self._chunks[i].key]
            analysis = analysis_for(self._store, audio, chunk.text, self._language, self._loudness)
            target = None if self._loudness is None else self._loudness[0]
            placements.append(
                place_chunk(self._chunks, i, audio, analysis, self._pauses, target, self._kind, self._chapters)
            )
        # Not looked up first: it holds a chunk the store lacked until this run, so no stored segment has it.
        key = segment_key(placements, self._joined, self._rate)
        encode_segment(self._segments, key, placements, self._joined, self._rate, measuring_turn())
