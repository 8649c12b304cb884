"""Prefect blocks: provider settings and credentials (`prefect block register -m blocks`).

Only concrete blocks are exported here, so registering the module registers no base class.
"""

from blocks.local_speech import LocalSpeech

__all__ = ["LocalSpeech"]
