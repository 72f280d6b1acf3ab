"""pipeline/lake/storage.py: a storage.root and storage.s3 section become a local folder or a bucket, with errors
that name the key or variable; credentials only from the environment, never on the object; and, against a real
S3 server (SeaweedFS), the three ways in (delta-rs options, a pyarrow filesystem, DuckDB reading s3:// URIs)
reach the same bytes."""

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from pipeline.lake.storage import Storage, StorageError, credentials, storage_for
from s3kit import s3_server  # noqa: F401 -- the fixture

ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def test_a_local_root_is_a_folder(tmp_path):
    s = storage_for(str(tmp_path), environ={})
    assert s == Storage(local=tmp_path) and not s.is_s3
    assert s.uri("lake", "pools") == f"{tmp_path}/lake/pools"
    assert s.fs_path("lake", "raw", "x.json") == f"{tmp_path}/lake/raw/x.json"
    assert s.delta_options({}) == {}  # no credential needed, none asked for


def test_a_bucket_from_the_file(tmp_path):
    s = storage_for("s3://inventory-lake/prod/poolscope/", {"endpoint": "https://obs.cn-north-4.myhuaweicloud.com",
                                                           "region": "cn-north-4", "path_style": False}, environ={})
    assert (s.bucket, s.prefix, s.region, s.path_style) == ("inventory-lake", "prod/poolscope", "cn-north-4", False)
    assert s.endpoint == "https://obs.cn-north-4.myhuaweicloud.com"
    assert s.uri("lake", "pools") == "s3://inventory-lake/prod/poolscope/lake/pools"
    assert s.fs_path("lake") == "inventory-lake/prod/poolscope/lake"
    opts = s.delta_options(ENV)
    assert opts == {"AWS_REGION": "cn-north-4", "AWS_ACCESS_KEY_ID": ENV["AWS_ACCESS_KEY_ID"],
                    "AWS_SECRET_ACCESS_KEY": ENV["AWS_SECRET_ACCESS_KEY"], "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "true",
                    "AWS_ENDPOINT_URL": "https://obs.cn-north-4.myhuaweicloud.com"}
    assert "AWS_ALLOW_HTTP" not in opts


def test_the_standard_variables_fill_in_what_the_file_leaves_out():
    env = {**ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:8333/", "AWS_REGION": "eu-west-0", "AWS_SESSION_TOKEN": "tok"}
    s = storage_for("s3://lake", None, environ=env)
    assert (s.bucket, s.prefix, s.endpoint, s.region, s.path_style) == ("lake", "", "http://127.0.0.1:8333",
                                                                      "eu-west-0", True)
    assert s.uri() == "s3://lake" and s.uri("t") == "s3://lake/t"
    opts = s.delta_options(env)
    assert opts["AWS_ALLOW_HTTP"] == "true" and opts["AWS_SESSION_TOKEN"] == "tok"
    assert opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] == "false"
    # the file wins over the variables
    s = storage_for("s3://lake", {"region": "cn-north-4"}, environ={**env, "AWS_DEFAULT_REGION": "x"})
    assert s.region == "cn-north-4"
    assert storage_for("s3://lake", None, environ={"AWS_DEFAULT_REGION": "ap-southeast-1"}).region == "ap-southeast-1"
    assert storage_for("s3://lake", None, environ={"AWS_REGION": "x-1"}).endpoint is None  # the provider's default


@pytest.mark.parametrize("root, s3, env, message", [
    ("s3://Lake", {"region": "r"}, {}, "storage.root: 'Lake' is not a bucket name"),
    ("s3://a", {"region": "r"}, {}, "storage.root: 'a' is not a bucket name"),
    ("s3://ak:sk@lake/x", {"region": "r"}, {}, "storage.root: "),
    ("s3://lake/x?versionId=1", {"region": "r"}, {}, "with no credentials, query or '#'"),
    ("s3://lake/a//b", {"region": "r"}, {}, "the prefix has an empty, '.' or '..' part"),
    ("s3://lake/a/../b", {"region": "r"}, {}, "the prefix has an empty, '.' or '..' part"),
    ("s3://lake", None, {}, "storage.s3.region: needed for a bucket"),
    ("s3://lake", {"region": "cn north"}, {}, "storage.s3.region: 'cn north' is not a region name"),
    ("s3://lake", None, {"AWS_REGION": "bad region"}, "AWS_REGION: 'bad region' is not a region name"),
    ("s3://lake", {"region": "r", "bucket": "x"}, {}, "storage.s3.bucket: unknown key"),
    ("s3://lake", {"region": "r", "path_style": "yes"}, {}, "storage.s3.path_style: must be true or false"),
    ("s3://lake", {"region": "r", "endpoint": "http://obs.example.com"}, {},
     "storage.s3.endpoint: 'http://obs.example.com': plain http is allowed only on a loopback address"),
    ("s3://lake", {"region": "r"}, {"AWS_ENDPOINT_URL": "http://10.0.0.8:9000"},
     "AWS_ENDPOINT_URL: 'http://10.0.0.8:9000': plain http is allowed only on a loopback address"),
    ("s3://lake", {"region": "r", "endpoint": "https://obs.example.com/lake"}, {},
     "give the endpoint only (scheme, host, port)"),
    ("s3://lake", {"region": "r", "endpoint": "https://AKID:secret@obs.example.com"}, {},
     "storage.s3.endpoint: an endpoint URL must not carry credentials"),
    ("s3://lake", {"region": "r", "endpoint": "obs.example.com"}, {}, "is not an endpoint URL"),
    ("s3://lake", {"region": "r", "endpoint": "https://obs.example.com:99999"}, {}, "the port is not a number"),
    ("/srv/lake", {"region": "r"}, {}, "storage.s3: only for a bucket"),
    ("srv/lake", None, {}, "storage.root: 'srv/lake' must be an absolute path"),
])
def test_what_cannot_work_names_its_key(root, s3, env, message):
    with pytest.raises(StorageError) as err:
        storage_for(root, s3, environ=env)
    assert message in str(err.value)
    assert "secret" not in str(err.value).replace("must not carry credentials", "")


@pytest.mark.parametrize("host", ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000",
                                  "http://127.8.9.10"])
def test_plain_http_on_loopback_is_allowed(host):
    assert storage_for("s3://lake", {"region": "r", "endpoint": host}, environ={}).endpoint == host


def test_credentials_come_from_the_environment_only_and_never_sit_on_the_object():
    s = storage_for("s3://lake", {"region": "r"}, environ=ENV)
    for text in (repr(s), str(s.__dict__), s.describe()):
        assert ENV["AWS_SECRET_ACCESS_KEY"] not in text and ENV["AWS_ACCESS_KEY_ID"] not in text
    with pytest.raises(StorageError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"):
        s.delta_options({})
    with pytest.raises(StorageError, match="AWS_SECRET_ACCESS_KEY is not set"):
        credentials({"AWS_ACCESS_KEY_ID": "AKID"})
    assert credentials({**ENV, "AWS_SESSION_TOKEN": " "}) == (ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"],
                                                             None)


def test_the_three_ways_in_reach_the_same_bucket(s3_server, tmp_path):  # noqa: F811
    env = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    s = storage_for(f"s3://{s3_server.bucket}/team/poolscope",
                    {"endpoint": s3_server.endpoint, "region": s3_server.region}, environ=env)
    rows = pa.table({"snapshot_day": ["2026-12-01", "2026-12-01", "2026-12-02"], "pool_id": ["a", "b", "a"],
                     "nodes": [1, 2, 3]})
    write_deltalake(s.uri("lake", "pools"), rows, partition_by=["snapshot_day"], storage_options=s.delta_options(env))
    table = DeltaTable(s.uri("lake", "pools"), storage_options=s.delta_options(env))
    assert table.to_pyarrow_table().num_rows == 3

    # pyarrow's filesystem sees the same objects where fs_path() says
    fs = s.filesystem(env)
    with fs.open_output_stream(s.fs_path("lake", "raw", "body.json")) as out:
        out.write(b'{"kind": "PoolList"}')
    from pyarrow.fs import FileSelector
    listed = {i.path for i in fs.get_file_info(FileSelector(s.fs_path("lake", "pools"), recursive=True))}
    assert any(p.endswith(".parquet") and "snapshot_day=2026-12-02" in p for p in listed)

    # DuckDB reads the table's s3:// files and the raw object through the registered filesystem
    con = s.duckdb(environ=env)
    try:
        files = ", ".join(f"'{u}'" for u in table.file_uris())
        assert all(u.startswith(f"s3://{s3_server.bucket}/team/poolscope/lake/pools/") for u in table.file_uris())
        got = con.sql(f"SELECT snapshot_day, sum(nodes) FROM read_parquet([{files}], hive_partitioning = true, "
                      "hive_types = {'snapshot_day': VARCHAR}) GROUP BY ALL ORDER BY ALL").fetchall()
        assert got == [("2026-12-01", 3), ("2026-12-02", 3)]
        assert con.sql(f"SELECT content FROM read_text('{s.uri('lake', 'raw', 'body.json')}')").fetchall() == [(
            '{"kind": "PoolList"}',)]
    finally:
        con.close()

    # a wrong secret is refused by the server, and the error does not show it
    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "not-the-" + s3_server.secret_key}
    with pytest.raises(Exception) as err:
        DeltaTable(s.uri("lake", "pools"), storage_options=s.delta_options(wrong)).to_pyarrow_table()
    assert s3_server.secret_key not in str(err.value)
