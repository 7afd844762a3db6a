"""An S3-compatible bucket prefix of CSV/Parquet/JSON-lines objects.

The objects directly under the prefix are downloaded into a temporary folder
and read there exactly as a local folder (:class:`FileSource`), so CSV quirks
are handled once. A ``schema.yaml`` object under the prefix is the source's
override file, like one in a local folder.

Credentials come from the URL's query (``?access_key=…&secret_key=…``, for a service
that reads buckets of several owners) or boto3's usual chain (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, profiles, instance roles); the
endpoint from ``endpoint=`` (argument or URL query; CLI ``--s3-endpoint``) or
``AWS_ENDPOINT_URL``. Everything shown (errors, the manifest) is redacted.

Example:
    >>> S3Source("s3://shop/exports/2024", endpoint="http://127.0.0.1:9000")
    S3Source('s3://shop/exports/2024', endpoint='http://127.0.0.1:9000')
    >>> S3Source("s3://shop/x?access_key=AK&secret_key=SK&endpoint=http://127.0.0.1:9000")
    S3Source('s3://shop/x?access_key=AK&secret_key=***&endpoint=http://127.0.0.1:9000', endpoint='http://127.0.0.1:9000')
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from relgraph.errors import SourceError
from relgraph.sources.base import ProgressFn, SourceTables, redact
from relgraph.sources.files import OVERRIDES_NAMES, SUPPORTED, FileSource


def split_s3_url(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    rest = uri[len("s3://") :] if uri.startswith("s3://") else uri
    rest = rest.partition("?")[0]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise SourceError(f"S3 URL '{redact(uri)}' names no bucket: use s3://bucket/prefix")
    return bucket, prefix


# URL query parameters of an S3 source and the boto3 client arguments they set.
URL_OPTIONS = {
    "access_key": "aws_access_key_id",
    "secret_key": "aws_secret_access_key",
    "session_token": "aws_session_token",
    "region": "region_name",
    "endpoint": "endpoint_url",
}


def url_options(uri: str) -> dict[str, str]:
    """The boto3 client arguments given in ``uri``'s query; unknown ones are an error."""
    query = uri.partition("?")[2]
    out: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k not in URL_OPTIONS:
            raise SourceError(
                f"unknown S3 URL parameter '{k}' in '{redact(uri)}': use {', '.join(URL_OPTIONS)}"
            )
        out[URL_OPTIONS[k]] = v
    return out


class S3Source:
    """``s3://bucket/prefix``: one table per object directly under the prefix."""

    def __init__(self, uri: str, *, endpoint: str | None = None) -> None:
        self.uri = uri
        self.bucket, self.prefix = split_s3_url(uri)
        self._options = url_options(uri)
        in_url = self._options.pop("endpoint_url", None)
        self.endpoint = endpoint or in_url or os.environ.get("AWS_ENDPOINT_URL") or None

    def __repr__(self) -> str:
        ep = f", endpoint={self.endpoint!r}" if self.endpoint else ""
        return f"S3Source({redact(self.uri)!r}{ep})"

    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        # A fresh session: boto3's default one caches the credentials it saw first.
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            **self._options,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10),
        )

    def _list(self, client: Any) -> list[str]:
        """Keys of data/override objects directly under the prefix (or the one object named)."""
        prefix = self.prefix
        keys: list[str] = []
        # A prefix naming one object reads just that object.
        if prefix and not prefix.endswith("/") and prefix.lower().endswith(SUPPORTED):
            return [prefix]
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def read(self, progress: ProgressFn | None = None) -> SourceTables:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = f"'{redact(self.uri)}'" + (f" at {self.endpoint}" if self.endpoint else "")
        client = self._client()
        try:
            keys = self._list(client)
            data_keys = [k for k in keys if k.lower().endswith(SUPPORTED)]
            override_keys = [k for k in keys if k.rsplit("/", 1)[-1] in OVERRIDES_NAMES]
            if not data_keys:
                raise SourceError(
                    f"no data objects under {where}: expected keys ending in {', '.join(SUPPORTED)}"
                )
            with tempfile.TemporaryDirectory(prefix="relgraph-s3-") as tmp:
                folder = Path(tmp)
                for i, key in enumerate(data_keys):
                    name = key.rsplit("/", 1)[-1]
                    if progress:
                        progress(name, i, len(data_keys) + 1)
                    client.download_file(self.bucket, key, str(folder / name))
                try:
                    tables = FileSource(folder).read().tables
                except SourceError as e:
                    # Name the object, not the temporary copy.
                    base = f"s3://{self.bucket}/{data_keys[0].rpartition('/')[0]}".rstrip("/")
                    raise SourceError(e.message.replace(str(folder), base)) from e
            overrides = self._fetch_overrides(client, override_keys)
        except NoCredentialsError as e:
            raise SourceError(
                f"no S3 credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE)"
            ) from e
        except ClientError as e:
            err = e.response.get("Error", {})
            code, msg = err.get("Code", "?"), err.get("Message", str(e))
            hint = {
                "NoSuchBucket": f"bucket '{self.bucket}' does not exist",
                "AccessDenied": "access denied: check the credentials and the bucket policy",
                "InvalidAccessKeyId": "the access key is not known to this endpoint",
                "SignatureDoesNotMatch": "the secret key does not match the access key",
            }.get(code, msg)
            raise SourceError(f"cannot read {where}: {hint} ({code})") from e
        except BotoCoreError as e:
            raise SourceError(f"cannot read {where}: {e}") from e
        if progress:
            progress("", len(data_keys) + 1, len(data_keys) + 1)
        return SourceTables(uri=self.uri, tables=tables, overrides_file=overrides)

    def _fetch_overrides(self, client: Any, keys: list[str]) -> Path | None:
        """Download the override file to a temporary file removed at exit."""
        if not keys:
            return None
        fd, name = tempfile.mkstemp(prefix="relgraph-s3-", suffix=".schema.yaml")
        os.close(fd)
        atexit.register(_unlink, name)
        client.download_file(self.bucket, keys[0], name)
        return Path(name)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
