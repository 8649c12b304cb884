"""Subjects held alone across workers (an output while it is published, a document while it is regenerated)
are held through a bounded set of Prefect limits, however many documents a pipeline narrates."""

from __future__ import annotations

import re

from tasks.synthesis.global_limits import EXCLUSIVE_STRIPES, exclusive_name


def test_twenty_thousand_outputs_share_a_fixed_set_of_limits():
    names = {exclusive_name("output", f"s3://narrations/book-{i}.manifest.json") for i in range(20_000)}
    assert len(names) == EXCLUSIVE_STRIPES
    assert all(re.fullmatch(r"narration-output-\d{4}", name) for name in names)  # Prefect's naming rules


def test_a_subject_always_has_the_same_limit_and_kinds_never_share_one():
    subject = "s3://narrations/book.manifest.json"
    assert exclusive_name("output", subject) == exclusive_name("output", subject)
    assert exclusive_name("output", subject) != exclusive_name("output", "s3://narrations/other.manifest.json")
    assert exclusive_name("document", subject).startswith("narration-document-")
