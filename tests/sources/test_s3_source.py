"""S3Source against moto's S3 server on 127.0.0.1 (started by conftest)."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app
from relgraph.errors import SourceError
from relgraph.sources import open_source
from relgraph.sources.s3 import S3Source, split_s3_url


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


@pytest.fixture()
def bucket(s3_endpoint: str) -> str:
    name = f"rg-{uuid.uuid4().hex[:12]}"
    c = _client(s3_endpoint)
    c.create_bucket(Bucket=name)
    parquet = io.BytesIO()
    pq.write_table(pa.table({"item_id": [1, 2], "price": [1.5, None]}), parquet)
    objects = {
        "shop/users.csv": b"user_id,name\n1,Ada\n2,\\N\n3,\n",
        "shop/items.parquet": parquet.getvalue(),
        "shop/orders.jsonl": (
            b'{"order_id": 1, "user_id": 1, "item_id": 1, "created_at": "2024-01-01 10:00:00"}\n'
            b'{"order_id": 2, "user_id": 2, "item_id": 2, "created_at": "2024-01-02 11:00:00"}\n'
        ),
        "shop/schema.yaml": b"tables:\n  users:\n    columns: {name: text}\n",
        "shop/README.txt": b"not data",
        "shop/archive/old.csv": b"x\n1\n",  # deeper objects are not tables of this prefix
        "other/users.csv": b"user_id\n9\n",
    }
    for key, body in objects.items():
        c.put_object(Bucket=name, Key=key, Body=body)
    return name


def test_reads_prefix_with_schema_yaml(s3_endpoint: str, bucket: str) -> None:
    src = open_source(f"s3://{bucket}/shop", s3_endpoint=s3_endpoint).read()
    assert sorted(src.tables) == ["items", "orders", "users"]
    assert src.tables["users"].column("name").to_pylist() == ["Ada", None, None]
    assert src.tables["items"].column("price").to_pylist() == [1.5, None]
    assert src.overrides_file is not None
    assert "users" in src.overrides_file.read_text()


def test_endpoint_from_environment(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    src = S3Source(f"s3://{bucket}/shop/")
    assert src.endpoint == s3_endpoint
    assert sorted(src.read().tables) == ["items", "orders", "users"]


def test_single_object(s3_endpoint: str, bucket: str) -> None:
    src = open_source(f"s3://{bucket}/other/users.csv", s3_endpoint=s3_endpoint).read()
    assert src.tables["users"].column("user_id").to_pylist() == [9]


def test_ingest_applies_schema_yaml_and_links(
    s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    result = api.ingest(f"s3://{bucket}/shop", workspace=tmp_path / "ws", s3_endpoint=s3_endpoint)
    schema = result.snapshot.schema
    assert schema["users"].column("name").stype.value == "text"  # from the bucket's schema.yaml
    assert {str(link) for link in schema.links} == {
        "orders.user_id -> users.user_id",
        "orders.item_id -> items.item_id",
    }
    assert schema["orders"].time_column == "created_at"
    assert result.snapshot.manifest.source == f"s3://{bucket}/shop"


def test_cli_ingest_with_endpoint_option(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "ingest",
            f"s3://{bucket}/shop",
            "-w",
            str(tmp_path / "ws"),
            "--s3-endpoint",
            s3_endpoint,
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["tables"]["users"]["rows"] == 3


def test_missing_bucket(s3_endpoint: str) -> None:
    with pytest.raises(SourceError, match="bucket 'rg-nosuch' does not exist"):
        open_source("s3://rg-nosuch/x", s3_endpoint=s3_endpoint).read()


def test_prefix_without_data(s3_endpoint: str, bucket: str) -> None:
    with pytest.raises(SourceError, match=r"no data objects under 's3://.*/nothing'"):
        open_source(f"s3://{bucket}/nothing", s3_endpoint=s3_endpoint).read()


def test_malformed_object_is_named_by_its_key(s3_endpoint: str, bucket: str) -> None:
    _client(s3_endpoint).put_object(Bucket=bucket, Key="bad/t.csv", Body=b"a,b\n1,2\n3,4,5\n")
    with pytest.raises(SourceError, match=rf"s3://{bucket}/bad/t.csv': line 3 has 3 fields"):
        open_source(f"s3://{bucket}/bad", s3_endpoint=s3_endpoint).read()


def test_wrong_credentials(s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto accepts any key unless told otherwise; missing credentials are the
    # case every S3 endpoint refuses before sending anything.
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceError, match=r"no S3 credentials .* set AWS_ACCESS_KEY_ID"):
        open_source(f"s3://{bucket}/shop", s3_endpoint=s3_endpoint).read()


def test_url_parsing() -> None:
    assert split_s3_url("s3://b/a/b/") == ("b", "a/b/")
    assert split_s3_url("s3://b") == ("b", "")
    with pytest.raises(SourceError, match="names no bucket"):
        split_s3_url("s3:///x")
