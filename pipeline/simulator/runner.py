"""Running the simulator in-process: configuration, lifecycle, control, and the request log.

    with run_simulator(SimulatorConfig(projects=3, seed=7)) as sim:
        sim.url, sim.ak, sim.sk, sim.projects, sim.fleet, sim.advance(hours=1), sim.inject("throttle")
"""

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline.simulator.app import Api, Request, RequestRecord
from pipeline.simulator.auth import Authenticator, TokenStore
from pipeline.simulator.faults import FAULT_KINDS, FaultEngine, Faults
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.generate import DEFAULT_DOMAIN_NAME, DEFAULT_START
from pipeline.simulator.iam import PasswordAuth
from pipeline.simulator.projects import ProjectInfo
from pipeline.simulator.server import SimulatorHTTPServer

# A fixed pair anyone may use against the simulator; it opens nothing else, so printing it is fine.
DEMO_AK = "POOLSCOPEDEMOAK00001"
DEMO_SK = "poolscope-simulator-demo-sk-not-a-secret"


@dataclass
class SimulatorConfig:
    projects: int = 3
    pools_per_project: int = 5
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    ak: str | None = None  # None: the demo pair
    sk: str | None = field(default=None, repr=False)
    users: Iterable[tuple[str, str, str]] = field(default=(), repr=False)  # (name, password, domain name)
    token_ttl_s: float = 86400.0
    regions: tuple[str, ...] | None = None
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    start: datetime = DEFAULT_START
    security_token: str | None = field(default=None, repr=False)  # set: the AK is temporary and needs it
    domain_name: str = DEFAULT_DOMAIN_NAME
    max_clock_skew_s: float = 900.0
    max_records: int = 200_000  # the request log keeps the latest ones, so a long-running CLI stays bounded
    node_page_size: int = 500  # ListPoolNodes' page size when no limit is sent (smaller: clients meet continue)
    # The most events one ListEvents page holds whatever its limit asks (like a Kubernetes API server, the
    # service may answer fewer items than the limit, with a continue token): small values exercise paging.
    events_page_size: int = 500


class Simulator:
    def __init__(self, config: SimulatorConfig):
        if (config.ak is None) != (config.sk is None):
            raise ValueError("give both ak and sk, or neither for the demo pair")
        if not 1 <= config.node_page_size <= 500:
            raise ValueError("node_page_size must be 1..500")
        self.config = config
        self.ak = config.ak or DEMO_AK
        self.sk = config.sk or DEMO_SK
        self.fleet = Fleet(config.seed, config.projects, config.pools_per_project, config.start,
                           config.regions, config.domain_name)
        n_forbidden = max(0, min(config.faults.forbidden_projects, len(self.fleet.projects)))
        if n_forbidden:
            self.fleet.mark_forbidden({p.id for p in self.fleet.projects[-n_forbidden:]})
        tokens = TokenStore(config.token_ttl_s)
        self._faults = FaultEngine(config.faults, config.seed)
        self._records: deque[RequestRecord] = deque(maxlen=config.max_records)
        self._records_lock = threading.Lock()
        self.api = Api(
            fleet=self.fleet,
            auth=Authenticator(self.ak, self.sk, tokens, config.security_token, config.max_clock_skew_s),
            passwords=PasswordAuth(config.users, tokens, self.fleet.domain_id),
            faults=self._faults,
            record=self._append,
            control=self._control,
            node_page_size=config.node_page_size,
            events_page_size=config.events_page_size,
        )
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "Simulator":
        self._server = SimulatorHTTPServer((self.config.host, self.config.port), self.api)
        self.api.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="poolscope-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- what tests and the demo use ---------------------------------------------------------------------

    @property
    def projects(self) -> list[ProjectInfo]:
        return list(self.fleet.projects)

    def advance(self, hours: float = 1.0):
        return self.fleet.advance(hours)

    def inject(self, kind: str, count: int = 1, project_id: str | None = None, path_contains: str | None = None,
               retry_after_s: float | None = None, status: int | None = None) -> None:
        """The next `count` requests matching the filters get fault `kind` (see faults.FAULT_KINDS)."""
        self._faults.inject(kind, count, project_id, path_contains, retry_after_s, status)

    def set_rate_limit(self, rate_limit: float) -> None:
        """The per-credential throttle from now on (requests per second; 0: none)."""
        self._faults.set_rate_limit(rate_limit)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._records_lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    def _append(self, record: RequestRecord) -> None:
        with self._records_lock:
            self._records.append(record)

    def write_config(self, path: str | Path, storage_root: str = "./data") -> Path:
        """The pipeline's poolscope.yaml for every simulated project. Holds no secrets: the client takes
        its AK/SK from the environment."""
        lines = [
            "# Written by `poolscope simulator`: every simulated project, one target each.",
            "# Credentials come from HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK, never from this file.",
            "storage:",
            f"  root: {json.dumps(str(storage_root))}",
            "credentials:",
            "  method: aksk",
            "targets:",
        ]
        for p in self.fleet.projects:
            lines += [f"  - region: {p.region}", f"    project_id: {json.dumps(p.id)}", f"    endpoint: {self.url}"]
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return out

    # -- HTTP control endpoint (loopback only, unauthenticated) ---------------------------------------

    def _control(self, req: Request, path: str, query: dict[str, str]) -> tuple[int, dict]:
        try:
            if path == "/_simulator/advance" and req.method == "POST":
                changes = self.advance(float(query.get("hours", "1")))
                return 200, {"now": self.fleet.now.isoformat(), "tick": self.fleet.tick, "changes": len(changes)}
            if path == "/_simulator/inject" and req.method == "POST":
                status = query.get("status")
                retry = query.get("retry_after_s")
                self.inject(query.get("kind", ""), int(query.get("count", "1")), query.get("project_id"),
                            query.get("path_contains"), float(retry) if retry else None,
                            int(status) if status else None)
                return 200, {"pending": self._faults.pending()}
            if path == "/_simulator/throttle" and req.method == "POST":
                self.set_rate_limit(float(query.get("rate_limit", "")))
                return 200, {"rate_limit": self._faults.faults.rate_limit}
            if path == "/_simulator/state" and req.method == "GET":
                return 200, self._state()
        except ValueError as e:
            return 400, {"error": str(e)}
        return 404, {"error": "unknown control endpoint",
                     "endpoints": ["POST /_simulator/advance?hours=H", "POST /_simulator/inject?kind=K&count=N",
                                   "POST /_simulator/throttle?rate_limit=R", "GET /_simulator/state"], "fault_kinds": list(FAULT_KINDS)}

    def _state(self) -> dict:
        return {
            "now": self.fleet.now.isoformat(),
            "tick": self.fleet.tick,
            "requests": len(self.requests),
            "projects": [
                {"id": p.id, "name": p.name, "region": p.region, "forbidden": p.forbidden,
                 "pools": len(self.fleet.pools(p.id))}
                for p in self.fleet.projects
            ],
        }


@contextmanager
def run_simulator(config: SimulatorConfig | None = None) -> Iterator[Simulator]:
    sim = Simulator(config or SimulatorConfig()).start()
    try:
        yield sim
    finally:
        sim.stop()
