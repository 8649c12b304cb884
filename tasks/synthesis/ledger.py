"""What a run has paid for, per chunk and in all: attempts, billed characters, and the run's budget.

Prefect re-runs a failed batch in the same process, so the ledger lives as long as the run, not
the task run: a chunk is requested at most `max_attempts` times in a run, Prefect's task retries
included, and an answer that fails its check the same way twice stops that chunk. A run with a
budget (`max_billed_characters`) never sends a request that could take it over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.errors import NarrationInputError, ProviderError


class BudgetExceeded(ProviderError):
    """The next request could cross the run's budget of billed characters: stop before paying it."""


@dataclass
class ChunkAccount:
    attempts: int = 0
    billed_characters: int = 0
    last_check_failure: str | None = None
    last_error: str | None = None  # what the last failed attempt said, for the error once attempts are spent


@dataclass
class RunLedger:
    """Per-chunk attempts and the characters billed in one narration run."""

    max_attempts: int
    budget: int | None = None
    chunks: dict[str, ChunkAccount] = field(default_factory=dict)
    billed: int = 0
    reserved: int = 0

    def account(self, key: str) -> ChunkAccount:
        return self.chunks.setdefault(key, ChunkAccount())

    def attempts_left(self, key: str) -> int:
        return self.max_attempts - self.account(key).attempts

    def begin_attempt(self, key: str, characters: int, provider: str, chunk_index: int) -> None:
        """Count one paid attempt, refusing it when the chunk has used its attempts or the budget would be crossed."""
        account = self.account(key)
        if account.attempts >= self.max_attempts:
            raise ProviderError(
                provider,
                f"requested {account.attempts} times in this run, the block's max_attempts",
                chunk_index=chunk_index,
            )
        if self.budget is not None and self.billed + self.reserved + characters > self.budget:
            raise BudgetExceeded(
                provider,
                f"sending {characters:,} more characters would take this run over its budget of "
                f"{self.budget:,} billed characters ({self.billed:,} billed so far): max_billed_characters",
                chunk_index=chunk_index,
            )
        account.attempts += 1
        self.reserved += characters

    def end_attempt(self, key: str, characters: int, billed: int | None) -> None:
        """The attempt was answered: the provider billed `billed` (or, when it does not say, what was sent)."""
        self.reserved -= characters
        charged = characters if billed is None else billed
        self.account(key).billed_characters += charged
        self.billed += charged

    def check_failed(self, key: str, failure: str) -> bool:
        """Record an answer that failed its check; True when it failed the same way before."""
        account = self.account(key)
        repeated = account.last_check_failure == failure
        account.last_check_failure = failure
        return repeated


def check_budget(characters_to_bill: int, budget: int | None) -> None:
    """Refuse a plan whose bill is over the budget, before anything is paid."""
    if budget is not None and characters_to_bill > budget:
        raise NarrationInputError(
            "max_billed_characters",
            f"the plan bills {characters_to_bill:,} characters, over the budget of {budget:,}",
        )


_ledgers: dict[str, RunLedger] = {}


def ledger_for(run_id: str, max_attempts: int, budget: int | None = None) -> RunLedger:
    """The run's ledger, made on first use; every task run of the flow run shares it."""
    ledger = _ledgers.get(run_id)
    if ledger is None:
        ledger = _ledgers[run_id] = RunLedger(max_attempts, budget)
    return ledger


def close_ledger(run_id: str) -> RunLedger | None:
    return _ledgers.pop(run_id, None)
