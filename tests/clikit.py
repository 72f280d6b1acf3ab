"""Running the real CLI from tests: the command, and an environment holding only the credentials a test means."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POOLSCOPE = [sys.executable, "-m", "pipeline.cli"]


def cli_env(ak: str | None = None, sk: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any HUAWEICLOUD_* variable (a developer's real keys must not leak
    into a test), with the given AK/SK, the repo importable, and `extra` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_")}
    env["PYTHONPATH"] = str(REPO)
    if ak is not None:
        env["HUAWEICLOUD_SDK_AK"] = ak
    if sk is not None:
        env["HUAWEICLOUD_SDK_SK"] = sk
    env.update(extra)
    return env
