"""Store: content-addressed chunk audio (the resume and regeneration mechanism), encoded segments, atomic writes.

Pure library code over fsspec: no Prefect, no encoding.
"""

from tasks import lazy_exports

__all__ = ["ChunkStore", "SegmentStore", "chunk_key", "put_file_atomic", "write_bytes_atomic"]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ChunkStore": ".chunk_store",
        "SegmentStore": ".segments",
        "chunk_key": ".chunk_keys",
        "put_file_atomic": ".atomic_files",
        "write_bytes_atomic": ".atomic_files",
    },
)
