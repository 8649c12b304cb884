"""Text: reading a document (fsspec URL or inline), refusing bad input early, cutting it into chunks.

Pure library code: no Prefect, no audio. The Prefect task runs are in `tasks.text.task_runs`.
"""

from tasks import lazy_exports

__all__ = ["check_text", "normalise_text", "plan_chunks", "read_source_text", "scan_documents", "split_paragraphs"]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "check_text": ".intake",
        "normalise_text": ".intake",
        "read_source_text": ".intake",
        "plan_chunks": ".chunking",
        "split_paragraphs": ".chunking",
        "scan_documents": ".sources",
    },
)
