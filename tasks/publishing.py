"""Publishing: subtitles and manifest beside the audio, each written atomically, then artifacts and an event.

The manifest goes last: once it names the new audio, everything it points to is in place.
"""

from __future__ import annotations

import fsspec
from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from tasks.atomic_files import write_bytes_atomic
from tasks.models import Manifest
from tasks.subtitles import Cue, to_srt, to_vtt

AUDIO_CREATED_EVENT = "narration.audio.created"


def _summary_markdown(manifest: Manifest) -> str:
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


@task(name="publish-narration", cache_policy=NO_CACHE)
async def publish_narration(manifest: Manifest, texts: list[str], manifest_url: str) -> Manifest:
    """Write .srt, .vtt and the manifest; record a summary artifact; emit `narration.audio.created`."""
    cues = [
        Cue(start_seconds=c.start_seconds, end_seconds=c.start_seconds + c.duration_seconds, text=text)
        for c, text in zip(manifest.chunks, texts, strict=True)
    ]
    for kind, render in (("srt", to_srt), ("vtt", to_vtt)):
        fs, path = fsspec.core.url_to_fs(manifest.subtitles[kind])
        write_bytes_atomic(fs, path, render(cues).encode("utf-8"))
    fs, path = fsspec.core.url_to_fs(manifest_url)
    write_bytes_atomic(fs, path, manifest.model_dump_json(indent=2).encode("utf-8"))
    await acreate_markdown_artifact(
        markdown=_summary_markdown(manifest), key="narration-summary", description=f"Narration {manifest.name}"
    )
    emit_event(
        event=AUDIO_CREATED_EVENT,
        resource={"prefect.resource.id": f"narration.audio.{manifest.audio}", "prefect.resource.name": manifest.name},
        payload={
            "audio": manifest.audio,
            "manifest_url": manifest_url,
            "manifest": manifest.model_dump(mode="json", exclude={"chunks"}),
        },
    )
    return manifest
