"""moto's S3 served by uvicorn, which keeps HTTP connections open between requests, as S3 does.

moto's own `moto_server` (werkzeug's development server) answers every request with `Connection: close`,
so each S3 request through it cost a new TCP connection in the client and a new thread in moto. In the
fleet benchmark that was CPU the flow runs lacked, spent on a cost that real S3 does not have.

moto's server also keeps S3 metadata header names that hold underscores, which these tests never send.
uvicorn runs at most ten requests at once through its WSGI middleware.

Run as `python -m tests.moto_app --host 127.0.0.1 --port N`.
"""

from __future__ import annotations

import argparse
import os
import warnings

import uvicorn
from moto.server import DomainDispatcherApplication, create_backend_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(arguments.port))  # as moto_server sets it, for URLs moto builds
    # uvicorn serves WSGI apps through a middleware it marks deprecated; it is what keeps connections open here
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="uvicorn")
    application = DomainDispatcherApplication(create_backend_app)
    uvicorn.run(application, host=arguments.host, port=arguments.port, interface="wsgi", log_level="warning")


if __name__ == "__main__":
    main()
