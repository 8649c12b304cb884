"""Where each sentence of a chunk is spoken, found from the pauses in the chunk's own decoded audio.

Providers that report no timings give us a chunk of speech and its text. Spreading the sentences
over the chunk by their share of characters drifts wherever speech is not proportional to text
("1,234,567" is 9 characters and 3 seconds of speech). Speakers pause between sentences, so each
boundary is placed at a pause near where the character share expects it. Choosing the nearest
pause is not enough: commas, and numbers read aloud, make pauses inside sentences too. So the
pauses are chosen for the whole chunk at once (a dynamic programme), by sentence durations close
to their shares, pauses inside sentences explained by their clause marks, and longer pauses.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasks.errors import NarrationInputError

FRAME_SECONDS = 0.01
FRAMES_PER_BLOCK = 4096
# Quieter than this is silence whatever the chunk: about 3 LSB RMS in 16-bit audio.
ABSOLUTE_FLOOR_DB = -80.0
# Otherwise silence is below this much under the chunk's speech level (loud speech, clean silence) …
BELOW_SPEECH_DB = 35.0
# … or, over a noise floor, below this much above the floor …
ABOVE_FLOOR_DB = 10.0
# … and always at least this far under the speech (with almost no silence, the "floor" is speech).
MIN_BELOW_SPEECH_DB = 12.0
# A sound this short inside a pause (a click, a codec artefact) does not end the pause.
MAX_BLIP_FRAMES = 2
SPEECH_PERCENTILE = 95
FLOOR_PERCENTILE = 10
# A boundary looks for its pause this far from where characters expect it: a share of the speech, or seconds.
TOLERANCE_SHARE = 0.25
TOLERANCE_SECONDS = 1.5
MIN_PAUSE_SECONDS = 0.1
# Choosing among the pauses within tolerance (costs added along a path; see `_assign`):
# favour long pauses (per unit of log length) …
PAUSE_WEIGHT = 1.0
# … charge each pause inside a sentence beyond its clause marks (speakers pause at commas, rarely elsewhere) …
UNEXPLAINED_PAUSE_COST = 1.0
# … and each boundary left without a pause.
SKIP_COST = 1.5
# Marks after which a speaker may pause inside a sentence: punctuation before a space (a comma, or the
# period of "Mrs." or "fig.", which engines often read as a sentence end), and CJK clause marks.
# "1,234" and "3.5" have none.
_CLAUSE_MARK = re.compile(r"[,;:.!?\u2014\u2026)\]\"\u201d](?=\s)|[\uff0c\uff1b\uff1a\u3001\u3002\uff01\uff1f](?=.)")


@dataclass(frozen=True)
class SentenceTiming:
    """Each sentence's span in seconds from the chunk start, and how the boundaries were found.

    `method`: "pauses" when every boundary sits at a pause, "proportional" when none does, else "mixed".
    """

    spans: list[tuple[float, float]]
    method: str


@dataclass(frozen=True)
class _Frames:
    silent: np.ndarray  # bool per frame
    frame_seconds: float


def _frames(samples: np.ndarray, sample_rate: int) -> _Frames:
    """Classify ~10 ms frames of 16-bit samples as silent or not, against this chunk's own levels.

    Levels are percentiles of the frames' energies: the speech level near the top, the noise floor
    near the bottom, so the threshold follows quiet speech down and a noisy floor up.
    """
    if sample_rate <= 0:
        raise NarrationInputError("sample_rate", f"must be positive, got {sample_rate}")
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise NarrationInputError("samples", f"must be mono (one dimension), got shape {samples.shape}")
    if samples.size == 0:
        raise NarrationInputError("samples", "no audio")
    frame = max(1, round(sample_rate * FRAME_SECONDS))
    full = samples.size // frame
    # Mean square per frame, in float32 through einsum: a minute of 24 kHz audio in about a millisecond.
    # A few thousand frames at a time, so a chunk of several minutes is never copied whole to float.
    framed = samples[: full * frame].reshape(full, frame)
    power = np.empty(full, dtype=np.float32)
    for first in range(0, full, FRAMES_PER_BLOCK):
        block = framed[first : first + FRAMES_PER_BLOCK].astype(np.float32)
        power[first : first + len(block)] = np.einsum("ij,ij->i", block, block) / frame
    if samples.size > full * frame:
        tail = samples[full * frame :].astype(np.float32)
        power = np.append(power, np.dot(tail, tail) / tail.size)
    level = 10.0 * np.log10(power / 32768.0**2 + 1e-12)
    speech, floor = np.percentile(level, [SPEECH_PERCENTILE, FLOOR_PERCENTILE])
    relative = min(max(speech - BELOW_SPEECH_DB, floor + ABOVE_FLOOR_DB), speech - MIN_BELOW_SPEECH_DB)
    threshold = max(ABSOLUTE_FLOOR_DB, relative)
    silent = level < threshold
    return _Frames(_close_blips(silent), frame / sample_rate)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indices of the runs of True in a boolean array."""
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _close_blips(silent: np.ndarray) -> np.ndarray:
    """Count a sound of at most MAX_BLIP_FRAMES frames between two silent frames as silence."""
    starts, ends = _runs(~silent)
    short = (ends - starts <= MAX_BLIP_FRAMES) & (starts > 0) & (ends < silent.size)
    if not short.any():
        return silent
    closed = silent.copy()
    for start, end in zip(starts[short], ends[short], strict=True):
        closed[start:end] = True
    return closed


def _span(frames: _Frames, duration: float) -> tuple[float, float]:
    sounding = np.flatnonzero(~frames.silent)
    if sounding.size == 0:
        return 0.0, duration
    return float(sounding[0] * frames.frame_seconds), min((int(sounding[-1]) + 1) * frames.frame_seconds, duration)


def speech_span(samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Seconds from the chunk start to its first sound and to the end of its last sound.

    Audio with no sound at all spans the whole chunk, so sentences still get (proportional) times.
    """
    return _span(_frames(samples, sample_rate), len(samples) / sample_rate)


def _pauses(frames: _Frames, min_pause_seconds: float) -> list[tuple[float, float]]:
    starts, ends = _runs(frames.silent)
    # Strictly inside the speech: not the silence before the first sound or after the last.
    inside = (starts > 0) & (ends < frames.silent.size)
    long_enough = (ends - starts) * frames.frame_seconds >= min_pause_seconds - 1e-9
    keep = inside & long_enough
    return [
        (float(s * frames.frame_seconds), float(e * frames.frame_seconds))
        for s, e in zip(starts[keep], ends[keep], strict=True)
    ]


def find_pauses(
    samples: np.ndarray, sample_rate: int, *, min_pause_seconds: float = MIN_PAUSE_SECONDS
) -> list[tuple[float, float]]:
    """Silent intervals of at least `min_pause_seconds` strictly inside the speech, in seconds, in order.

    Frames of about 10 ms are silent below a threshold set from the chunk's own speech level and
    noise floor (with an absolute floor), so a noisy floor or quiet speech moves the threshold with it.
    """
    return _pauses(_frames(samples, sample_rate), min_pause_seconds)


@dataclass(frozen=True)
class _Nodes:
    """Places a boundary can sit: node 0 is the speech onset, 1..P the pauses, P+1 the speech end."""

    ends: np.ndarray  # when the sentence before the node ends (a pause's start)
    starts: np.ndarray  # when the sentence after it starts (a pause's end)
    bonus: np.ndarray  # PAUSE_WEIGHT x log(pause length / shortest pause); 0 for onset and end


def _nodes(onset: float, offset: float, pauses: list[tuple[float, float]], min_pause_seconds: float) -> _Nodes:
    pause_starts = np.array([onset, *(start for start, _ in pauses), offset])
    pause_ends = np.array([onset, *(end for _, end in pauses), offset])
    bonus = np.zeros(len(pauses) + 2)
    lengths = np.maximum(pause_ends[1:-1] - pause_starts[1:-1], min_pause_seconds)
    bonus[1:-1] = PAUSE_WEIGHT * np.log(lengths / min_pause_seconds)
    return _Nodes(ends=pause_starts, starts=pause_ends, bonus=bonus)


def _assign(
    nodes: _Nodes,
    admissible: list[np.ndarray],
    characters: np.ndarray,
    clauses: np.ndarray,
    rate: float,
) -> dict[int, int]:
    """Boundary -> pause node for the boundaries that get one: the cheapest path from onset to end.

    A dynamic programme over boundaries x pauses: a state is "boundary k sits at node p"; a step
    from state (k', q) to (k, p) speaks sentences k'..k-1 between the two nodes and leaves the
    boundaries in between without a pause. Pauses are used at most once and in order.

    A step costs how far its duration is from the characters' share at `rate`, on a log scale and
    not squared (a sentence of numbers may take three times its share without dragging the other
    boundaries along), plus each pause it passes over that neither a clause mark nor a skipped
    boundary explains, plus each skipped boundary; reaching a pause earns its length bonus.
    All earlier states are kept in flat arrays: one matrix of steps per boundary, not one per k'.
    """
    size = 1 + sum(nodes_k.size for nodes_k in admissible[1:])
    boundary = np.zeros(size, dtype=int)  # per state: its boundary k (state 0: the onset)
    node = np.zeros(size, dtype=int)  # its node
    cost = np.zeros(size)  # the cheapest path reaching it
    parent = np.full(size, -1)  # the state that path came from
    filled = 1
    for k in range(1, len(admissible)):
        after = admissible[k]
        if after.size == 0:
            continue
        done = slice(0, filled)
        q, p = node[done, None], after[None, :]
        skipped = (k - boundary[done] - 1)[:, None]
        duration = nodes.ends[p] - nodes.starts[q]
        valid = (p > q) & (duration > 0)
        expected = rate * (characters[k] - characters[boundary[done]])[:, None]
        mismatch = np.abs(np.log(np.where(valid, duration, 1.0) / expected))
        unexplained = np.maximum(p - q - 1 - (clauses[k] - clauses[boundary[done]])[:, None] - skipped, 0)
        total = cost[done, None] + mismatch + UNEXPLAINED_PAUSE_COST * unexplained + SKIP_COST * skipped
        total = np.where(valid, total, np.inf)
        best = np.argmin(total, axis=0)
        new = slice(filled, filled + after.size)
        boundary[new], node[new], parent[new] = k, after, best
        cost[new] = total[best, np.arange(after.size)] - nodes.bonus[after]
        filled += after.size
    assigned: dict[int, int] = {}
    state = int(parent[-1])  # the last state is the speech end; walk back from the state before it
    while state > 0:
        assigned[int(boundary[state])] = int(node[state])
        state = int(parent[state])
    return assigned


def _weights(sentences: Sequence[str]) -> np.ndarray:
    # Characters that are spoken: whitespace is not; every sentence counts at least one.
    return np.array([max(1, sum(not c.isspace() for c in sentence)) for sentence in sentences], dtype=float)


def place_sentences(sentences: list[str], samples: np.ndarray, sample_rate: int) -> SentenceTiming:
    """Each sentence's span in the chunk, its boundaries at pauses chosen near where they are expected.

    The first sentence starts at the first sound, the last ends at the last; sentence i ends where
    its pause starts and sentence i+1 starts where it ends. A boundary only considers pauses within
    the tolerance of its expected place (its cumulative character share of the speech); among
    those, the assignment of pauses to boundaries minimises, over the whole chunk, how far each
    sentence's duration is from its share, pauses inside sentences that no clause mark explains,
    and (favouring) the length of the pauses chosen. A boundary left without a pause is placed by
    character share between the boundaries found on either side of it.
    """
    if not sentences:
        raise NarrationInputError("sentences", "no sentences to place")
    frames = _frames(samples, sample_rate)
    onset, offset = _span(frames, len(samples) / sample_rate)
    if len(sentences) == 1:
        return SentenceTiming([(onset, offset)], "pauses")
    pauses = _pauses(frames, MIN_PAUSE_SECONDS)
    weights = _weights(sentences)
    characters = np.concatenate(([0.0], np.cumsum(weights)))
    clauses = np.concatenate(([0], np.cumsum([len(_CLAUSE_MARK.findall(sentence)) for sentence in sentences])))
    speech = offset - onset
    expected = onset + speech * characters[1:-1] / characters[-1]
    tolerance = max(TOLERANCE_SHARE * speech, TOLERANCE_SECONDS)

    nodes = _nodes(onset, offset, pauses, MIN_PAUSE_SECONDS)
    inner_ends, inner_starts = nodes.ends[1:-1], nodes.starts[1:-1]
    admissible = [np.zeros(1, dtype=int)]
    for position in expected:
        distance = np.maximum(np.maximum(inner_ends - position, position - inner_starts), 0.0)
        admissible.append(np.flatnonzero(distance <= tolerance) + 1)
    admissible.append(np.array([len(pauses) + 1]))

    # The speaking rate: first over the whole speech, then without the pauses the first pass chose.
    rate = speech / characters[-1]
    assigned = _assign(nodes, admissible, characters, clauses, rate)
    if assigned:
        chosen = [int(node) for node in assigned.values()]
        rate = (speech - float(np.sum(nodes.starts[chosen] - nodes.ends[chosen]))) / characters[-1]
        assigned = _assign(nodes, admissible, characters, clauses, rate)

    # ends[b]: where sentence b-1 ends; starts[b]: where sentence b starts (boundaries 0 and n included).
    anchors = [0, *sorted(assigned), len(sentences)]
    node_of = {0: 0, len(sentences): len(pauses) + 1, **assigned}
    ends = np.empty(len(sentences) + 1)
    starts = np.empty(len(sentences) + 1)
    for boundary in anchors:
        ends[boundary], starts[boundary] = nodes.ends[node_of[boundary]], nodes.starts[node_of[boundary]]
    for left, right in itertools.pairwise(anchors):
        for boundary in range(left + 1, right):
            share = (characters[boundary] - characters[left]) / (characters[right] - characters[left])
            ends[boundary] = starts[boundary] = starts[left] + (ends[right] - starts[left]) * share
    spans = [(float(starts[i]), float(ends[i + 1])) for i in range(len(sentences))]

    found, boundaries = len(assigned), len(sentences) - 1
    method = "pauses" if found == boundaries else "proportional" if found == 0 else "mixed"
    return SentenceTiming(spans, method)
