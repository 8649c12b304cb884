"""A moto S3 server on a free loopback port, for real s3fs traffic in tests (served by tests.moto_app)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.prefect_server import ROOT, free_port, stop_process_group


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="moto-", suffix=".log")[1])
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.moto_app", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url, timeout=1)
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.2)

    @property
    def storage_options(self) -> dict:
        return {
            "key": "moto-access-key",
            "secret": "moto-secret-key-SECRET",
            "client_kwargs": {"endpoint_url": self.url, "region_name": "us-west-2"},
        }

    def stop(self) -> None:
        stop_process_group(self.process)
