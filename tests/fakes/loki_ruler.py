"""A stateful stand-in for the Loki ruler (Loki cannot run on this machine) with object-storage rule storage, the
setup whose API accepts writes. Each behaviour names what it follows: a Loki source file (grafana/loki, 3.x), the
Loki HTTP API docs (https://grafana.com/docs/loki/latest/reference/loki-http-api/, "Ruler"), or "checked against
Loki 3.4.6" (the project's shared REFERENCE.md, answers of a real Loki 3.4.6 on loopback).

Routing and tenants
- Routes are matched on the *decoded* path (gorilla/mux's default), so a name sent with `%2F` becomes two path
  segments and reaches no handler: the router's plain `404 page not found` (checked against Loki 3.4.6). Paths
  outside the ruler's routes get the same answer.
- `auth_enabled: true`: the tenant is `X-Scope-OrgID`; without it the auth middleware answers 401 `no org id`
  (dskit middleware.AuthenticateUser). `auth_enabled: false`: the header is ignored and every request is tenant
  `fake` (pkg/util/fakeauth/fake_auth.go; checked against Loki 3.4.6).

Rule-group API (pkg/ruler/base/api.go)
- `GET /loki/api/v1/rules[/{namespace}]`: YAML `{namespace: [group, ...]}`; none: 404 `no rule groups found`
  (ListRules; checked against Loki 3.4.6). `GET .../{namespace}/{group}`: one group, 404 `group does not exist`
  (GetRuleGroup, pkg/ruler/rulestore/store.go ErrGroupNotFound).
- `POST /loki/api/v1/rules/{namespace}`: the body is read whatever its Content-Type (`application/yaml` and
  `text/plain` both answer 202, checked against Loki 3.4.6); YAML that does not decode is 400 `unable to decoded
  rule group`; then pkg/ruler/compat.go ValidateGroups: an empty name, a rule without alert/record or expr, and
  an expression `syntax.ParseExpr` rejects are 400, messages joined with ", ", e.g. `could not parse expression
  for alert 'X' in group 'Y': parse error at line 1, col 40: syntax error...` (the LogQL grammar here is
  Grafana's lezer grammar; Loki's goyacc text after `syntax error` is not reproduced). A label matcher's regex
  is compiled while parsing (pkg/logql/syntax/ast.go mustNewMatcher): an invalid one is a parse error at line 0,
  `parse error : error parsing regexp: ...`. A line filter's regex is only compiled when the rule is evaluated,
  so it is accepted (checked against Loki 3.4.6). Accepted writes answer 202
  `{"status":"success","data":null,"errorType":"","error":""}` (respondAccepted).
- `DELETE /loki/api/v1/rules/{namespace}/{group}`: 202, also for a group that does not exist (checked against
  Loki 3.4.6 with the filesystem object store: its Delete of a missing object is no error, so
  pkg/ruler/rulestore/bucketclient DeleteRuleGroup does not return ErrGroupNotFound).
  `DELETE /loki/api/v1/rules/{namespace}`: 202, or 404 `group namespace does not exist` when it holds no group
  (bucketclient DeleteNamespace).
Groups are stored the way the ruler re-serialises them (Prometheus rule format: durations canonical, `for: 0s`
and empty maps omitted), so a client must compare normalised.

Rule health (`GET /prometheus/api/v1/rules`, PrometheusRules in pkg/ruler/base/api.go)
- The ruler evaluates what it loaded at its last poll of the store (`ruler.poll_interval`), so a group just
  written is not listed until then. `sync()` is that poll followed by one evaluation of every group;
  `sync_on_write` (default) runs it after each write, as if the poll came before the next read.
- Health is Prometheus's `ok` / `err` (prometheus/rules); a line filter whose regex does not compile in RE2 makes
  its rule `err` with lastError `rule evaluation failed: error parsing regexp: ...` (pkg/ruler/compat.go
  queryFunc wraps the evaluation error; the RE2 message after it is google-re2's, not Go's wording).
  `| regexp` parser stages are not evaluated by this fake.
"""

from __future__ import annotations

import copy
import functools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import yaml

from generator.syntax.logql_grammar import ParseResult, parse_batch, strings_after
from generator.truth.types import Duration, compile_re2, re2_error_text
from tests.fakes.server import FakeServer, Reply

PREFIX = "/loki/api/v1/rules"
PROMETHEUS_RULES = "/prometheus/api/v1/rules"
ROUTER_404 = "404 page not found\n"
ACCEPTED = {"status": "success", "data": None, "errorType": "", "error": ""}
SINGLE_TENANT = "fake"

Groups = dict[str, dict[str, dict[str, dict[str, Any]]]]  # tenant -> namespace -> group name -> group


@functools.lru_cache(maxsize=4096)
def _parsed(expr: str) -> ParseResult:
    # One grammar process per new expression: tests post the same few groups many times.
    return parse_batch([expr], with_nodes=True)[0]


def _regex_problem(pattern: str) -> str | None:
    try:
        compile_re2(pattern)
    except Exception as exc:  # re2.error
        return re2_error_text(exc)
    return None


def _regexes(result: ParseResult, container: str, markers: set[str]) -> list[str]:
    """Regex literals in nodes named `container` (Matcher, LineFilter) that follow one of `markers`."""
    return strings_after(result, markers, container)


def _parse_error(result: ParseResult) -> str | None:
    """Loki's ParseError text (pkg/logql/syntax: `parse error at line L, col C: msg`) for what ParseExpr rejects."""
    if result.errors:
        offset = result.errors[0][0]
        before = result.expression[:offset]
        line = before.count("\n") + 1
        col = offset - (before.rfind("\n") + 1) + 1
        return f"parse error at line {line}, col {col}: syntax error"
    for pattern in _regexes(result, "Matcher", {"Re", "Nre"}):
        problem = _regex_problem(pattern)
        if problem:
            return f"parse error : error parsing regexp: {problem}"
    return None


def _as_stored(group: Any) -> dict[str, Any]:
    """ValidateGroups (pkg/ruler/compat.go) with Loki's messages, then the re-serialised form."""
    if not isinstance(group, dict):
        raise ValueError("unable to decoded rule group")
    rules = group.get("rules") or []
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        raise ValueError("unable to decoded rule group")  # yaml.Unmarshal into rulefmt.RuleGroup fails
    name = str(group.get("name") or "")
    errors: list[str] = []
    if not name:
        errors.append("group 0: Groupname must not be empty")
    exprs = [str(rule.get("expr") or "") for rule in rules]
    for rule, expr in zip(rules, exprs, strict=True):
        if rule.get("alert") and rule.get("record"):
            errors.append("only one of 'record' and 'alert' must be set")
        elif not rule.get("alert") and not rule.get("record"):
            errors.append("one of 'record' or 'alert' must be set")
        elif not expr:
            errors.append("field 'expr' must be set in rule")
        if expr:
            problem = _parse_error(_parsed(expr))
            if problem and (rule.get("alert") or rule.get("record")):
                kind, rule_name = ("record", rule["record"]) if rule.get("record") else ("alert", rule["alert"])
                errors.append(f"could not parse expression for {kind} '{rule_name}' in group '{name}': {problem}")
    if errors:
        raise ValueError(", ".join(errors))
    stored: dict[str, Any] = {"name": name}
    if group.get("interval"):
        stored["interval"] = str(Duration.parse(str(group["interval"])))
    if group.get("limit"):
        stored["limit"] = int(group["limit"])
    stored["rules"] = []
    for rule in rules:
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


def _evaluate(rule: dict[str, Any]) -> tuple[str, str]:
    """(health, lastError) after one evaluation: only a line filter's regex can fail here."""
    for pattern in _regexes(_parsed(rule["expr"]), "LineFilter", {"PipeMatch", "Nre"}):
        problem = _regex_problem(pattern)
        if problem:
            return "err", f"rule evaluation failed: error parsing regexp: {problem}"
    return "ok", ""


class FakeLokiRuler(FakeServer):
    def __init__(self, auth_enabled: bool = True) -> None:
        super().__init__()
        self.auth_enabled = auth_enabled
        self.sync_on_write = True
        self.tenants: Groups = {}  # the rule store
        self.loaded: dict[str, list[dict[str, Any]]] = {}  # tenant -> groups the ruler evaluates, with health
        self.failing: dict[tuple[str, str, str], str] = {}  # (tenant, namespace, group) -> evaluation error

    # -- helpers for tests ------------------------------------------------------------------------------------

    def put_group(self, tenant: str, namespace: str, group: dict[str, Any]) -> None:
        """Store a group as another client of the API would (the tenant as the ruler would see it)."""
        with self.lock:
            stored = _as_stored(group)
            self.tenants.setdefault(self._tenant(tenant), {}).setdefault(namespace, {})[stored["name"]] = stored
            if self.sync_on_write:
                self.sync()

    def groups(self, tenant: str, namespace: str) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.tenants.get(tenant, {}).get(namespace, {}))

    def wipe(self) -> None:
        with self.lock:
            self.tenants.clear()
            self.loaded.clear()

    def fail_evaluation(self, tenant: str, namespace: str, group: str, error: str) -> None:
        """From now on every evaluation of the group fails (a query time-out, a limit): its rules show `err`."""
        with self.lock:
            self.failing[(tenant, namespace, group)] = error
            self.sync()

    def sync(self) -> None:
        """The ruler's poll of the store, then one evaluation of every group it loaded."""
        with self.lock:
            self.loaded = {}
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for tenant, namespaces in self.tenants.items():
                for namespace, groups in sorted(namespaces.items()):
                    for group in groups.values():
                        rules = []
                        for rule in group["rules"]:
                            health, error = _evaluate(rule)
                            injected = self.failing.get((tenant, namespace, group["name"]))
                            if injected:
                                health, error = "err", injected
                            rules.append({**rule, "health": health, "lastError": error})
                        self.loaded.setdefault(tenant, []).append({**group, "file": namespace, "rules": rules,
                                                                   "evaluated": now})

    # -- the API ----------------------------------------------------------------------------------------------

    def _tenant(self, header: str | None) -> str | None:
        return header if self.auth_enabled else SINGLE_TENANT

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        del query
        path = unquote(path)  # mux matches the decoded path
        if path != PROMETHEUS_RULES and path != PREFIX and not path.startswith(PREFIX + "/"):
            return Reply(404, ROUTER_404)
        tenant = self._tenant(headers.get("x-scope-orgid"))
        if not tenant:
            return Reply(401, "no org id\n")
        if path == PROMETHEUS_RULES:
            return self._prometheus_rules(method, tenant)
        parts = path[len(PREFIX):].strip("/").split("/") if path != PREFIX else []
        if any(not part for part in parts) or len(parts) > 2:
            return Reply(404, ROUTER_404)
        reply = self._rules_api(method, parts, tenant, body)
        if method in ("POST", "DELETE") and reply.status == 202 and self.sync_on_write:
            self.sync()
        return reply

    def _rules_api(self, method: str, parts: list[str], tenant: str, body: bytes) -> Reply:
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
            try:
                stored = _as_stored(yaml.safe_load(body))
            except yaml.YAMLError:
                return Reply(400, "unable to decoded rule group\n")
            except ValueError as exc:
                return Reply(400, f"{exc}\n")
            namespaces.setdefault(parts[0], {})[stored["name"]] = stored
            return Reply(202, ACCEPTED)
        if method == "DELETE" and len(parts) == 2:
            namespaces.get(parts[0], {}).pop(parts[1], None)
            return Reply(202, ACCEPTED)
        if method == "DELETE" and len(parts) == 1:
            if not namespaces.pop(parts[0], None):
                return Reply(404, "group namespace does not exist\n")
            return Reply(202, ACCEPTED)
        return Reply(405 if parts else 404, ROUTER_404 if not parts else "")

    def _prometheus_rules(self, method: str, tenant: str) -> Reply:
        if method != "GET":
            return Reply(405, "")
        groups = []
        for group in self.loaded.get(tenant, []):
            rules = []
            for rule in group["rules"]:
                common = {"name": rule.get("alert") or rule.get("record"), "query": rule["expr"],
                          "labels": rule.get("labels", {}), "health": rule["health"],
                          "lastError": rule["lastError"], "lastEvaluation": group["evaluated"], "evaluationTime": 0}
                if rule.get("alert"):
                    rules.append({"state": "inactive", **common, "duration": float(
                        Duration.parse(rule.get("for", "0s")).seconds), "annotations": rule.get("annotations", {}),
                        "alerts": [], "type": "alerting"})
                else:
                    rules.append({**common, "type": "recording"})
            interval = Duration.parse(group.get("interval", "1m")).seconds
            groups.append({"name": group["name"], "file": group["file"], "rules": rules,
                           "interval": float(interval), "lastEvaluation": group["evaluated"], "evaluationTime": 0})
        groups.sort(key=lambda g: g["file"])
        return Reply(200, {"status": "success", "data": {"groups": groups}, "errorType": "", "error": ""})
