"""A moto S3 server on a free loopback port, for real s3fs traffic in tests (served by tests.moto_app)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.prefect_server import ROOT, free_port, status_of, stop_process_group, wait_until_ready


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
        try:
            wait_until_ready(
                self.process,
                lambda: status_of(self.url, timeout=1) is not None,
                60,
                0.2,
                lambda: f"moto did not start: {self.log.read_text()[-2000:]}",
            )
        except BaseException:  # interrupted while starting too (Ctrl-C, SIGTERM): leave nothing running
            self.stop()
            raise

    @property
    def storage_options(self) -> dict:
        return {
            "key": "moto-access-key",
            "secret": "moto-secret-key-SECRET",
            "client_kwargs": {"endpoint_url": self.url, "region_name": "us-west-2"},
        }

    def stop(self) -> None:
        stop_process_group(self.process)
