"""Where the lake is: a local folder or an S3-compatible bucket (Huawei OBS, SeaweedFS, MinIO, AWS S3), and the
three ways in that the rest of the code needs: delta-rs `storage_options` (the tables), a `pyarrow.fs`
filesystem (raw landing, reading files), and a DuckDB connection that reads `s3://` URIs.

`storage.root` is a path or `s3://bucket[/prefix]`. For a bucket, `storage.s3: {endpoint, region,
path_style}` in the file, else the standard variables `AWS_ENDPOINT_URL` and `AWS_REGION` (or
`AWS_DEFAULT_REGION`). Credentials come only from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
`AWS_SESSION_TOKEN`, read when a connection is made, never kept on the object (its repr, a log line or an
exception cannot show them). A plain-http endpoint is accepted only on a loopback address: anywhere else the
request signature, and with it the bucket, would cross the network in clear.
"""

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (OBS's rules are the same)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class StorageError(ValueError):
    """A storage setting that cannot work, worded for the person who wrote it (names the key or variable)."""


def is_s3_url(root: object) -> bool:
    return isinstance(root, str) and root.lower().startswith("s3://")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoint(value: str, key: str) -> str:
    """An endpoint URL as object_store and pyarrow take it: scheme://host[:port], nothing after."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StorageError(f"{key}: {value!r} is not an endpoint URL (expected https://host[:port])")
    if parts.username or parts.password:
        raise StorageError(f"{key}: an endpoint URL must not carry credentials; set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY in the environment")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise StorageError(f"{key}: {value!r}: give the endpoint only (scheme, host, port); the bucket and "
                           "prefix belong in storage.root")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise StorageError(f"{key}: {value!r}: plain http is allowed only on a loopback address (127.0.0.1, ::1, "
                           "localhost); use https")
    try:
        port = parts.port
    except ValueError:
        raise StorageError(f"{key}: {value!r}: the port is not a number in 1..65535") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


@dataclass(frozen=True)
class Storage:
    """A lake's storage. `local` is the folder for a local lake; `bucket`/`prefix` and the S3 settings for a
    bucket. Holds no credential."""

    local: Path | None = None
    bucket: str | None = None
    prefix: str = ""
    endpoint: str | None = None  # None: the provider's default (AWS)
    region: str | None = None
    path_style: bool = True

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def root_uri(self) -> str:
        """The root as delta-rs and DuckDB name it: an absolute path, or s3://bucket/prefix."""
        if self.is_s3:
            return f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        return str(self.local)

    def uri(self, *parts: str) -> str:
        """A location under the root (a table, a raw file), in the form `root_uri` has."""
        rel = _relative(parts)
        return f"{self.root_uri}/{rel}" if rel else self.root_uri

    def fs_path(self, *parts: str) -> str:
        """The same location as the `pyarrow.fs` filesystem of `filesystem()` names it (bucket/key, or a path)."""
        rel = _relative(parts)
        base = f"{self.bucket}/{self.prefix}".rstrip("/") if self.is_s3 else str(self.local)
        return f"{base}/{rel}" if rel else base

    def describe(self) -> str:
        """For messages: where the lake is, without a credential."""
        if not self.is_s3:
            return str(self.local)
        return f"{self.root_uri} at {self.endpoint or 'the AWS default endpoint'} ({self.region})"

    # ---- the ways in (credentials read here, at use, from the environment)

    def delta_options(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """delta-rs (object_store) storage options. Empty for a local lake. No lock provider: delta-rs 1.6
        commits with `If-None-Match: *`, which S3, OBS and SeaweedFS honour (benchmarks/SPIKE_DELTA.md)."""
        if not self.is_s3:
            return {}
        key, secret, token = credentials(environ)
        options = {"AWS_REGION": self.region, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                   "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false" if self.path_style else "true"}
        if token:
            options["AWS_SESSION_TOKEN"] = token
        if self.endpoint:
            options["AWS_ENDPOINT_URL"] = self.endpoint
            if self.endpoint.startswith("http://"):  # loopback only (checked when the storage was made)
                options["AWS_ALLOW_HTTP"] = "true"
        return options

    def filesystem(self, environ: Mapping[str, str] | None = None):
        """A `pyarrow.fs` filesystem on which `fs_path()` names things."""
        from pyarrow import fs

        if not self.is_s3:
            return fs.LocalFileSystem()
        key, secret, token = credentials(environ)
        # allow_delayed_open: an object written through open_output_stream starts no multipart upload until it
        # outgrows one part, so a small one (a raw set's bodies, a history file, a report partition) is one PUT
        # instead of three requests (create, part, complete): the raw set of 1,000 projects x 20 pools (1,015
        # files) went to SeaweedFS on loopback in 1.5-1.9 s instead of 3.0-5.0 s, about half the server's and the
        # client's CPU (the land step of benchmarks/bench_bucket.py). An error then shows at close instead of at
        # open; every writer here closes in a `with`, which raises it.
        kwargs = {"access_key": key, "secret_key": secret, "session_token": token, "region": self.region,
                  "force_virtual_addressing": not self.path_style, "allow_delayed_open": True}
        if self.endpoint:
            scheme, host = self.endpoint.split("://", 1)
            kwargs.update(endpoint_override=host, scheme=scheme)
        return fs.S3FileSystem(**kwargs)

    def duckdb(self, database: str = ":memory:", environ: Mapping[str, str] | None = None):
        """A DuckDB connection that reads this storage's URIs (`uri()`): for a bucket, s3:// is served by
        pyarrow's S3 client registered as an fsspec filesystem (DuckDB's httpfs extension cannot be installed
        offline, and needs no second S3 client configured)."""
        import duckdb

        con = duckdb.connect(database)
        try:
            con.execute("SET enable_progress_bar = false")
            if self.is_s3:
                con.register_filesystem(arrow_s3_fsspec(self.filesystem(environ)))
        except BaseException:
            con.close()
            raise
        return con


def _relative(parts: tuple[str, ...]) -> str:
    rel = PurePosixPath(*parts) if parts else PurePosixPath()
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"not a location under the lake's root: {'/'.join(parts)!r}")
    return "" if str(rel) == "." else str(rel)


def arrow_s3_fsspec(filesystem):
    """pyarrow's S3 filesystem under fsspec's name for s3://, as DuckDB's register_filesystem wants (fsspec is
    imported only for a bucket)."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class ArrowS3(ArrowFSWrapper):
        protocol = ("s3", "s3a")

        @classmethod
        def _strip_protocol(cls, path):
            if isinstance(path, list):
                return [cls._strip_protocol(p) for p in path]
            return path.split("://", 1)[-1].rstrip("/") if isinstance(path, str) else path

    return ArrowS3(filesystem)


def credentials(environ: Mapping[str, str] | None = None) -> tuple[str, str, str | None]:
    """(key id, secret, session token or None) from the environment; a clear error naming what is missing."""
    env = os.environ if environ is None else environ
    key, secret = env.get("AWS_ACCESS_KEY_ID", "").strip(), env.get("AWS_SECRET_ACCESS_KEY", "").strip()
    missing = [name for name, value in (("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)) if not value]
    if missing:
        raise StorageError(f"the lake is in a bucket, and {' and '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not set: its credentials come from the "
                           "environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and AWS_SESSION_TOKEN for "
                           "temporary ones)")
    return key, secret, env.get("AWS_SESSION_TOKEN", "").strip() or None


def storage_for(root: str | Path, s3: Mapping[str, object] | None = None, *,
                environ: Mapping[str, str] | None = None, key: str = "storage") -> Storage:
    """The storage of a config's `storage.root` and `storage.s3` (`key` prefixes the keys named in errors).
    A local root must already be absolute (the config resolves it against the file's folder)."""
    env = os.environ if environ is None else environ
    s3 = dict(s3 or {})
    if not is_s3_url(root):
        if s3:
            raise StorageError(f"{key}.s3: only for a bucket; {key}.root is a local folder "
                               "(write it as s3://bucket/prefix to keep the lake in a bucket)")
        path = Path(root)
        if not path.is_absolute():
            raise StorageError(f"{key}.root: {str(root)!r} must be an absolute path here")
        return Storage(local=path)
    unknown = sorted(set(s3) - {"endpoint", "region", "path_style"})
    if unknown:
        raise StorageError(f"{key}.s3.{unknown[0]}: unknown key (endpoint, region and path_style are known)")
    parts = urlsplit(str(root))
    bucket = parts.netloc
    if parts.query or parts.fragment or "@" in bucket:
        raise StorageError(f"{key}.root: {root!r}: expected s3://bucket/prefix, with no credentials, query or '#'")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise StorageError(f"{key}.root: {bucket!r} is not a bucket name (3-63 characters: lowercase letters, "
                           "digits, '.' and '-')")
    prefix = parts.path.strip("/")
    if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
        raise StorageError(f"{key}.root: {root!r}: the prefix has an empty, '.' or '..' part")
    endpoint = s3.get("endpoint")
    endpoint_key = f"{key}.s3.endpoint"
    if endpoint is None and env.get("AWS_ENDPOINT_URL", "").strip():
        endpoint, endpoint_key = env["AWS_ENDPOINT_URL"], "AWS_ENDPOINT_URL"
    if endpoint is not None and not isinstance(endpoint, str):
        raise StorageError(f"{key}.s3.endpoint: must be a URL text")
    region = s3.get("region")
    region_key = f"{key}.s3.region"
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if region is None and env.get(var, "").strip():
            region, region_key = env[var].strip(), var
    if region is None:
        raise StorageError(f"{key}.s3.region: needed for a bucket (e.g. cn-north-4 for OBS); set it in the file "
                           "or in AWS_REGION")
    if not isinstance(region, str) or not _REGION_RE.match(region):
        raise StorageError(f"{region_key}: {region!r} is not a region name")
    path_style = s3.get("path_style", True)
    if not isinstance(path_style, bool):
        raise StorageError(f"{key}.s3.path_style: must be true or false")
    return Storage(bucket=bucket, prefix=prefix, region=region, path_style=path_style,
                   endpoint=_endpoint(endpoint, endpoint_key) if endpoint else None)
