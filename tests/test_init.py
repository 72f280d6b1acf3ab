"""`poolscope init`: the real command writes the starter file; the file holds every key the config model accepts
(the key list is walked from `pipeline.config.Config`, not written here), loads once a project is filled in, and
an unedited file fails with the file and the key named."""

import re
import subprocess
import sys
import typing
from datetime import date
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from clikit import cli_env
from pipeline.config import PLACEHOLDERS, Config, ConfigError, load_config, parse_config
from pipeline.init import template_text

# The installed entry point, as a user runs it (the console script `make install` put in the venv).
POOLSCOPE = str(Path(sys.executable).parent / "poolscope")
PROJECT_ID = "0123456789abcdef0123456789abcdef"
# "# key: value" (also "#   key:" and "# - key:"): an optional setting, commented out. Prose comments never
# start with a lowercase word and a colon, so this finds the settings only (test_the_whole_template_... proves it:
# an uncommented prose line would be an unknown key).
_COMMENTED_KEY = re.compile(r"^(?P<indent>\s*)# (?P<rest>\s*(?:- )?[a-z][a-z0-9_]*:(?:\s.*)?)$")
_KEY_LINE = re.compile(r"^\s*(?:- )?(?P<key>[a-z][a-z0-9_]*):")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([POOLSCOPE, *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=60)


def _submodel(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def config_fields(model: type[BaseModel] = Config, prefix: tuple[str, ...] = ()):
    """(dotted key, field) for every key a config file may hold, sections included, from the model itself."""
    for name, field in model.model_fields.items():
        if field.exclude:  # Config.path: where the file was read from, never a key in it
            continue
        key = (*prefix, name)
        yield ".".join(key), field
        sub = _submodel(field.annotation)
        if sub is not None:
            yield from config_fields(sub, key)


def uncomment(text: str) -> str:
    return "\n".join(_COMMENTED_KEY.sub(r"\g<indent>\g<rest>", line) for line in text.splitlines())


def keys_in(node, prefix: tuple[str, ...] = ()) -> set[str]:
    out = set()
    if isinstance(node, list):
        for item in node:
            out |= keys_in(item, prefix)
    elif isinstance(node, dict):
        for k, v in node.items():
            out.add(".".join((*prefix, k)))
            out |= keys_in(v, (*prefix, k))
    return out


def fill_in(text: str, region: str = "cn-north-4", project_id: str = PROJECT_ID) -> str:
    """What README tells the user to do: put a region and a project id where the placeholders are."""
    assert set(PLACEHOLDERS) == {"<REGION>", "<PROJECT_ID>"}
    return text.replace("<REGION>", region).replace("<PROJECT_ID>", project_id)


def test_init_writes_the_template_and_refuses_to_overwrite(tmp_path):
    first = run("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    written = tmp_path / "poolscope.yaml"
    assert written.read_text(encoding="utf-8") == template_text()
    assert "wrote poolscope.yaml" in first.stdout

    written.write_text("# mine\n", encoding="utf-8")
    again = run("init", cwd=tmp_path)
    assert again.returncode == 2
    assert "poolscope.yaml already exists" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert written.read_text(encoding="utf-8") == "# mine\n"  # untouched

    forced = run("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert written.read_text(encoding="utf-8") == template_text()
    assert list(tmp_path.iterdir()) == [written]  # no temporary file left beside it


def test_init_out_names_the_file_and_refuses_a_folder(tmp_path):
    (tmp_path / "etc").mkdir()
    ok = run("init", "--out", "etc/prod.yaml", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "etc" / "prod.yaml").read_text(encoding="utf-8") == template_text()
    folder = run("init", "--out", "etc", cwd=tmp_path)
    assert folder.returncode == 2 and "is a folder" in folder.stderr and "Traceback" not in folder.stderr
    missing = run("init", "--out", "nowhere/poolscope.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot write nowhere/poolscope.yaml" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_unedited_file_names_the_file_and_the_placeholder_keys(tmp_path):
    assert run("init", cwd=tmp_path).returncode == 0
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "poolscope.yaml")
    message = str(info.value)
    assert f"{tmp_path / 'poolscope.yaml'}: targets[0].region: still the placeholder <REGION>" in message
    assert "targets[0].project_id: still the placeholder <PROJECT_ID>" in message
    # The CLI says the same in one line per key, exit 2, no traceback; the config is checked before the keys.
    proc = run("snapshot", "--config", "poolscope.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "poolscope.yaml: targets[0].region: still the placeholder <REGION>" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_the_filled_in_file_loads_with_every_default(tmp_path):
    assert run("init", cwd=tmp_path).returncode == 0
    path = tmp_path / "poolscope.yaml"
    path.write_text(fill_in(path.read_text(encoding="utf-8")), encoding="utf-8")
    config = load_config(path)
    assert [(t.region, t.project_id) for t in config.targets] == [("cn-north-4", PROJECT_ID)]
    assert config.targets[0].base_url == "https://modelarts.cn-north-4.myhuaweicloud.com"
    assert config.root == tmp_path / "data"  # relative to the file's folder
    # Nothing else set: the model's defaults, exactly.
    assert config.fetch == type(config.fetch)() and config.reports == type(config.reports)()
    assert config.schedule == type(config.schedule)() and config.credentials == type(config.credentials)()
    assert config.discover is None


def test_every_key_of_the_config_model_is_in_the_template():
    template = template_text()
    full = yaml.safe_load(uncomment(fill_in(template)))
    expected = {key for key, _ in config_fields()}
    assert len(expected) > 30  # the walk found the nested sections
    assert keys_in(full) == expected


def test_only_the_required_keys_are_left_uncommented():
    live = keys_in(yaml.safe_load(fill_in(template_text())))
    assert live == {"storage", "storage.root", "targets", "targets.region", "targets.project_id"}
    fields = dict(config_fields())
    # `targets` itself defaults to [] in the model (a `discover` section may replace it): the rest is required.
    assert all(fields[key].is_required() for key in live - {"targets"})


def test_the_whole_template_uncommented_is_a_valid_config_with_the_defaults_shown(tmp_path):
    (tmp_path / "corp-ca.pem").write_text("not read here\n")
    (tmp_path / "prices.csv").write_text("flavor,billing_mode,price_per_node_hour,currency\n")
    path = tmp_path / "poolscope.yaml"
    data = yaml.safe_load(uncomment(fill_in(template_text())))
    # storage.s3 and storage.work are a bucket's: with them, root is the bucket the template's prose says to write
    assert data["storage"]["root"] == "./data" and {"s3", "work"} <= set(data["storage"])
    with pytest.raises(ConfigError, match="storage.s3: only for a lake in a bucket"):
        parse_config(data, path)
    data["storage"]["root"] = "s3://poolscope-lake/prod"
    config = parse_config(data, path)  # every example value is valid, and no prose line turned into a key
    assert config.discover is not None and config.targets[0].pools == ["pool-name"]
    assert config.root == tmp_path / "work" and config.lake_storage().bucket == "poolscope-lake"
    # Each optional setting is shown with its default: the value in the file is the model's default.
    for key, field in config_fields():
        if field.default in (None, PydanticUndefined) or _submodel(field.annotation) or key == "targets":
            continue
        value = config
        for name in key.split("."):
            value = getattr(value, name)
        assert value == field.default, (key, value, field.default)
    assert config.reports.start_date == date(2026, 1, 1)


def key_paths(lines: list[str]) -> list[str | None]:
    """The dotted key of each line that sets one (None for other lines), from the indentation."""
    stack: list[tuple[int, str]] = []
    out: list[str | None] = []
    for line in lines:
        match = _KEY_LINE.match(line)
        if not match:
            out.append(None)
            continue
        indent = len(line) - len(line.lstrip()) + (2 if line.lstrip().startswith("- ") else 0)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group("key")))
        out.append(".".join(k for _, k in stack))
    return out


def test_every_key_line_is_explained_and_optional_ones_name_their_default():
    lines = uncomment(fill_in(template_text())).splitlines()
    fields = dict(config_fields())
    # A section's default is its keys' defaults; each of those lines names its own.
    optional = {key for key, field in fields.items()
                if not field.is_required() and _submodel(field.annotation) is None}
    paths = key_paths(lines)
    assert set(fields) == {p for p in paths if p}
    for i, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if not match:
            continue
        following = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].lstrip().startswith("#") else ""
        comment = " ".join(part.split("#", 1)[1] for part in (line, following) if "#" in part)
        before = lines[i - 1] if i else ""
        assert comment or before.lstrip().startswith("#"), f"no comment explains: {line}"
        if paths[i] in optional:
            assert "default" in comment, f"the default is not named: {line}"


def test_the_template_says_credentials_come_from_the_environment_only():
    text = template_text()
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"):
        assert name in text
    assert "only from the environment, never from this file" in text
