"""The desired state: objects read from the generated tree on disk, found by path so no renderer is imported.

- `dashboards/*.json`: Grafana dashboards (key: uid)
- `dashboards/provisioning/**/*.yaml` with a `datasources:` list: Grafana data sources (Grafana's file-provisioning
  format; `$VAR` / `${VAR}` are expanded from the environment as Grafana itself does)
- `loki/rules/<tenant>/<namespace>.yaml`: Loki ruler groups (key: tenant/namespace/group)
- `alerts/**/*.yaml` with `groups:`: Prometheus rule files; with `route:` and `receivers:`: the Alertmanager config
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.provision.config import ConfigError, Secret


class GeneratedTreeError(Exception):
    """A generated file cannot be used for provisioning; the message names the file."""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    body: dict[str, Any]
    source: str


@dataclass(frozen=True)
class Datasource:
    uid: str
    name: str
    body: dict[str, Any]
    source: str


@dataclass(frozen=True)
class LokiGroup:
    tenant: str
    namespace: str
    name: str
    body: dict[str, Any]
    source: str

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ConfigFile:
    """A file copied verbatim to the target (Prometheus rules, Alertmanager config)."""

    name: str  # file name at the target
    content: str
    source: str


@dataclass
class Desired:
    dashboards: list[Dashboard] = field(default_factory=list)
    datasources: list[Datasource] = field(default_factory=list)
    loki_groups: list[LokiGroup] = field(default_factory=list)
    loki_rule_files: dict[str, str] = field(default_factory=dict)  # repo-relative path -> text, for validation
    prometheus_rules: list[ConfigFile] = field(default_factory=list)
    alertmanager_config: ConfigFile | None = None
    folder_title: str | None = None  # from the generated dashboards provider, when there is one
    folder_uid: str | None = None
    secrets: list[Secret] = field(default_factory=list)  # values expanded from the environment into datasources


_ENV_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand(value: Any, env: Mapping[str, str], source: str, secrets: list[Secret], secret: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, env, source, secrets, secret or k == "secureJsonData") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, source, secrets, secret) for v in value]
    if isinstance(value, str) and "$" in value:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name not in env:
                raise ConfigError(f"{source}: refers to ${name}, which is not set in the environment")
            if secret:
                secrets.append(Secret(env[name]))
            return env[name]

        return _ENV_REF.sub(replace, value)
    return value


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))


def _load_yaml(path: Path, repo: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GeneratedTreeError(f"{path.relative_to(repo)}: not valid YAML: {exc}") from exc


def discover(repo: Path, env: Mapping[str, str] | None = None, datasources: bool = True) -> Desired:
    """The generated tree. `datasources=False` (Grafana not a target) leaves the data-source files unread, so the
    variables only Grafana's data sources use are not needed."""
    env = os.environ if env is None else env
    desired = Desired()
    dashboards_dir = repo / "dashboards"
    for path in sorted(dashboards_dir.glob("*.json")):
        rel = path.relative_to(repo).as_posix()
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise GeneratedTreeError(f"{rel}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
        if not isinstance(body, dict) or not body.get("uid") or not body.get("title"):
            raise GeneratedTreeError(f"{rel}: a dashboard needs a `uid` and a `title` to be provisioned")
        desired.dashboards.append(Dashboard(body["uid"], body["title"], body, rel))

    provisioning = dashboards_dir / "provisioning"
    if provisioning.is_dir():
        for path in _yaml_files(provisioning):
            data = _load_yaml(path, repo)
            providers = data.get("providers") if isinstance(data, dict) else None
            if isinstance(providers, list) and providers and isinstance(providers[0], dict):
                # The file provider's folder is where Grafana would put the dashboards: the API path agrees.
                desired.folder_title = desired.folder_title or providers[0].get("folder") or None
                desired.folder_uid = desired.folder_uid or providers[0].get("folderUid") or None
            if not datasources or not isinstance(data, dict) or not isinstance(data.get("datasources"), list):
                continue
            rel = path.relative_to(repo).as_posix()
            for index, raw in enumerate(data["datasources"]):
                if not isinstance(raw, dict) or not raw.get("name") or not raw.get("type"):
                    raise GeneratedTreeError(f"{rel}: datasources[{index}] needs `name` and `type`")
                body = _expand(raw, env, f"{rel} datasources[{index}]", desired.secrets)
                # Grafana's file format names the org; the HTTP API takes it from the token instead.
                body.pop("orgId", None)
                body.pop("editable", None)
                body.pop("version", None)
                desired.datasources.append(Datasource(body.get("uid") or body["name"], body["name"], body, rel))

    loki_rules = repo / "loki" / "rules"
    if loki_rules.is_dir():
        for path in _yaml_files(loki_rules):
            rel = path.relative_to(repo).as_posix()
            parts = path.relative_to(loki_rules).parts
            if len(parts) != 2:
                raise GeneratedTreeError(f"{rel}: Loki rule files live at loki/rules/<tenant>/<namespace>.yaml")
            data = _load_yaml(path, repo)
            groups = data.get("groups") if isinstance(data, dict) else None
            if not isinstance(groups, list):
                raise GeneratedTreeError(f"{rel}: a Loki rule file needs a top-level `groups:` list")
            desired.loki_rule_files[rel] = path.read_text(encoding="utf-8")
            for index, group in enumerate(groups):
                if not isinstance(group, dict) or not isinstance(group.get("name"), str):
                    raise GeneratedTreeError(f"{rel}: groups[{index}] needs a `name`")
                desired.loki_groups.append(LokiGroup(parts[0], path.stem, group["name"], group, rel))

    alerts = repo / "alerts"
    if alerts.is_dir():
        names: dict[str, str] = {}
        for path in _yaml_files(alerts):
            rel = path.relative_to(repo).as_posix()
            data = _load_yaml(path, repo)
            if not isinstance(data, dict):
                continue
            file = ConfigFile(path.name, path.read_text(encoding="utf-8"), rel)
            if isinstance(data.get("groups"), list):
                if path.name in names:
                    raise GeneratedTreeError(f"{rel} and {names[path.name]}: two rule files named {path.name}")
                names[path.name] = rel
                desired.prometheus_rules.append(file)
            elif "route" in data and "receivers" in data:
                if desired.alertmanager_config is not None:
                    raise GeneratedTreeError(
                        f"{rel} and {desired.alertmanager_config.source}: two Alertmanager configs")
                desired.alertmanager_config = file
    return desired
