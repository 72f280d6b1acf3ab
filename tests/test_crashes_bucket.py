"""The kill -9 suite of tests/test_crashes.py, with the lake in a bucket on a real S3 server (SeaweedFS): a module
of its own so that it runs on another pytest worker than the local-disk runs."""

import pytest

# The per-pool families' test is left to the local disk: its phases (packing, normalizing) are the work folder's,
# whatever the storage, and the commit it also kills is this one's.
from test_crashes import (  # noqa: F401 -- collected here with this module's `storage`
    bucket_storage, test_kill_9_at_16_moments_never_shows_a_partial_snapshot,
)


@pytest.fixture
def storage(tmp_path, monkeypatch):
    yield from bucket_storage(tmp_path, monkeypatch)
