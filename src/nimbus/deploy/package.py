"""What `nimbus deploy` does with the user's files before the server sees anything: find the template (and
samconfig.toml's settings), zip local code deterministically, and run the SAM transform (the `aws-sam-translator`
package, the library SAM itself uses). The result is a plain CloudFormation template plus the zips it names.

Local code (`CodeUri`, `ContentUri`, a function's `Code` or a layer's `Content` given as a path; a folder or a
.zip) becomes `s3://nimbus-code/<sha256>` before the transform, which wants an S3 location, and the CLI uploads
the zip under that hash. An unchanged folder gives the same bytes, so the same hash, so no update.
"""

from __future__ import annotations

import hashlib
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimbus.deploy.code import CODE_BUCKET
from nimbus.deploy.examples import zip_folder
from nimbus.deploy.template import dumps, is_sam, load_template
from nimbus.errors import ValidationError

#: what every refusal here raises (the CLI catches it by this name: it does not import the server's errors)
Refused = ValidationError
#: where `nimbus deploy` looks, in order, when no template is named (`sam build`'s output first, as `sam deploy`)
TEMPLATE_NAMES = (".aws-sam/build/template.yaml", "template.yaml", "template.yml", "template.json")
SAMCONFIG = "samconfig.toml"
#: the code properties of each type, and whether the SAM form (an s3:// string) or CloudFormation's (a mapping)
_CODE_PROPS = {
    "AWS::Serverless::Function": ("CodeUri", True),
    "AWS::Serverless::LayerVersion": ("ContentUri", True),
    "AWS::Lambda::Function": ("Code", False),
    "AWS::Lambda::LayerVersion": ("Content", False),
}


@dataclass
class Packaged:
    """A template ready for the server: CloudFormation (transformed), and the zips it names by sha256.
    `source` identifies what the user deployed (the packaged template before the transform, and the parameters):
    the same source as the stack's last deploy needs no transform to be known unchanged."""

    template: dict[str, Any]
    zips: dict[str, bytes] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class SamConfig:
    """The `[default.deploy.parameters]` table of samconfig.toml (what `nimbus deploy` reads of it)."""

    stack_name: str | None = None
    template_file: str | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)


def split_overrides(value: Any) -> dict[str, str]:
    """`K=V K2=V2` (a string or list), or SAM's `ParameterKey=K,ParameterValue=V`, as a dict."""
    items = value.split() if isinstance(value, str) else [str(v) for v in value or []]
    pairs: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            key_part, _, value_part = item.partition(",")
            pairs[key_part.removeprefix("ParameterKey=")] = value_part.removeprefix("ParameterValue=")
            continue
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"parameter overrides are KEY=VALUE, got {item!r}")
        pairs[key] = text.strip('"')
    return pairs


def read_samconfig(folder: Path, environment: str = "default") -> SamConfig:
    path = folder / SAMCONFIG
    if not path.is_file():
        return SamConfig()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: not valid TOML: {exc}") from None
    section = doc.get(environment, {}).get("deploy", {}).get("parameters", {})
    if not isinstance(section, dict):
        return SamConfig()
    return SamConfig(section.get("stack_name"), section.get("template_file") or section.get("template"),
                     split_overrides(section.get("parameter_overrides")))  # fmt: skip


def find_template(folder: Path, given: Path | None, config: SamConfig) -> Path:
    if given is not None:
        if not given.is_file():
            raise ValidationError(f"template file {given} does not exist")
        return given
    if config.template_file:
        return folder / config.template_file
    for name in TEMPLATE_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise ValidationError(f"no template in {folder}: looked for {', '.join(TEMPLATE_NAMES)} (or give -t FILE)")


def _zip_of(base: Path, value: str, where: str) -> bytes:
    path = (base / value).resolve()
    if path.is_dir():
        return zip_folder(path)
    if path.is_file() and path.suffix == ".zip":
        return path.read_bytes()
    if path.is_file():
        raise ValidationError(f"{where}: {value!r} is a file, not a folder or a .zip")
    raise ValidationError(f"{where}: {value!r} does not exist (relative to {base})")


def package_code(doc: dict[str, Any], base: Path) -> dict[str, bytes]:
    """Replace local code paths in `doc` (in place) by uploaded-code locations; the zips, by sha256."""
    zips: dict[str, bytes] = {}
    globals_fn = (doc.get("Globals") or {}).get("Function") or {}
    for logical_id, resource in (doc.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") not in _CODE_PROPS:
            continue
        prop, sam = _CODE_PROPS[resource["Type"]]
        props = resource.setdefault("Properties", {})
        if not isinstance(props, dict):
            continue
        value = props.get(prop)
        if value is None and sam and prop == "CodeUri" and "InlineCode" not in props and "ImageUri" not in props:
            value = globals_fn.get("CodeUri")
        if not isinstance(value, str) or value.startswith("s3://"):
            continue
        data = _zip_of(base, value, f"Resources.{logical_id}.Properties.{prop}")
        digest = hashlib.sha256(data).hexdigest()
        zips[digest] = data
        props[prop] = f"s3://{CODE_BUCKET}/{digest}" if sam else {"S3Bucket": CODE_BUCKET, "S3Key": digest}
    return zips


def transform(doc: dict[str, Any], region: str, parameters: dict[str, str]) -> dict[str, Any]:
    """The SAM transform; its refusals as one ValidationError listing the translator's own messages."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException, InvalidResourceException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    declared = doc.get("Parameters") or {}
    values: dict[str, Any] = {k: v["Default"] for k, v in declared.items() if isinstance(v, dict) and "Default" in v}
    values |= {k: v for k, v in parameters.items() if k in declared}
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its metrics warn of being unpublished at exit
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        out: dict[str, Any] = translator.translate(doc, parameter_values=values, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        messages = "; ".join(cause.message for cause in exc.causes)
        raise ValidationError(f"Transform AWS::Serverless-2016-10-31 failed: {messages}") from None
    except InvalidResourceException as exc:
        raise ValidationError(f"Transform AWS::Serverless-2016-10-31 failed: {exc.message}") from None
    return out


def package(path: Path, parameters: dict[str, str], skip_unsupported: bool = False) -> Packaged:
    """Read one template file and package its code (no transform yet: `transformed` does it)."""
    doc = load_template(path.read_bytes(), str(path))
    zips = package_code(doc, path.parent)
    source = hashlib.sha256(dumps([doc, parameters, skip_unsupported]).encode()).hexdigest()
    return Packaged(doc, zips, source)


def transformed(packaged: Packaged, region: str, parameters: dict[str, str]) -> Packaged:
    """The packaged template with the SAM transform applied (when it asks for it)."""
    if is_sam(packaged.template):
        return Packaged(transform(packaged.template, region, parameters), packaged.zips, packaged.source)
    return packaged


def prepare(path: Path, region: str, parameters: dict[str, str]) -> Packaged:
    """Read, package and transform one template file."""
    return transformed(package(path, parameters), region, parameters)
