"""Publishing: subtitles and manifest beside the audio, each written atomically, the manifest last.

Once the manifest names the new audio, everything it points to is in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import fsspec

from tasks.models import Manifest
from tasks.output.cues import Cue
from tasks.output.manifest_json import write_manifest_json
from tasks.output.subtitle_files import check_subtitle_format, write_subtitles
from tasks.store.atomic_files import make_file_atomic


def write_subtitle_file(url: str, kind: str, cues: Sequence[Cue]) -> None:
    """Write the cues to `url` as `kind` ("srt" or "vtt"), streamed to the file."""
    check_subtitle_format(kind)  # before anything is written
    fs, path = fsspec.core.url_to_fs(url)

    def make(local_path: str) -> None:
        with open(local_path, "w", encoding="utf-8", newline="") as stream:
            write_subtitles(cues, kind, stream)

    make_file_atomic(fs, path, make, suffix=f".{kind}")


def write_manifest(manifest: Manifest, manifest_url: str) -> None:
    """Write the manifest; published last, it makes the files it names the narration's current version."""
    fs, path = fsspec.core.url_to_fs(manifest_url)

    def make(local_path: str) -> None:
        with open(local_path, "wb") as stream:
            write_manifest_json(manifest, stream)

    make_file_atomic(fs, path, make, suffix=".json")


def summary_markdown(manifest: Manifest) -> str:
    """The run's summary for the Prefect UI: what was made, its chapters and loudness, and per chunk what it cost."""
    rows = "\n".join(
        f"| {c.index} | {c.start_seconds:.2f} | {c.duration_seconds:.2f} | {c.characters} | {'yes' if c.cached else 'no'} | {c.timing or ''} |"
        for c in manifest.chunks[:200]
    )
    more = f"\n\n…and {len(manifest.chunks) - 200} more chunks." if len(manifest.chunks) > 200 else ""
    chapters = "".join(
        f"| {i + 1} | {c.title} | {c.start_seconds:.1f} | {c.end_seconds:.1f} |\n"
        for i, c in enumerate(manifest.chapters)
    )
    chapter_table = (
        f"\n## Chapters\n\n| # | title | start s | end s |\n|---|---|---|---|\n{chapters}" if chapters else ""
    )
    loudness = (
        f"- **Loudness**: {manifest.loudness.integrated_lufs:.1f} LUFS (target {manifest.loudness.target_lufs:g}), "
        f"true peak {manifest.loudness.true_peak_dbtp:.1f} dBTP\n"
        if manifest.loudness and manifest.loudness.integrated_lufs is not None
        else ""
    )
    return (
        f"# Narration `{manifest.name}`\n\n"
        f"- **Audio**: `{manifest.audio}`\n- **Duration**: {manifest.duration_seconds:.2f} s\n"
        f"- **Provider**: {manifest.provider} (voice {manifest.voice}, speed {manifest.speed})\n"
        f"- **Chunks**: {len(manifest.chunks)} ({manifest.chunks_synthesized} synthesized, "
        f"{manifest.chunks_cached} from the chunk store)\n- **Characters**: {manifest.characters}\n{loudness}"
        f"{chapter_table}\n## Chunks\n\n"
        f"| chunk | start s | duration s | characters | cached | timing |\n|---|---|---|---|---|---|\n{rows}{more}\n"
    )
