"""The soak's S3 variant (``benchmarks/soak.py --storage s3``): sources and thumbnails on
S3Storage at the test suite's endpoint (``tests/s3.py``: moto's server behind its counting and
fault-injecting HTTP proxy).

The storage phases are then faults of the endpoint, not of a storage class: slow PUTs or
PUTs answered 503 (thumbnail writes), slow GETs or GETs answered 500 (source reads; a render
reads nothing else from S3). botocore retries as ``tests.s3.client_config`` says (2 attempts).
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PREFIX = "thumbs"


class S3Media:
    def __init__(self) -> None:
        from tests.s3 import Endpoint

        self.endpoint = Endpoint()
        self.bucket = self.endpoint.new_bucket()

    def backend(self) -> dict[str, Any]:
        from tests.s3 import s3_backend

        return s3_backend(self.endpoint, self.bucket)

    def upload(self, root: Path, under: str) -> int:
        """Every file below ``root`` to the bucket as ``under`` + its relative path (moto
        directly: not counted, never faulted)."""
        count = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = f"{under}{path.relative_to(root).as_posix()}"
            self.endpoint.client.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())
            count += 1
        return count

    @contextlib.contextmanager
    def fault(self, save: str, open: str, delay: float) -> Iterator[None]:
        """The storage phase's fault at the endpoint, for as long as the block runs."""
        proxy = self.endpoint.proxy
        with contextlib.ExitStack() as stack:
            if save:
                mode = "slow" if save == "slow" else "503"
                stack.enter_context(proxy.failing(mode, method="PUT", hold=delay))
            if open:
                mode = "slow" if open == "slow" else "500"
                stack.enter_context(proxy.failing(mode, method="GET", hold=delay))
            yield

    def files(self) -> tuple[int, int]:
        """(objects, temporary objects) under the thumbnails' prefix."""
        keys = self.endpoint.keys(self.bucket, f"{PREFIX}/")
        temps = sum(posixpath.basename(k).startswith(".thumbkit-") for k in keys)
        return len(keys), temps

    def requests(self) -> dict[str, int]:
        proxy = self.endpoint.proxy
        return {"s3_puts": proxy.count("PUT"), "s3_gets": proxy.count("GET")}

    def close(self) -> None:
        self.endpoint.close()
