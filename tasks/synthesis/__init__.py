"""Synthesis: from chunks to checked audio in the chunk store, through any provider.

Planning keys each chunk for its provider; batching splits the missing ones into task runs; the
gate admits requests (cap, answers in hand, 429 hold-off, pacing); the retry policy decides what
is worth another paid attempt; the audio check decides what is trusted; `providers/` holds one
protocol module per provider, long-job steps included. Task runs: `tasks.synthesis.task_runs`.
"""

from tasks import lazy_exports

__all__ = [
    "ProviderGate",
    "call_with_retries",
    "check_audio",
    "engine_for",
    "gate_for",
    "is_retryable",
    "load_provider",
    "load_storage",
    "plan_for",
    "split_requests",
    "synthesize_batch",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ProviderGate": ".gate",
        "gate_for": ".gate",
        "call_with_retries": ".retry_policy",
        "is_retryable": ".retry_policy",
        "check_audio": ".audio_check",
        "engine_for": ".providers",
        "load_provider": ".block_loading",
        "load_storage": ".block_loading",
        "plan_for": ".planning",
        "split_requests": ".batching",
        "synthesize_batch": ".synthesize",
    },
)
