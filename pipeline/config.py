"""`poolscope.yaml`: loading and validation.

Errors name the file and the dotted key, never echo a value that could be a secret, and never come with a
traceback (the CLI prints `ConfigError` and exits 2). Credentials are not configuration: they come from the
environment only, and a secret-looking key in the file is refused.
"""

import os
import re
import stat
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, field_validator, model_validator,
)

DEFAULT_CRON = "0 * * * *"

# Keys that would hold a credential. Matching is on the normalised key name (lowercase, '-' -> '_').
_SECRET_KEYS = {
    "ak", "sk", "access_key", "secret_key", "accesskey", "secretkey", "access_key_id", "secret_access_key",
    "secret", "password", "passwd", "token", "security_token", "auth_token", "x_auth_token",
    "huaweicloud_sdk_ak", "huaweicloud_sdk_sk", "huaweicloud_sdk_security_token", "huaweicloud_sdk_password",
}


# The values `poolscope init` writes where only the user knows the answer. Caught before validation so that an
# unedited starter file says what to do, not which regular expression a placeholder fails.
PLACEHOLDERS = ("<REGION>", "<PROJECT_ID>")

# A config file is a few kilobytes; these bound what a hostile or mistaken file (a device, a log, a YAML
# alias bomb) can make us read or walk.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_NODES = 100_000


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the file."""


def _plain_path(p: Path) -> Path:
    if "\x00" in str(p):
        raise ValueError("must not contain a NUL character")
    return p


# A path in the file: no NUL bytes (they would fail deep inside the OS calls, with no key named).
FilePath = Annotated[Path, AfterValidator(_plain_path)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _storage_root(value: object) -> Path | str:
    """A folder, or `s3://bucket[/prefix]` (a lake in a bucket) kept as text: a Path would fold its `//`. The URL
    is checked in full by pipeline/lake/storage.py (storage_for), which names the key."""
    if isinstance(value, str) and value[:5].lower() == "s3://":
        return value
    if isinstance(value, (str, Path)):
        return _plain_path(Path(value))
    raise ValueError("must be a folder's path or s3://bucket/prefix")


StorageRoot = Annotated[Path | str, PlainValidator(_storage_root)]


class S3Settings(_Model):
    endpoint: str | None = Field(default=None, description="the S3 endpoint URL (default: AWS_ENDPOINT_URL, else AWS)")
    region: str | None = Field(default=None, description="the bucket's region (default: AWS_REGION)")
    path_style: Annotated[bool, Field(strict=True)] = Field(
        default=True, description="path-style requests (https://host/bucket/key); false: virtual-hosted (OBS)")


class Storage(_Model):
    root: StorageRoot = Field(description="folder holding lake/ and inventory.duckdb, or s3://bucket/prefix")
    s3: S3Settings | None = Field(default=None, description="where the bucket is (only with an s3:// root)")
    work: FilePath | None = Field(
        default=None, description="a bucket lake's local folder: the catalog file, raw landing before its upload, "
                                  "local copies of the bucket's files (default .poolscope/<bucket>/<prefix> next to "
                                  "the config file)")
    min_free_mb: Annotated[int, Field(ge=0, strict=True)] = Field(
        default=100, description="a snapshot refuses to start with less free space than this (MiB); 0: no check")


class Fetch(_Model):
    # strict: `concurrency: true` or `verify_tls: "no"` is a mistake to name, not a value to coerce.
    # The most attempts in flight per endpoint. With rate_limit auto it is a cap: the controller keeps
    # rate x latency x 2 in flight (Little's law with headroom), so the cap only binds for a fast gateway far away.
    concurrency: Annotated[int, Field(ge=1, le=1024, strict=True)] = 128
    # auto: find the gateway's limit per endpoint (pipeline/modelarts/adaptive.py), starting from the rate the
    # previous snapshot settled on; a number: pace at exactly that many requests per second.
    rate_limit: Literal["auto"] | Annotated[float, Field(gt=0, le=10_000, strict=True)] = "auto"
    timeout_s: Annotated[float, Field(gt=0, le=600, strict=True)] = 30.0
    max_attempts: Annotated[int, Field(ge=1, le=20, strict=True)] = 6
    max_total_s: Annotated[float, Field(gt=0, le=3600, strict=True)] = 300.0
    # A body larger than this after decompression is not read further: the call ends as body_too_large.
    max_body_mb: Annotated[int, Field(ge=1, le=4096, strict=True)] = 64
    verify_tls: Annotated[bool, Field(strict=True)] = True
    ca_bundle: FilePath | None = None
    # One IAM GET /v3/projects per region of the targets, for the names people know projects by (table
    # projects). A credential without iam:projects:listProjects only loses the names.
    project_names: Annotated[bool, Field(strict=True)] = True


class Credentials(_Model):
    method: Literal["aksk", "token"] = "aksk"


_REGION = r"^[a-z]{2,}(-[a-z0-9]+)+$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
# What a project or workspace id may look like, for ids that arrive from elsewhere (IAM discovery).
ID_PATTERN = re.compile(_ID)
_POOL = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"


def default_endpoint(region: str) -> str:
    # The SDK's region table: one region is served under the .cn domain.
    domain = "myhuaweicloud.cn" if region == "ap-southeast-1" else "myhuaweicloud.com"
    return f"https://modelarts.{region}.{domain}"


def default_iam_endpoint(region: str) -> str:
    return f"https://iam.{region}.myhuaweicloud.com"


def _check_endpoint(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^/\s?#]+/?$", value):
        raise ValueError("must be a base URL like https://host[:port] (no path, query or spaces)")
    return value.rstrip("/")


class Target(_Model):
    region: Annotated[str, Field(pattern=_REGION)]
    project_id: Annotated[str, Field(pattern=_ID)]
    endpoint: str | None = None
    workspace_id: Annotated[str, Field(pattern=_ID)] | None = None
    label_selector: str | None = None
    status: Literal["created", "creating", "failed"] | None = None
    pools: list[Annotated[str, Field(pattern=_POOL)]] | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        return _check_endpoint(v)

    @property
    def base_url(self) -> str:
        return self.endpoint or default_endpoint(self.region)


class Discover(_Model):
    regions: list[Annotated[str, Field(pattern=_REGION)]] = Field(min_length=1)
    iam_endpoint: str | None = None
    endpoint: str | None = Field(default=None, description="ModelArts endpoint for discovered projects")

    @field_validator("iam_endpoint", "endpoint")
    @classmethod
    def _endpoints(cls, v: str | None) -> str | None:
        return _check_endpoint(v)


class Schedule(_Model):
    cron: str = DEFAULT_CRON
    timezone: str = "UTC"
    partition_by: Literal["none", "region"] = Field(
        default="none", description="region: the snapshot assets are partitioned by region (a Dagster run per "
                                    "region each hour, in parallel, each in its endpoint's queue), and the history, "
                                    "reports and catalog run once when every region of the hour has committed")

    @property
    def period_hours(self) -> float:
        """Hours between scheduled snapshots, read off the cron's hour field: reports cap how long one
        snapshot's counts may stand for at twice this. `*` hourly, `*/N` every N hours, else daily."""
        hour = self.cron.split()[1]
        if hour == "*":
            return 1.0
        if hour.startswith("*/") and hour[2:].isdigit() and int(hour[2:]) > 0:
            return float(hour[2:])
        if "," in hour:
            return 24.0 / len(hour.split(","))
        return 24.0

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError("must be a 5-field cron expression, e.g. '0 * * * *'")
        return v


class Reports(_Model):
    prices: FilePath | None = Field(default=None, description="CSV: flavor,billing_mode,price_per_node_hour,currency")
    output: FilePath | None = Field(default=None, description="folder for exported reports (default <root>/exports)")
    start_date: date = Field(default=date(2026, 1, 1), description="first day of the daily report partitions")
    window_days: Annotated[int, Field(ge=1, le=366, strict=True)] = 7
    idle_threshold_percent: Annotated[float, Field(ge=0, le=100)] = Field(
        default=10.0, description="idle_capacity: accelerators allocated or measured busy below this are idle")
    idle_days: Annotated[int, Field(ge=1, le=366, strict=True)] = Field(
        default=3, description="idle_capacity: flag the pools idle for this many consecutive days")


class Collect(_Model):
    """The families of calls a snapshot makes beyond the pool listing (README: "What a snapshot collects").
    The per-pool families are off by default: each adds one or two calls per pool (about 6 calls per pool with
    all of them, against the gateway's throttle), so a user turns on what they need."""

    runtime_metrics: Annotated[bool, Field(strict=True)] = Field(
        default=True, description="ShowPoolRuntimeMetrics, 1 call per project: allocated vs capacity, queues")
    pool_nodes: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="ListPoolNodes, 1 call per pool: nodes and their allocated resources")
    workload_statistics: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="ShowWorkloadStatistics, 1 call per pool: workloads per type and status")
    pool_events: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="ListEvents, 1+ calls per pool: events since the last stored one")
    pool_monitor: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="ShowPoolMonitor, 2 calls per pool: hourly average and maximum")
    monitor_backfill_days: Annotated[int, Field(strict=True, ge=1, le=60)] = Field(
        default=60, description="ShowPoolMonitor: how far back a pool with no stored point is read, in days "
                                "(1..60: 60 days of hourly points is the service's 1,440-point limit)")


class Config(_Model):
    storage: Storage
    fetch: Fetch = Fetch()
    collect: Collect = Collect()
    credentials: Credentials = Credentials()
    targets: list[Target] = []
    discover: Discover | None = None
    schedule: Schedule = Schedule()
    reports: Reports = Reports()
    path: Path | None = Field(default=None, exclude=True, description="the file this came from")

    @model_validator(mode="after")
    def _something_to_fetch(self) -> "Config":
        if not self.targets and self.discover is None:
            raise ValueError("needs at least one entry in 'targets' or a 'discover' section")
        seen: set[tuple[str, str, str | None]] = set()
        for i, t in enumerate(self.targets):
            key = (t.base_url, t.project_id, t.workspace_id)
            if key in seen:
                raise ValueError(f"targets[{i}] repeats project {t.project_id} at {t.base_url}")
            seen.add(key)
        return self

    @property
    def root(self) -> Path:
        """The local folder: the storage root, or a bucket lake's work folder (`storage.work`)."""
        if isinstance(self.storage.root, str):
            return self.storage.work
        return self.storage.root

    def regions(self) -> list[str]:
        """Every region the config reads: its targets' and discovery's."""
        return sorted({t.region for t in self.targets} | set(self.discover.regions if self.discover else ()))

    def for_region(self, region: str) -> "Config":
        """The config reduced to one region's targets and discovery (a region's part of a snapshot)."""
        if region not in self.regions():
            raise ConfigError(f"{self.path}: no target or discover region is {region!r} (the config reads "
                              f"{', '.join(self.regions())})")
        discover = self.discover
        if discover is not None:
            discover = discover.model_copy(update={"regions": [region]}) if region in discover.regions else None
        return self.model_copy(update={"targets": [t for t in self.targets if t.region == region],
                                       "discover": discover})

    @property
    def in_bucket(self) -> bool:
        return isinstance(self.storage.root, str)

    def lake_storage(self, environ=None):
        """Where the lake's tables and raw sets are (pipeline/lake/storage.py): the root folder, or the bucket."""
        from pipeline.lake.storage import Storage as LakeStorage, storage_for

        if not self.in_bucket:
            return LakeStorage(local=self.storage.root)
        s3 = self.storage.s3.model_dump(exclude_none=True) if self.storage.s3 else None
        return storage_for(self.storage.root, s3, environ=environ, key="storage")

    def layout(self):
        """The lake's Layout (pipeline/lake/layout.py): local folders under `root`, tables on the lake's storage."""
        from pipeline.lake.layout import Layout

        return Layout(self.root, self.lake_storage() if self.in_bucket else None)

    @property
    def exports_dir(self) -> Path:
        return self.reports.output or self.root / "exports"


def _loc(parts: tuple) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _find_secret_keys(node: object, where: tuple = ()) -> list[str]:
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            name = str(k).strip().lower().replace("-", "_")
            if name in _SECRET_KEYS or name.endswith(("_secret", "_password", "_sk")):
                found.append(_loc(where + (str(k),)))
            found.extend(_find_secret_keys(v, where + (str(k),)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(_find_secret_keys(v, where + (i,)))
    return found


def _find_placeholders(node: object, where: tuple = ()) -> list[tuple[str, str]]:
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            found.extend(_find_placeholders(v, where + (str(k),)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(_find_placeholders(v, where + (i,)))
    elif isinstance(node, str) and node.strip() in PLACEHOLDERS:
        found.append((_loc(where), node.strip()))
    return found


def _resolve(path: Path, key: str, base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    try:
        p = p.expanduser()
        return p if p.is_absolute() else (base / p).resolve()
    except (RuntimeError, OSError) as exc:  # "~nobody/x": no such user; a symlink loop
        raise ConfigError(f"{path}: {key}: cannot resolve {str(p)!r}: {exc}") from None


def _check_shape(node: object, path: Path) -> None:
    """Refuse what YAML allows but a config never needs: a structure that contains itself (a recursive
    alias), or so many entries that walking it is the problem (an alias bomb). Iterative: no recursion."""
    seen = 0
    stack: list[tuple[object, tuple, frozenset]] = [(node, (), frozenset())]
    while stack:
        item, where, ancestors = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_NODES:
            raise ConfigError(f"{path}: more than {MAX_CONFIG_NODES} entries (YAML aliases expanding?); "
                              "a config file needs far fewer")
        if isinstance(item, (dict, list)):
            if id(item) in ancestors:
                raise ConfigError(f"{path}: {_loc(where)}: contains itself (a recursive YAML alias)")
            inner = ancestors | {id(item)}
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for k, v in pairs:
                stack.append((v, where + ((str(k),) if isinstance(item, dict) else (k,)), inner))


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML keeps the last one silently) and leaves dates as text
    (so that a bad one, like 2026-02-30, is reported by validation with its key instead of crashing)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be plain text, not a list or mapping", key_node.start_mark) from None
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {str(key)!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_config(data: object, path: Path) -> Config:
    """Validate an already-parsed YAML document; `path` names the file in errors and anchors relative paths."""
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (storage, targets, ...)")
    _check_shape(data, path)
    secrets = _find_secret_keys(data)
    if secrets:
        raise ConfigError(
            f"{path}: {secrets[0]}: credentials must not be written in the config file; set "
            "HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK (or the token variables) in the environment instead"
        )
    placeholders = _find_placeholders(data)
    if placeholders:
        raise ConfigError("\n".join(
            f"{path}: {key}: still the placeholder {value} that `poolscope init` wrote; replace it with your own "
            "value (README: \"Point it at your Huawei Cloud account\")" for key, value in placeholders))
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = _loc(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{path}: {loc}: {msg}")
        raise ConfigError("\n".join(lines)) from None
    base = path.parent.resolve()
    if isinstance(cfg.storage.root, str):
        storage = _bucket_storage(path, base, cfg.storage)
    else:
        if cfg.storage.s3 is not None or cfg.storage.work is not None:
            key = "storage.s3" if cfg.storage.s3 is not None else "storage.work"
            raise ConfigError(f"{path}: {key}: only for a lake in a bucket; storage.root is a local folder (write it "
                              "as s3://bucket/prefix to keep the lake in a bucket)")
        storage = cfg.storage.model_copy(update={"root": _resolve(path, "storage.root", base, cfg.storage.root)})
    local_key = "storage.work" if isinstance(storage.root, str) else "storage.root"
    local_root = storage.work if isinstance(storage.root, str) else storage.root
    fetch = cfg.fetch.model_copy(update={"ca_bundle": _resolve(path, "fetch.ca_bundle", base, cfg.fetch.ca_bundle)})
    reports = cfg.reports.model_copy(update={"prices": _resolve(path, "reports.prices", base, cfg.reports.prices),
                                             "output": _resolve(path, "reports.output", base, cfg.reports.output)})
    if reports.prices is not None and not reports.prices.is_file():
        raise ConfigError(f"{path}: reports.prices: no such file: {reports.prices}")
    if fetch.ca_bundle is not None and not fetch.ca_bundle.is_file():
        raise ConfigError(f"{path}: fetch.ca_bundle: no such file: {fetch.ca_bundle}")
    if any(c in str(local_root) for c in "\\?"):
        # DuckDB reads a backslash in a file path as a separator and '?' as the start of options: the catalog
        # would be written somewhere else or not at all.
        raise ConfigError(f"{path}: {local_key}: {str(local_root)!r}: the folder's path must not contain "
                          "a backslash or '?' (DuckDB cannot open files there); choose another folder")
    if re.search(r"[\[\]]|%[0-9A-Fa-f]{2}", str(local_root)):
        # delta-rs (deltalake 1.6) reads a table's location as a URL: a bracket fails as a host name, and a %XX
        # sequence is decoded into another folder.
        raise ConfigError(f"{path}: {local_key}: {str(local_root)!r}: the folder's path must not contain "
                          "'[', ']' or a '%' followed by two hex digits (the Delta tables cannot be opened there); "
                          "choose another folder")
    for key, folder in ((local_key, local_root), ("reports.output", reports.output)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise ConfigError(f"{path}: {key}: {folder} is a file, not a folder")
    return cfg.model_copy(update={"storage": storage, "fetch": fetch, "reports": reports, "path": path.resolve()})


def _bucket_storage(path: Path, base: Path, storage: Storage) -> Storage:
    """An s3:// root checked (bucket, prefix, endpoint, region: pipeline/lake/storage.py names the key), and its
    work folder resolved (default .poolscope/<bucket>/<prefix> next to the file)."""
    from pipeline.lake.storage import StorageError, storage_for

    s3 = storage.s3.model_dump(exclude_none=True) if storage.s3 else None
    try:
        lake = storage_for(storage.root, s3, key="storage")
    except StorageError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    work = storage.work
    if work is None:
        work = Path(".poolscope", lake.bucket, *([lake.prefix] if lake.prefix else []))
    return storage.model_copy(update={"root": lake.root_uri, "work": _resolve(path, "storage.work", base, work)})


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if "\x00" in str(path):
        raise ConfigError(f"{str(path)!r}: a config file name cannot contain a NUL character")
    try:
        text = _read(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except NotADirectoryError:
        raise ConfigError(f"{path}: no such config file (a part of the path is a file, not a folder)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: {where}{problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor's own error, e.g. a huge number
        raise ConfigError(f"{path}: invalid YAML value: {exc.__class__.__name__}") from None
    return parse_config(data, path)


def _read(path: Path) -> str:
    """The file's text: a regular file, at most MAX_CONFIG_BYTES (a FIFO, a device or /dev/zero would block or
    never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise OSError(0, f"larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config file")
    return data.decode("utf-8")
