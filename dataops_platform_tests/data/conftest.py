"""A real S3-compatible server on loopback (moto's ThreadedMotoServer): the client speaks the real S3 HTTP API."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

_BUCKETS = itertools.count()


@dataclass
class S3:
    endpoint: str
    client: Any

    def settings(self, **extra: Any) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(
            s3_endpoint_url=self.endpoint,
            s3_region="us-east-1",
            s3_access_key_id="testing",
            s3_secret_access_key="testing",
            source_timeout_seconds=5.0,
            **extra,
        )

    def bucket(self, versioned: bool = True) -> str:
        name = f"bucket-{next(_BUCKETS)}"
        self.client.create_bucket(Bucket=name)
        if versioned:
            self.client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    try:
        yield S3(endpoint, client)
    finally:
        server.stop()
