"""The spec builder: a record's configuration mapped onto what an instance runs, with real code and layer stores."""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile
from pathlib import Path

import pytest

from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.layers import LayerRegistry
from nimbus.control.records import FunctionRecord, VersionRecord, new_config
from nimbus.control.spec import build_spec
from nimbus.control.validation import NETWORK_TAG
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata


def zip_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, region="eu-west-1", account_id="123456789012")


@pytest.fixture
def codes(settings: Settings) -> CodeStore:
    return CodeStore(settings.data_dir)


@pytest.fixture
def layers(settings: Settings, codes: CodeStore) -> LayerRegistry:
    engine = sqlite_engine(settings.data_dir / "nimbus.db")
    migrate(engine, metadata)
    return LayerRegistry(settings, engine, codes)


def function(codes: CodeStore, **config: object) -> FunctionRecord:
    info = codes.put(zip_of({"app.py": "def handler(e, c): return e\n"}))
    cfg = new_config("f") | {"Runtime": "python3.12", "Handler": "app.handler", "RevisionId": "r1"} | config
    return FunctionRecord("f", cfg, info.sha256_hex)


def test_latest_spec_carries_the_configuration(settings: Settings, codes: CodeStore, layers: LayerRegistry) -> None:
    rec = function(codes, MemorySize=256, Timeout=9, Environment={"Variables": {"B": "2", "A": "1"}})
    spec = build_spec(rec, "$LATEST", "arn:f", settings, codes, layers)
    assert (spec.name, spec.version, spec.revision_id, spec.arn) == ("f", "$LATEST", "r1", "arn:f")
    assert (spec.runtime, spec.handler, spec.memory_mb, spec.timeout_s) == ("python3.12", "app.handler", 256, 9)
    assert spec.code_dir == codes.code_dir(rec.code_sha256)
    assert (spec.code_dir / "app.py").is_file()
    assert spec.environment == (("A", "1"), ("B", "2")), "sorted, so equal configurations make equal specs"
    assert (spec.region, spec.account_id, spec.log_group) == ("eu-west-1", "123456789012", "/aws/lambda/f")
    assert (spec.ephemeral_storage_mb, spec.network, spec.layer_dirs, spec.snap_start) == (512, "host", (), False)


def test_network_mode_comes_from_the_tag(settings: Settings, codes: CodeStore, layers: LayerRegistry) -> None:
    rec = function(codes)
    rec.tags[NETWORK_TAG] = "none"
    assert build_spec(rec, "$LATEST", "arn:f", settings, codes, layers).network == "none"


def test_snap_start_applies_to_published_versions_only(
    settings: Settings, codes: CodeStore, layers: LayerRegistry
) -> None:
    rec = function(codes, SnapStart={"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"})
    rec.versions[1] = VersionRecord(1, rec.config | {"Version": "1", "RevisionId": "r2"}, rec.code_sha256)
    latest = build_spec(rec, "$LATEST", "arn:f", settings, codes, layers)
    published = build_spec(rec, "1", "arn:f", settings, codes, layers)
    assert (latest.snap_start, published.snap_start) == (False, True)
    assert (published.version, published.revision_id) == ("1", "r2")
    with pytest.raises(KeyError):
        build_spec(rec, "2", "arn:f", settings, codes, layers)


def test_layers_are_mounted_in_their_order(settings: Settings, codes: CodeStore, layers: LayerRegistry) -> None:
    arns = []
    for name in ("first", "second"):
        body = {"Content": {"ZipFile": base64.b64encode(zip_of({f"{name}.txt": name})).decode()}}
        lv = asyncio.run(layers.publish(name, body))
        arns.append(f"{layers.layer_arn(name)}:{lv.version}")
    rec = function(codes, Layers=layers.attachable(list(reversed(arns))))
    spec = build_spec(rec, "$LATEST", "arn:f", settings, codes, layers)
    assert [sorted(p.name for p in d.iterdir()) for d in spec.layer_dirs] == [["second.txt"], ["first.txt"]]
