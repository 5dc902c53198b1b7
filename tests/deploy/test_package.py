"""What `nimbus deploy` does with the user's files: the template found (sam build's output first), samconfig.toml
read, local code zipped deterministically under its sha256 (the same folder again: the same hash, whatever the
mtimes), the SAM transform run with its own messages on refusal, and refusals naming the resource and property."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from conftest import make_zip
from nimbus.deploy.package import find_template, package, prepare, read_samconfig, split_overrides
from nimbus.errors import ValidationError

APP = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function: {Runtime: python3.12, Handler: app.handler, CodeUri: shared/}
Resources:
  Own:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/}
  FromGlobals:
    Type: AWS::Serverless::Function
  Inline:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "def handler(e, c): return 1", CodeUri: !Ref AWS::NoValue}
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer.zip}
"""


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else textwrap.dedent(text).encode())
    return folder


def app(tmp_path: Path) -> Path:
    return write(tmp_path, {"template.yaml": APP, "src/app.py": "def handler(e, c): return 'own'\n",
                            "shared/app.py": "def handler(e, c): return 'shared'\n",
                            "layer.zip": make_zip({"python/x.py": "X = 1\n"})})  # fmt: skip


def test_code_is_packaged_deterministically_and_transformed(tmp_path: Path) -> None:
    folder = app(tmp_path)
    first = prepare(folder / "template.yaml", "us-east-1", {})
    resources = first.template["Resources"]
    assert "Transform" not in first.template
    codes = {lid: r["Properties"]["Code"] for lid, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert codes["Own"]["S3Bucket"] == "nimbus-code"
    assert codes["Own"]["S3Key"] != codes["FromGlobals"]["S3Key"]
    assert codes["Inline"] == {"ZipFile": "def handler(e, c): return 1"}
    assert set(first.zips) == {codes["Own"]["S3Key"], codes["FromGlobals"]["S3Key"],
                               next(r for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion")
                               ["Properties"]["Content"]["S3Key"]}  # fmt: skip
    os.utime(folder / "src" / "app.py", (1, 1))  # only an mtime moved: the same bytes, the same hash
    again = package(folder / "template.yaml", {})
    assert set(again.zips) == set(first.zips)
    assert again.source == first.source
    (folder / "src" / "app.py").write_text("def handler(e, c): return 'changed'\n")
    changed = package(folder / "template.yaml", {})
    assert changed.source != first.source
    assert len(set(changed.zips) - set(first.zips)) == 1
    assert package(folder / "template.yaml", {"Stage": "prod"}).source != changed.source


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (("CodeUri: src/", "CodeUri: nowhere/"), "Resources.Own.Properties.CodeUri: 'nowhere/' does not exist"),
        (("CodeUri: src/", "CodeUri: src/app.py"), "Resources.Own.Properties.CodeUri: 'src/app.py' is a file"),
        (("ContentUri: layer.zip", "ContentUri: gone.zip"), "Resources.Layer.Properties.ContentUri: 'gone.zip'"),
        (("{CodeUri: src/}", "{CodeUri: src/, Events: {E: {Type: Nonsense}}}"), "Resource with id [Own] is invalid"),
        (("Type: AWS::Serverless::LayerVersion", "Type: AWS::Serverless::Function"), "Transform AWS::Serverless"),
    ],
)
def test_bad_input_is_refused_naming_resource_and_property(tmp_path: Path, edit: tuple[str, str], says: str) -> None:
    folder = app(tmp_path)
    (folder / "template.yaml").write_text(APP.replace(*edit))
    with pytest.raises(ValidationError) as info:
        prepare(folder / "template.yaml", "us-east-1", {})
    assert says in info.value.message


def test_translator_messages_are_shown(tmp_path: Path) -> None:
    folder = write(tmp_path, {"template.yaml": """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              InlineCode: "x"
              Handler: index.handler
              Runtime: python3.12
              Events:
                Bad: {Type: SQS, Properties: {BatchSize: 5}}
        """})  # fmt: skip
    with pytest.raises(ValidationError) as info:
        prepare(folder / "template.yaml", "us-east-1", {})
    assert "Resource with id [FnBad] is invalid. Missing required property 'Queue'." in info.value.message


def test_template_lookup_and_samconfig(tmp_path: Path) -> None:
    write(tmp_path, {"template.yaml": APP})
    assert find_template(tmp_path, None, read_samconfig(tmp_path)) == tmp_path / "template.yaml"
    write(tmp_path, {".aws-sam/build/template.yaml": APP})
    assert find_template(tmp_path, None, read_samconfig(tmp_path)) == tmp_path / ".aws-sam/build/template.yaml"
    write(tmp_path, {"samconfig.toml": """\
        version = 0.1
        [default.deploy.parameters]
        stack_name = "shop"
        template_file = "other.yaml"
        parameter_overrides = "Stage=prod Size=2"
        """})  # fmt: skip
    config = read_samconfig(tmp_path)
    assert (config.stack_name, config.template_file) == ("shop", "other.yaml")
    assert config.parameter_overrides == {"Stage": "prod", "Size": "2"}
    assert find_template(tmp_path, None, config) == tmp_path / "other.yaml"
    with pytest.raises(ValidationError, match=r"template file nope\.yaml does not exist"):
        find_template(tmp_path, Path("nope.yaml"), config)
    with pytest.raises(ValidationError, match="no template in"):
        find_template(tmp_path / "src", None, read_samconfig(tmp_path / "src"))


def test_parameter_overrides_forms() -> None:
    assert split_overrides("A=1 B=x=y") == {"A": "1", "B": "x=y"}
    assert split_overrides(["ParameterKey=A,ParameterValue=1", "C="]) == {"A": "1", "C": ""}
    with pytest.raises(ValidationError, match="KEY=VALUE, got 'oops'"):
        split_overrides(["oops"])
