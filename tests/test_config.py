"""poolscope.yaml validation: every bad input names the file and the key; relative paths follow the file."""

import textwrap
from pathlib import Path

import pytest

from pipeline.config import ConfigError, default_endpoint, load_config

PID = "0123456789abcdef0123456789abcdef"


def write(tmp_path: Path, text: str, name: str = "poolscope.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_full_example_from_the_issue_loads_with_defaults(tmp_path):
    p = write(tmp_path, f"""
        storage:
          root: ./data
        fetch:
          concurrency: 32
          rate_limit: 100
          timeout_s: 30
          max_attempts: 6
        credentials:
          method: aksk
        targets:
          - region: cn-north-4
            project_id: "{PID}"
            endpoint: https://modelarts.cn-north-4.myhuaweicloud.com
            workspace_id: "0"
            pools: [pool-7e3a1b2c-0000-4a5b-9c8d-1234567890ab]
        discover:
          regions: [cn-north-4, cn-east-3]
    """)
    cfg = load_config(p)
    assert cfg.root == (tmp_path / "data").resolve()
    assert cfg.fetch.concurrency == 32 and cfg.fetch.max_attempts == 6 and cfg.fetch.max_body_mb == 64
    assert cfg.targets[0].pools == ["pool-7e3a1b2c-0000-4a5b-9c8d-1234567890ab"]
    assert cfg.discover.regions == ["cn-north-4", "cn-east-3"]
    assert cfg.schedule.cron == "0 * * * *"
    assert cfg.path == p.resolve()


def test_relative_root_resolves_against_the_files_folder_not_the_cwd(tmp_path, monkeypatch):
    sub = tmp_path / "etc"
    sub.mkdir()
    p = write(sub, f"storage: {{root: ../lake-home}}\ntargets: [{{region: cn-east-3, project_id: '{PID}'}}]\n")
    monkeypatch.chdir("/")
    cfg = load_config(p)
    assert cfg.root == (tmp_path / "lake-home").resolve()
    assert cfg.targets[0].base_url == "https://modelarts.cn-east-3.myhuaweicloud.com"
    assert default_endpoint("ap-southeast-1") == "https://modelarts.ap-southeast-1.myhuaweicloud.cn"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("storage: {root: d}\ntargets: [{region: cn-north-4, project_id: 'p1', colour: red}]",
         "targets[0].colour: unknown key"),
        ("storage: {root: d}\nfetch: {concurrency: many}\ntargets: [{region: cn-north-4, project_id: p1}]",
         "fetch.concurrency:"),
        ("storage: {root: d}\nfetch: {max_attempts: 0}\ntargets: [{region: cn-north-4, project_id: p1}]",
         "fetch.max_attempts:"),
        ("storage: {root: d}\nfetch: {max_body_mb: 0}\ntargets: [{region: cn-north-4, project_id: p1}]",
         "fetch.max_body_mb: Input should be greater than or equal to 1"),
        ("storage: {root: d}\nfetch: {max_body_mb: '64'}\ntargets: [{region: cn-north-4, project_id: p1}]",
         "fetch.max_body_mb: Input should be a valid integer"),
        ("targets: [{region: cn-north-4, project_id: p1}]", "storage: Field required"),
        ("storage: {root: d}", "needs at least one entry in 'targets'"),
        ("storage: {root: d}\ncredentials: {method: magic}\ntargets: [{region: cn-north-4, project_id: p1}]",
         "credentials.method:"),
        ("storage: {root: d}\ntargets: [{region: 'CN North', project_id: p1}]", "targets[0].region:"),
        ("storage: {root: d}\ntargets: [{region: cn-north-4, project_id: 'a/../b'}]", "targets[0].project_id:"),
        ("storage: {root: d}\ntargets: [{region: cn-north-4, project_id: p1, endpoint: 'ftp://x'}]",
         "targets[0].endpoint:"),
        ("storage: {root: d}\nschedule: {cron: hourly}\ntargets: [{region: cn-north-4, project_id: p1}]",
         "schedule.cron:"),
        ("storage: {root: d}\ntargets: [{region: cn-north-4, project_id: p1}, {region: cn-north-4, project_id: p1}]",
         "repeats project p1"),
        ("storage: [1, 2", "line 1"),
        ("", "the file is empty"),
        ("- just\n- a list", "top level must be a mapping"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value)
    assert expected in str(err.value)


@pytest.mark.parametrize("key", ["sk", "ak", "secret_key", "password", "security_token", "HUAWEICLOUD_SDK_SK"])
def test_a_secret_in_the_file_is_refused_without_echoing_it(tmp_path, key):
    canary = "CANARY-SECRET-9f8e7d6c5b4a"
    p = write(tmp_path, f"storage: {{root: d}}\ncredentials: {{method: aksk, {key}: {canary}}}\n"
                        f"targets: [{{region: cn-north-4, project_id: p1}}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert f"credentials.{key}" in str(err.value)
    assert "environment" in str(err.value)
    assert canary not in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_ca_bundle_must_exist(tmp_path):
    p = write(tmp_path, "storage: {root: d}\nfetch: {ca_bundle: ca.pem}\ntargets: [{region: cn-north-4, project_id: p1}]")
    with pytest.raises(ConfigError, match=r"fetch.ca_bundle: no such file"):
        load_config(p)
    (tmp_path / "ca.pem").write_text("x")
    assert load_config(p).fetch.ca_bundle == (tmp_path / "ca.pem").resolve()
