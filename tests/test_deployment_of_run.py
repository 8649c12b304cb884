"""Whether a run belongs to a deployment (only those are held to the worker's allowed places), known
from Prefect's run context without reading the run back from the API.

Deployment runs are held to the worker's places in
tests/test_deployments.py::test_deployment_runs_touch_only_the_places_the_worker_allows.
"""

from __future__ import annotations

from prefect import flow
from prefect.client.orchestration import PrefectClient

from flows.allowed import deployment_of_this_run, roots_for_this_run


def test_a_run_started_by_hand_belongs_to_no_deployment_and_its_own_run_is_not_read_again(prefect_api_url, monkeypatch):
    reads = []
    read_flow_run = PrefectClient.read_flow_run

    async def counting_read(self, flow_run_id):
        reads.append(flow_run_id)
        return await read_flow_run(self, flow_run_id)

    @flow
    def nested() -> str | None:
        return deployment_of_this_run()

    @flow
    def by_hand() -> tuple[str | None, list[str] | None, int, str | None]:
        monkeypatch.setattr(PrefectClient, "read_flow_run", counting_read)
        own, roots, count = deployment_of_this_run(), roots_for_this_run(), len(reads)
        return own, roots, count, nested()

    own, roots, reads_at_the_top, in_a_subflow = by_hand()
    assert own is None and roots is None
    assert reads_at_the_top == 0
    assert in_a_subflow is None  # a subflow asks Prefect, which reads the subflow's run: no deployment
