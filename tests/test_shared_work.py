"""A run of narrate-folder's share narrates its own documents, then other shares' unstarted ones, never twice.

Real Prefect runs and global limits on the session's server, the emulator as the provider, files on disk;
another run of the folder is played by the test holding a document's limit, as a worker's run would.
"""

from __future__ import annotations

import asyncio
import json

from flows.narrate_folder import narrate_folder
from flows.shared_work import MAX_SPARES, spares_for
from tasks.synthesis.global_limits import exclusive_name, held_alone
from tasks.text.sources import document_urls
from tests.provider_blocks import save_block


def test_spares_are_the_other_shares_documents_the_next_shares_first_each_from_its_end():
    groups = [["a1", "a2"], ["b1", "b2"], ["c1"]]
    assert spares_for(groups, 0) == ["b2", "b1", "c1"]
    assert spares_for(groups, 1) == ["c1", "a2", "a1"]
    assert spares_for(groups, 2) == ["a2", "a1", "b2", "b1"]
    many = [[f"d{i}"] for i in range(MAX_SPARES + 50)]
    assert len(spares_for(many, 0)) == MAX_SPARES


def _folder(tmp_path, names: list[str]) -> tuple[str, str, dict[str, str]]:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in names:
        (folder / f"{name}.txt").write_text(f"Document {name} is narrated once, by whichever run holds it.")
    urls = {url.rsplit("/", 1)[-1].removesuffix(".txt"): url for url in document_urls(str(folder))}
    return str(folder), str(tmp_path / "out"), urls


def test_a_run_done_with_its_own_documents_narrates_spares_nobody_holds(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "shared-work", chunk_characters=200)
    source, out, urls = _folder(tmp_path, ["own", "spare1", "spare2", "held"])

    async def main():
        # Another run of the folder is narrating "held": this run must leave it alone.
        async with held_alone(exclusive_name("document", urls["held"])):
            return await narrate_folder(
                source=source,
                output=out,
                provider=provider,
                fan_out=False,
                documents=[urls["own"]],
                spare_documents=[urls["spare2"], urls["held"], urls["spare1"]],
            )

    result = asyncio.run(main())
    assert result.narrated == [urls["own"], urls["spare2"], urls["spare1"]]  # own first, spares in the order given
    assert result.failed == [] and result.skipped == []
    assert emulator.served("openai") == 3  # one chunk each; nothing for the document another run held
    assert sorted(path.name for path in (tmp_path / "out").glob("*.manifest.json")) == [
        "own.manifest.json",
        "spare1.manifest.json",
        "spare2.manifest.json",
    ]


def test_an_own_document_another_run_holds_is_waited_for_and_not_paid_for_again(prefect_api_url, emulator, tmp_path):
    """The other run narrates it while holding it; this run takes its spare meanwhile, then finds it current."""
    provider = save_block("openai-speech", emulator.url, "shared-work", chunk_characters=200)
    source, out, urls = _folder(tmp_path, ["taken", "spare"])
    held = asyncio.Event()

    async def other_run() -> None:
        async with held_alone(exclusive_name("document", urls["taken"])):
            held.set()
            await asyncio.sleep(2.0)  # this run starts and scans meanwhile: "taken" is not narrated yet
            await narrate_folder(source=source, output=out, provider=provider, fan_out=False, documents=[urls["taken"]])

    async def main():
        other = asyncio.create_task(other_run())
        await held.wait()
        result = await narrate_folder(
            source=source,
            output=out,
            provider=provider,
            fan_out=False,
            documents=[urls["taken"]],
            spare_documents=[urls["spare"]],
        )
        await other
        return result

    result = asyncio.run(main())
    assert result.narrated == [urls["spare"]]
    assert result.skipped == [urls["taken"]]  # current once held: the other run narrated it
    assert emulator.served("openai") == 2  # each document paid for once
    manifest = json.loads((tmp_path / "out" / "taken.manifest.json").read_text())
    assert manifest["chunks_synthesized"] == 1
