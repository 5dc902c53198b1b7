"""What the console's pages show, read from the services the API reads (the registry, versions, URLs, mappings,
rules, subscriptions, concurrency) and the time series: plain dicts for the templates, no rule of its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nimbus.api.services import Services
from nimbus.console.timeseries import Minute

#: files listed in a code tree at most; a bigger tree is cut with a note
TREE_MAX = 500
#: bytes of the handler file shown at most
SOURCE_MAX = 256 * 1024
#: sort keys of the functions list
SORTS = ("name", "runtime", "memory", "modified", "invocations", "errors", "p50", "p99", "cold_starts")


def function_rows(
    services: Services, recent: dict[str, Minute], search: str, sort: str, desc: bool
) -> list[dict[str, Any]]:
    """The functions list: configuration and last-hour figures, filtered by `search` (in the name) and sorted."""
    out = []
    for name in services.registry.names():
        if search and search.lower() not in name.lower():
            continue
        config = services.registry.get(name).config
        m = recent.get(name) or Minute()
        out.append({
            "name": name, "runtime": config.get("Runtime") or config.get("PackageType", ""),
            "memory": config.get("MemorySize", 128), "modified": config.get("LastModified", ""),
            "invocations": m.invocations, "errors": m.errors, "p50": m.p(50), "p99": m.p(99),
            "cold_starts": m.cold_starts,
        })  # fmt: skip
    key = sort if sort in SORTS else "name"
    out.sort(key=lambda row: (row[key] is None, row[key] if row[key] is not None else 0), reverse=desc)
    return out


def function_detail(services: Services, name: str) -> dict[str, Any]:
    """Everything the function page shows about `name` (ResourceNotFound when there is no such function)."""
    registry = services.registry
    rec = registry.get(name)
    config = registry.configuration(rec)
    arn = registry.function_arn(name)
    versions = [registry.configuration(rec, version=v, qualifier=v) for v in rec.version_names()[1:]]
    aliases = [services.versions.describe_alias(name, a, c) for a, c in sorted(rec.aliases.items())]
    urls, _ = services.function_urls.list(name, None, None)
    mappings, _ = services.mappings.list(None, name, None, None)
    rules = [
        {"bus": r.bus, "name": r.name, "state": r.state, "pattern": r.event_pattern, "schedule": r.schedule}
        for bus in services.event_bus.rules.rules.values() for r in bus.values()
        if any(_targets(t.get("Arn", ""), arn) for t in r.targets)
    ]  # fmt: skip
    subs, _ = services.topics.list_subscriptions(None, None)
    schedules = [s for s in services.scheduler.schedules() if _targets(str(s.target.get("Arn", "")), arn)]
    provisioned = [
        {"qualifier": c.qualifier, "requested": c.requested, "ready": services.concurrency.ready(c)}
        for c in services.concurrency.configs.all() if c.function == name
    ]  # fmt: skip
    return {
        "name": name, "arn": arn, "config": config, "tags": rec.tags,
        "environment": (config.get("Environment") or {}).get("Variables") or {},
        "layers": config.get("Layers") or [], "versions": versions, "aliases": aliases,
        "urls": [{"qualifier": u.qualifier, "auth": u.auth_type, "url": services.function_urls.describe(u, "")}
                 for u in urls],
        "mappings": [{"uuid": m.uuid, "source": m.source_arn, "queue": m.source_arn.rsplit(":", 1)[-1],
                      "enabled": m.enabled, "batch": m.batch_size} for m in mappings],
        "rules": rules,
        "subscriptions": [{"topic": s.topic_arn, "arn": s.arn} for s in subs
                          if s.protocol == "lambda" and _targets(s.endpoint, arn)],
        "schedules": [{"group": s.group, "name": s.name, "expression": s.expression} for s in schedules],
        "reserved": services.concurrency.reserved(name), "provisioned": provisioned,
    }  # fmt: skip


def _targets(target_arn: str, function_arn: str) -> bool:
    """Whether an ARN names the function, qualified or not."""
    return target_arn == function_arn or target_arn.startswith(function_arn + ":")


def handler_file(code_dir: Path, handler: str, runtime: str) -> str | None:
    """The file a handler string names (`app.handler` -> app.py, app.mjs or app.js), relative, if it exists."""
    module = handler.rpartition(".")[0] if "." in handler else handler
    suffixes = (".py",) if runtime.startswith("python") else (".mjs", ".js", ".cjs") if runtime.startswith(
        "nodejs") else ("", ".sh")  # fmt: skip
    for suffix in suffixes:
        candidate = module + suffix
        if (code_dir / candidate).is_file():
            return candidate
    return "bootstrap" if (code_dir / "bootstrap").is_file() else None


def code_tree(code_dir: Path, handler: str, runtime: str) -> dict[str, Any]:
    """The code's files (relative paths, sizes), capped at TREE_MAX, and the handler file's text when it is text."""
    files: list[dict[str, Any]] = []
    cut = False
    for root, dirs, names in os.walk(code_dir):
        dirs.sort()
        for n in sorted(names):
            if len(files) >= TREE_MAX:
                cut = True
                break
            path = Path(root) / n
            rel = path.relative_to(code_dir)
            files.append({"path": str(rel), "depth": len(rel.parts) - 1, "size": path.stat().st_size})
    shown = handler_file(code_dir, handler, runtime)
    source = None
    if shown is not None:
        raw = (code_dir / shown).read_bytes()[:SOURCE_MAX]
        try:
            source = raw.decode()
        except UnicodeDecodeError:
            source = None
    return {"files": files, "cut": cut, "handler_file": shown, "source": source}
