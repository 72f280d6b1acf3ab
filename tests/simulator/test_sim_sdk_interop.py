"""The official Huawei SDK cannot tell the simulator from the service.

The SDK writes $HOME/.huaweicloud when its core is imported, so every test points HOME at a temporary folder
first and imports inside the test.
"""

from datetime import datetime, timezone

import pytest

from pipeline.simulator import Faults, SimulatorConfig, run_simulator


@pytest.fixture
def sdk(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("HUAWEICLOUD_SDK_IAM_ENDPOINT", "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"):
        monkeypatch.delenv(name, raising=False)
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions import exceptions
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkcore.region.region import Region
    from huaweicloudsdkmodelarts.v1 import model as models
    from huaweicloudsdkmodelarts.v1.modelarts_client import ModelArtsClient

    class Sdk:
        exc = exceptions
        m = models
        Region_ = Region

        @staticmethod
        def client(sim, project_id=None, sk=None, region=None, retries=0):
            config = HttpConfig.get_default_config()
            config.ignore_ssl_verification = True
            config.retry_times = retries
            config.timeout = (5, 10)
            credentials = BasicCredentials(sim.ak, sk or sim.sk, project_id)
            builder = ModelArtsClient.new_builder().with_http_config(config).with_credentials(credentials)
            if region is not None:
                credentials.with_iam_endpoint(sim.url)
                return builder.with_region(Region(region, sim.url)).build()
            return builder.with_endpoints([sim.url]).build()

    return Sdk


@pytest.fixture
def sim():
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=6, seed=7)) as s:
        yield s


def test_list_and_show_pools(sdk, sim):
    pid = sim.projects[0].id
    client = sdk.client(sim, pid)
    listed = client.list_pools(sdk.m.ListPoolsRequest())
    assert [p.metadata.name for p in listed.items] == [d["metadata"]["name"] for d in sim.fleet.pools(pid)]
    doc = sim.fleet.pools(pid)[0]
    shown = client.show_pool(sdk.m.ShowPoolRequest(pool_name=doc["metadata"]["name"]))
    assert shown.metadata.name == doc["metadata"]["name"]
    assert shown.spec.type == doc["spec"]["type"] and shown.status.phase == doc["status"]["phase"]
    record = sim.requests[-1]
    assert record.status == 200 and record.ak == sim.ak


def test_filters_as_the_sdk_sends_them(sdk, sim):
    pid = sim.projects[0].id
    docs = sim.fleet.pools(pid)
    name = docs[0]["metadata"]["labels"]["os.modelarts/name"]
    req = sdk.m.ListPoolsRequest(workspace_id="0", label_selector=f"os.modelarts/name={name}")
    got = sdk.client(sim, pid).list_pools(req)
    expected = [d["metadata"]["name"] for d in docs if d["metadata"]["labels"]["os.modelarts/name"] == name
                and d["metadata"]["labels"]["os.modelarts/workspace.id"] == "0"]
    assert [p.metadata.name for p in got.items] == expected


def test_unknown_pool_raises_with_the_request_id(sdk, sim):
    client = sdk.client(sim, sim.projects[0].id)
    with pytest.raises(sdk.exc.ClientRequestException) as info:
        client.show_pool(sdk.m.ShowPoolRequest(pool_name="pool-00000000-0000-0000-0000-000000000000"))
    e = info.value
    assert e.status_code == 404 and e.error_code == "ModelArts.50015001" and e.error_msg == "pool not found"
    assert e.request_id == sim.requests[-1].request_id


def test_wrong_sk_is_a_gateway_401(sdk, sim):
    client = sdk.client(sim, sim.projects[0].id, sk="not-the-secret")
    with pytest.raises(sdk.exc.ClientRequestException) as info:
        client.list_pools(sdk.m.ListPoolsRequest())
    assert info.value.status_code == 401 and info.value.error_code == "APIGW.0301"
    assert info.value.request_id == sim.requests[-1].request_id


def test_pagination_and_nodes(sdk, sim):
    pid = sim.projects[0].id
    client = sdk.client(sim, pid)
    names, token = [], None
    while True:
        page = client.list_resource_flavors(sdk.m.ListResourceFlavorsRequest(limit=4, _continue=token))
        names += [f.metadata.name for f in page.items]
        token = page.metadata._continue if page.metadata else None
        if not token:
            break
    assert names == [f["metadata"]["name"] for f in sim.fleet.flavors(pid)]
    doc = next(d for d in sim.fleet.pools(pid) if sim.fleet.nodes(pid, d["metadata"]["name"]))
    nodes = client.list_pool_nodes(sdk.m.ListPoolNodesRequest(pool_name=doc["metadata"]["name"], limit=500))
    assert len(nodes.items) == len(sim.fleet.nodes(pid, doc["metadata"]["name"]))


def test_nodes_read_by_the_sdk(sdk, sim):
    """ListPoolNodesRequest reads every node (no limit sent, as poolscope sends none): name, phase, AZ, IP, the
    billing label, and resources in whatever spelling (numbers become text: the SDK types them as str). It
    drops status.driver, os and plugins, which its model lacks; the raw JSON keeps them."""
    checked = 0
    for project in sim.projects:
        client = sdk.client(sim, project.id)
        for state in sim.fleet.pool_states(project.id):
            served = sim.fleet.nodes(project.id, state.name)
            got = client.list_pool_nodes(sdk.m.ListPoolNodesRequest(pool_name=state.name)).items or []
            assert [n.metadata.name for n in got] == [n["metadata"]["name"] for n in served]
            for node, doc in zip(got, served):
                status = doc["status"]
                assert (node.status.phase, node.status.az, node.status.private_ip) == \
                    (status["phase"], status["az"], status["privateIp"])
                assert node.spec.flavor == doc["spec"]["flavor"]
                assert node.metadata.labels.os_modelarts_billing_status == \
                    doc["metadata"]["labels"].get("os.modelarts/billing.status")
                assert node.status.resources.cpu == str(status["resources"]["cpu"])
                assert node.status.resources.memory == status["resources"]["memory"]
                for key, attr in (("nvidia.com/gpu", "nvidia_com_gpu"), ("huawei.com/ascend-snt9", "huawei_com_ascend_snt9"),
                                  ("huawei.com/ascend-snt3", "huawei_com_ascend_snt3")):
                    want = status["resources"].get(key)
                    assert getattr(node.status.resources, attr) == (None if want is None else str(want))
                if "availableResources" in status:
                    assert node.status.available_resources.cpu == str(status["availableResources"]["cpu"])
                else:
                    assert node.status.available_resources is None
                assert not hasattr(node.status, "driver") and not hasattr(node.status, "plugins")
                checked += 1
    assert checked > 10


def test_workload_statistics_read_by_the_sdk_in_its_shape_only(sdk, sim):
    """The SDK reads root `statistics` (integers); for the docs' root `statics` it returns nothing, which is
    why poolscope reads the raw JSON."""
    from pipeline.simulator.workloads import statics_shape, workload_counts

    shapes = set()
    for project in sim.projects:
        client = sdk.client(sim, project.id)
        for state in sim.fleet.pool_states(project.id):
            answer = client.show_workload_statistics(sdk.m.ShowWorkloadStatisticsRequest(pool_name=state.name))
            counts = workload_counts(sim.fleet.seed, state, sim.fleet.now)
            if statics_shape(sim.fleet.seed, state.name):
                shapes.add("statics")
                assert answer.statistics is None
                continue
            shapes.add("statistics")
            by_type = {i.type: i for i in answer.statistics.items}
            assert set(by_type) == set(counts)
            for kind, c in counts.items():
                assert by_type[kind].status.running == c["Running"] and by_type[kind].status.queue == c["Queue"]
                assert by_type[kind].status.completed == c["Completed"] and by_type[kind].total == sum(c.values())
            assert answer.statistics.total == sum(sum(c.values()) for c in counts.values())
    assert shapes == {"statics", "statistics"}


def test_project_id_lookup_through_iam(sdk, sim):
    """Without a project id the SDK asks IAM (`GET /v3/projects?name=<region>`), signed with the AK/SK."""
    client = sdk.client(sim, project_id=None, region="cn-east-3")
    listed = client.list_pools(sdk.m.ListPoolsRequest())
    assert len(listed.items) == len(sim.fleet.pools(sim.projects[1].id))
    assert [(r.path, r.query, r.status) for r in sim.requests[:1]] == [("/v3/projects", "name=cn-east-3", 200)]


def test_sdk_gives_up_on_429_as_documented(sdk):
    """The SDK's own retry only sees HTTP 429 and loses the APIGW.0308 body (reference section 7.4)."""
    with run_simulator(SimulatorConfig(projects=1, pools_per_project=1, faults=Faults())) as sim:
        sim.inject("throttle", count=5)
        client = sdk.client(sim, sim.projects[0].id, retries=0)
        with pytest.raises(sdk.exc.ClientRequestException) as info:
            client.list_pools(sdk.m.ListPoolsRequest())
        assert info.value.status_code == 429
        assert [r.fault for r in sim.requests] == ["throttle"]


def test_runtime_metrics_read_by_the_sdk(sdk, sim):
    # The SDK models only cpu, memory and tnt004 of the resource maps (it drops accelerator keys), but it reads
    # the answer: one item per pool, with the workload counts.
    pid = sim.projects[0].id
    client = sdk.client(sim, pid)
    answer = client.show_pool_runtime_metrics(sdk.m.ShowPoolRuntimeMetricsRequest())
    names = sorted(p.name for p in sim.fleet.pool_states(pid))
    assert [item.metadata.name for item in answer.items] == names
    first = answer.items[0].table
    assert first.capacity.value.cpu is not None and first.workload.allocated.sum >= 0


def test_pool_events_read_by_the_sdk(sdk, sim):
    # ListEventsResponse: the EventList envelope, metadata.continue paging, and every field of each item.
    sim.advance(24)
    pid = sim.projects[0].id
    client = sdk.client(sim, pid)
    pool = max(sorted(d["metadata"]["name"] for d in sim.fleet.pools(pid)), key=lambda n: len(sim.fleet.events(pid, n)))
    served = sim.fleet.events(pid, pool)
    assert len(served) >= 3
    got, token = [], None
    while True:
        page = client.list_events(sdk.m.ListEventsRequest(resource="pools", name=pool, limit=2, _continue=token))
        assert page.api_version == "v1" and page.kind == "EventList" and len(page.items) <= 2
        got += [{"apiVersion": e.api_version, "kind": e.kind, "type": e.type, "reason": e.reason,
                 "message": e.message, "count": e.count, "firstTimestamp": e.first_timestamp,
                 "lastTimestamp": e.last_timestamp} for e in page.items]
        token = page.metadata._continue if page.metadata else None
        if not token:
            break
        assert page.metadata.remaining_item_count == len(served) - len(got)
    assert got == served
    # since, as the SDK sends it (an integer): only what was last seen from that second on
    since = int(datetime.strptime(served[-1]["lastTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=timezone.utc).timestamp())
    later = client.list_events(sdk.m.ListEventsRequest(resource="pools", name=pool, since=since, type="Normal"))
    assert [e.message for e in later.items] == [e["message"] for e in served
                                                 if e["lastTimestamp"] >= served[-1]["lastTimestamp"]
                                                 and e["type"] == "Normal"]
    with pytest.raises(sdk.exc.ClientRequestException) as info:
        client.list_events(sdk.m.ListEventsRequest(resource="pools", name=pool, limit=501))
    assert info.value.status_code == 400 and info.value.error_code == "ModelArts.50004000"


def test_pool_monitor_read_by_the_sdk(sdk, sim):
    pid = sim.projects[0].id
    client = sdk.client(sim, pid)
    state = min(sim.fleet.pool_states(pid), key=lambda s: s.created_at)  # the oldest: every hour has a point
    end = int(sim.fleet.now.timestamp() * 1000)
    start = end - 6 * 3_600_000
    answer = client.show_pool_monitor(sdk.m.ShowPoolMonitorRequest(
        pool_name=state.name, time_range=f"{start}.{end}.360", statistics="average", period="3600"))
    record = sim.requests[-1]
    assert record.status == 200 and record.path.endswith(f"/pools/{state.name}/monitor")
    names = [m.metric.metric_name for m in answer.metrics]
    assert names[:2] == ["cpuUsage", "memUsedRate"]
    first = answer.metrics[0]
    assert first.metric.namespace == "PAAS.AGGR" and first.metric.dimensions[0].name == "clusterId"
    assert [p.timestamp for p in first.data_points] == [start + i * 3_600_000 for i in range(6)]
    assert all(p.unit == "Percent" and p.statistics[0].statistic == "average" for p in first.data_points)
    assert all(p.statistics[0].value == -1 or 0 <= p.statistics[0].value <= 100 for p in first.data_points)


def test_pool_monitor_limit_raises_in_the_sdk(sdk, sim):
    pid = sim.projects[0].id
    state = sim.fleet.pool_states(pid)[0]
    end = int(sim.fleet.now.timestamp() * 1000)
    with pytest.raises(sdk.exc.ClientRequestException) as info:
        sdk.client(sim, pid).show_pool_monitor(sdk.m.ShowPoolMonitorRequest(
            pool_name=state.name, time_range=f"{end - 86_460_000}.{end}.1441", period="60"))
    assert info.value.status_code == 400 and info.value.error_code == "ModelArts.50004000"
