"""Template text -> a template dict: JSON, or YAML with CloudFormation's short-form tags (`!Ref`, `!GetAtt`,
`!Sub`, ...) turned into their long form (`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`), as CloudFormation reads them.

Pure: text in, dict out. YAML anchors and aliases are refused (CloudFormation does not take them either), so a
template can never expand into a billion laughs while the engine walks it.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from nimbus.errors import ValidationError

#: the most bytes of template text read (CloudFormation's own limit for a template given in the request body is
#: 51,200 bytes, 1 MB through S3; SAM templates before the transform are larger than what they become)
TEMPLATE_MAX = 1 << 20
#: the deepest nesting of mappings and lists taken (the template itself is level 1): the engine's walkers (intrinsics,
#: the dependency graph, the plan) recurse once or twice a level, so a template sent straight to the stacks API as
#: deep as the JSON parser reads would end in a RecursionError. Real templates, SAM's OpenAPI bodies included,
#: stay far below it
TEMPLATE_DEPTH_MAX = 100
#: the top-level sections CloudFormation knows
SECTIONS = frozenset({
    "AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions",
    "Transform", "Resources", "Outputs", "Globals",
})  # fmt: skip
#: short-form tags whose value is the function's argument as written
_FUNCTIONS = (
    "Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub", "Transform", "And",
    "Equals", "If", "Not", "Or", "Contains", "EachMemberEquals", "EachMemberIn", "RefAll", "ValueOf", "ValueOfAll",
    "Length", "ToJsonString",
)  # fmt: skip


class TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader with CloudFormation's tags, and no aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not supported in templates", event.start_mark
            )
        return super().compose_node(parent, index)


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _function(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        return {name: _construct(loader, node)}

    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """`!GetAtt Res.Attr` (a string, split at the first dot) or `!GetAtt [Res, Attr]`."""
    value = _construct(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


TemplateLoader.add_constructor("!Ref", lambda loader, node: {"Ref": _construct(loader, node)})
TemplateLoader.add_constructor("!Condition", lambda loader, node: {"Condition": _construct(loader, node)})
TemplateLoader.add_constructor("!GetAtt", _get_att)
for _name in _FUNCTIONS:
    TemplateLoader.add_constructor(f"!{_name}", _function(f"Fn::{_name}"))


def load_template(text: str | bytes, source: str = "template") -> dict[str, Any]:
    """Parse a template (JSON or YAML); ValidationError names `source` and the line of a syntax error."""
    if len(text) > TEMPLATE_MAX:
        raise ValidationError(f"{source}: the template is larger than {TEMPLATE_MAX} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{source}: the template is not UTF-8 text: {exc}") from None
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=TemplateLoader)
    except RecursionError:
        raise ValidationError(f"{source}: the template is nested too deeply") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ValidationError(f"{source}: not a valid template: {' '.join(str(exc).split())}") from None
    return check_shape(doc, source)


def check_shape(doc: Any, source: str = "template") -> dict[str, Any]:
    """The template's outline: a mapping with a Resources mapping of typed resources, known sections only."""
    if not isinstance(doc, dict):
        raise ValidationError(f"{source}: a template is a mapping of sections (Resources, Parameters, ...)")
    if _too_deep(doc, TEMPLATE_DEPTH_MAX):
        raise ValidationError(f"{source}: the template is nested deeper than {TEMPLATE_DEPTH_MAX} levels")
    unknown = sorted(str(key) for key in doc if key not in SECTIONS)
    if unknown:
        raise ValidationError(f"{source}: unknown template section(s): {', '.join(unknown)}")
    resources = doc.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise ValidationError(f"{source}: the template has no Resources (at least one resource is required)")
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise ValidationError(f"{source}: resource {logical_id}: Type is required (a string)")
        if not str(logical_id).isalnum():
            raise ValidationError(f"{source}: resource {logical_id}: a logical id is alphanumeric (A-Za-z0-9)")
        if "Properties" in resource and not isinstance(resource["Properties"], dict):
            raise ValidationError(f"{source}: resource {logical_id}: Properties must be a mapping")
    for section in ("Parameters", "Mappings", "Conditions", "Outputs"):
        if section in doc and not isinstance(doc[section], dict):
            raise ValidationError(f"{source}: {section} must be a mapping")
    return doc


def _too_deep(doc: Any, limit: int) -> bool:
    """Whether mappings and lists nest deeper than `limit` levels; iterative, so that the check itself cannot
    overflow the stack it guards."""
    pending: list[tuple[Any, int]] = [(doc, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                pending.append((child, depth + 1))
    return False


def dumps(doc: Any) -> str:
    """A template as canonical JSON (sorted keys): what is stored, compared and sent to the server."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def is_sam(doc: dict[str, Any]) -> bool:
    """Whether the template asks for the SAM transform."""
    transform = doc.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return any(isinstance(n, str) and n.startswith("AWS::Serverless") for n in names)
