"""The kill -9 suite of tests/test_crashes.py, with the lake in a bucket on a real S3 server (SeaweedFS): a module
of its own so that it runs on another pytest worker than the local-disk runs."""

import pytest

from s3kit import bucket_storage
from test_crashes import (  # noqa: F401 -- collected here with this module's `storage`
    test_kill_9_at_16_moments_never_shows_a_partial_snapshot,
    test_kill_9_while_per_pool_answers_land_and_normalize,
)


@pytest.fixture
def storage(tmp_path, monkeypatch):
    yield from bucket_storage(tmp_path, monkeypatch, "crash")
