"""What an EventBridge target receives, pure: the event itself, or its Input, InputPath or InputTransformer.

- `Input`: constant JSON text, sent as is.
- `InputPath`: a JSONPath (the subset EventBridge documents: `$`, `$.a.b`, `$.a[0]`, `$['a-b']`) whose value is sent
  as JSON (null when the event has no such field).
- `InputTransformer`: `InputPathsMap` names values by paths; `InputTemplate` places them with `<name>`. As
  EventBridge does, a placeholder inside a JSON string takes the value's text escaped for that string (a string
  without its quotes, anything else as its JSON); outside a string it takes the value's JSON (a string with
  quotes). A template that is not JSON (its first character is none of `{`, `[`, `"`) is plain text, and takes
  strings as they are. Besides the map's names: `<aws.events.rule-arn>`, `<aws.events.rule-name>`,
  `<aws.events.event.ingestion-time>`, and the whole event as `<aws.events.event>` or `<aws.events.event.json>`.
  A placeholder of no known name is left as written.

Paths and templates are checked at PutTargets (`check_*` raise ValueError with EventBridge's reason); `payload` then
only walks the event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESERVED_PREFIX = "aws.events"
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_KEY = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What the `aws.events.*` placeholders read besides the event."""

    rule_arn: str
    rule_name: str
    #: the event's ingestion time, ISO 8601 (`2024-05-01T12:00:00Z`)
    ingestion_time: str


def parse_path(path: str) -> tuple[str | int, ...]:
    """The keys of a JSONPath of EventBridge's subset (`$` alone is the whole event); ValueError if not one."""
    if not path.startswith("$"):
        raise ValueError(f"{path!r} is not a valid JSONPath: it must start with $")
    keys: list[str | int] = []
    pos = 1
    while pos < len(path):
        found = _KEY.match(path, pos)
        if found is None:
            raise ValueError(f"{path!r} is not a valid JSONPath")
        name, index, quoted, double = found.groups()
        keys.append(int(index) if index is not None else next(k for k in (name, quoted, double) if k is not None))
        pos = found.end()
    return tuple(keys)


def select(event: Any, path: str) -> Any:
    """The value at `path` in `event`, or None when there is none."""
    value = event
    for key in parse_path(path):
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and -len(value) <= key < len(value) else _MISSING
        else:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return None
    return value


def check_paths_map(paths: Mapping[str, str]) -> None:
    """InputPathsMap's rules: no reserved names, every value a JSONPath."""
    for name, path in paths.items():
        if name.startswith(RESERVED_PREFIX):
            raise ValueError(f"InputPathsMap cannot use the reserved name {name!r} (names starting with aws.events).")
        parse_path(path)


def _json_mode(template: str) -> bool:
    return template.lstrip()[:1] in ("{", "[", '"')


def render(template: str, values: Mapping[str, Any]) -> str:
    """`template` with each `<name>` of `values` replaced (see the module's rules); other placeholders stay."""
    json_mode = _json_mode(template)
    out: list[str] = []
    in_string = False
    pos = 0
    while pos < len(template):
        char = template[pos]
        if char == "<":
            found = _PLACEHOLDER.match(template, pos)
            if found is not None and found.group(1) in values:
                out.append(_text(values[found.group(1)], in_string=in_string, json_mode=json_mode))
                pos = found.end()
                continue
        if json_mode and char == '"':
            in_string = not in_string
        elif json_mode and in_string and char == "\\" and pos + 1 < len(template):
            out.append(template[pos : pos + 2])
            pos += 2
            continue
        out.append(char)
        pos += 1
    return "".join(out)


def _text(value: Any, *, in_string: bool, json_mode: bool) -> str:
    if in_string:
        text = value if isinstance(value, str) else "" if value is None else json.dumps(value)
        return json.dumps(text)[1:-1]
    if not json_mode and isinstance(value, str):
        return value
    return json.dumps(value)


def check_template(template: str, names: Mapping[str, str]) -> None:
    """A JSON template must be JSON once its placeholders are filled (EventBridge refuses it otherwise)."""
    if not _json_mode(template):
        return
    dummy: dict[str, Any] = {name: None for name in names}
    dummy.update({name: None for name in _reserved_names()})
    try:
        json.loads(render(template, dummy))
    except ValueError:
        raise ValueError("InputTemplate is not valid JSON once its placeholders are filled.") from None


def _reserved_names() -> tuple[str, ...]:
    return ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time", "aws.events.event",
            "aws.events.event.json")  # fmt: skip


def transform(transformer: Mapping[str, Any], event: Mapping[str, Any], context: RuleContext) -> str:
    """An InputTransformer's output for `event`."""
    paths = transformer.get("InputPathsMap") or {}
    values: dict[str, Any] = {name: select(event, path) for name, path in paths.items()}
    values["aws.events.rule-arn"] = context.rule_arn
    values["aws.events.rule-name"] = context.rule_name
    values["aws.events.event.ingestion-time"] = context.ingestion_time
    values["aws.events.event"] = values["aws.events.event.json"] = dict(event)
    return render(str(transformer["InputTemplate"]), values)


def payload(target: Mapping[str, Any], event: Mapping[str, Any], context: RuleContext) -> bytes:
    """What `target` (PutTargets' Target) receives for `event`: Input, InputPath, InputTransformer, or the event."""
    if target.get("Input") is not None:
        return str(target["Input"]).encode()
    if target.get("InputPath"):
        return json.dumps(select(event, str(target["InputPath"]))).encode()
    if target.get("InputTransformer"):
        return transform(target["InputTransformer"], event, context).encode()
    return json.dumps(event).encode()
