"""Publishing: subtitles and manifest beside the audio, each written atomically, the manifest last.

Once the manifest names the new audio, everything it points to is in place.
"""

from __future__ import annotations

import fsspec

from tasks.models import Manifest
from tasks.output.subtitles import Cue, to_srt, to_vtt
from tasks.store.atomic_files import write_bytes_atomic


def write_subtitles_and_manifest(manifest: Manifest, texts: list[str], manifest_url: str) -> None:
    """Write .srt and .vtt from the manifest's chunk timings, then the manifest itself."""
    cues = [
        Cue(start_seconds=c.start_seconds, end_seconds=c.start_seconds + c.duration_seconds, text=text)
        for c, text in zip(manifest.chunks, texts, strict=True)
    ]
    for kind, render in (("srt", to_srt), ("vtt", to_vtt)):
        fs, path = fsspec.core.url_to_fs(manifest.subtitles[kind])
        write_bytes_atomic(fs, path, render(cues).encode("utf-8"))
    fs, path = fsspec.core.url_to_fs(manifest_url)
    write_bytes_atomic(fs, path, manifest.model_dump_json(indent=2).encode("utf-8"))


def summary_markdown(manifest: Manifest) -> str:
    """The run's summary for the Prefect UI: what was made, and per chunk where it sits and whether it was paid."""
    rows = "\n".join(
        f"| {c.index} | {c.start_seconds:.2f} | {c.duration_seconds:.2f} | {c.characters} | {'yes' if c.cached else 'no'} |"
        for c in manifest.chunks[:200]
    )
    more = f"\n\n…and {len(manifest.chunks) - 200} more chunks." if len(manifest.chunks) > 200 else ""
    return (
        f"# Narration `{manifest.name}`\n\n"
        f"- **Audio**: `{manifest.audio}`\n- **Duration**: {manifest.duration_seconds:.2f} s\n"
        f"- **Provider**: {manifest.provider} (voice {manifest.voice}, speed {manifest.speed})\n"
        f"- **Chunks**: {len(manifest.chunks)} ({manifest.chunks_synthesized} synthesized, "
        f"{manifest.chunks_cached} from the chunk store)\n- **Characters**: {manifest.characters}\n\n"
        f"| chunk | start s | duration s | characters | cached |\n|---|---|---|---|---|\n{rows}{more}\n"
    )
