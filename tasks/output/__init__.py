"""Output: where a narration goes, its assembly from stored chunks, subtitles, manifest, publishing, progress.

Library code except `progress` (it updates a Prefect artifact); the task runs are in `tasks.output.task_runs`.
"""

from tasks import lazy_exports

__all__ = [
    "build_manifest",
    "check_writable",
    "join_url",
    "name_for",
    "write_manifest",
    "write_narration",
    "write_subtitle_file",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "build_manifest": ".manifest",
        "check_writable": ".location",
        "join_url": ".location",
        "name_for": ".location",
        "write_narration": ".assembly",
        "write_manifest": ".publishing",
        "write_subtitle_file": ".publishing",
    },
)
