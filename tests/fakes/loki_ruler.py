"""A stateful stand-in for the Loki ruler API (Loki cannot run on this machine), per the Loki HTTP API docs
(https://grafana.com/docs/loki/latest/reference/loki-http-api/, "Ruler" section) and behaviour checked against a
real Loki 3.4.6 (the empty-ruler 404 body, 202 on writes with object-storage rule storage):

- the tenant is `X-Scope-OrgID` (a request without it is 401 `no org id`);
- `GET /loki/api/v1/rules` answers YAML `{namespace: [group, ...]}`, or 404 `no rule groups found` when the tenant
  has none; `GET /loki/api/v1/rules/{namespace}` the same for one namespace;
  `GET /loki/api/v1/rules/{namespace}/{group}` one group;
- `POST /loki/api/v1/rules/{namespace}` with a YAML group body (`Content-Type: application/yaml`) creates or
  replaces that group and answers 202; a body that does not parse as a rule group is 400;
- `DELETE /loki/api/v1/rules/{namespace}/{group}` and `DELETE /loki/api/v1/rules/{namespace}` answer 202;
- any other path answers the router's plain `404 page not found`.
Groups are stored the way the ruler re-serialises them (Prometheus rule format: durations in canonical form,
`for: 0s` and empty maps omitted), so a client must compare normalised.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

import yaml

from generator.truth.types import Duration
from tests.fakes.server import FakeServer, Reply

PREFIX = "/loki/api/v1/rules"
ACCEPTED = {"status": "success", "data": None, "errorType": "", "error": ""}


def _as_stored(group: dict[str, Any]) -> dict[str, Any]:
    """Validate like the ruler (400 on error) and re-serialise like the Prometheus rule format."""
    if not isinstance(group, dict) or not group.get("name"):
        raise ValueError("invalid rule group: a group needs a name")
    rules = group.get("rules")
    if not isinstance(rules, list) or not rules:
        raise ValueError(f"group {group['name']!r}: no rules")
    stored: dict[str, Any] = {"name": group["name"]}
    if group.get("interval"):
        stored["interval"] = str(Duration.parse(str(group["interval"])))
    if group.get("limit"):
        stored["limit"] = int(group["limit"])
    stored["rules"] = []
    for rule in rules:
        if bool(rule.get("alert")) == bool(rule.get("record")) or not rule.get("expr"):
            raise ValueError(f"group {group['name']!r}: a rule needs one of alert/record and an expr")
        out: dict[str, Any] = {"alert": rule["alert"]} if rule.get("alert") else {"record": rule["record"]}
        out["expr"] = str(rule["expr"])
        for key in ("for", "keep_firing_for"):
            if rule.get(key) and str(Duration.parse(str(rule[key]))) != "0s":
                out[key] = str(Duration.parse(str(rule[key])))
        for key in ("labels", "annotations"):
            if rule.get(key):
                out[key] = {k: str(v) for k, v in rule[key].items()}
        stored["rules"].append(out)
    return stored


class FakeLokiRuler(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.tenants: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # tenant -> ns -> group -> group

    # -- helpers for tests ------------------------------------------------------------------------------------

    def put_group(self, tenant: str, namespace: str, group: dict[str, Any]) -> None:
        with self.lock:
            self.tenants.setdefault(tenant, {}).setdefault(namespace, {})[group["name"]] = _as_stored(group)

    def groups(self, tenant: str, namespace: str) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.tenants.get(tenant, {}).get(namespace, {}))

    def wipe(self) -> None:
        with self.lock:
            self.tenants.clear()

    # -- the API ----------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        if not path.startswith(PREFIX):
            return Reply(404, "404 page not found\n")
        tenant = headers.get("x-scope-orgid")
        if not tenant:
            return Reply(401, "no org id\n")
        parts = [unquote(p) for p in path[len(PREFIX):].strip("/").split("/") if p]
        namespaces = self.tenants.setdefault(tenant, {})
        if method == "GET" and len(parts) <= 1:
            selected = {ns: list(groups.values()) for ns, groups in sorted(namespaces.items())
                        if groups and (not parts or ns == parts[0])}
            if not selected:
                return Reply(404, "no rule groups found\n")
            return Reply(200, yaml.safe_dump(selected, sort_keys=False), "application/yaml")
        if method == "GET" and len(parts) == 2:
            group = namespaces.get(parts[0], {}).get(parts[1])
            if group is None:
                return Reply(404, "group does not exist\n")
            return Reply(200, yaml.safe_dump(group, sort_keys=False), "application/yaml")
        if method == "POST" and len(parts) == 1:
            if not re.match(r"application/(x-)?yaml", headers.get("content-type", "")):
                return Reply(400, "unsupported content type\n")
            try:
                stored = _as_stored(yaml.safe_load(body))
            except (yaml.YAMLError, ValueError, TypeError) as exc:
                return Reply(400, f"{exc}\n")
            namespaces.setdefault(parts[0], {})[stored["name"]] = stored
            return Reply(202, ACCEPTED)
        if method == "DELETE" and len(parts) == 2:
            if namespaces.get(parts[0], {}).pop(parts[1], None) is None:
                return Reply(404, "group does not exist\n")
            return Reply(202, ACCEPTED)
        if method == "DELETE" and len(parts) == 1:
            namespaces.pop(parts[0], None)
            return Reply(202, ACCEPTED)
        return Reply(404, "404 page not found\n")
