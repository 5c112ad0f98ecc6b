"""The Loki ruler through its HTTP API (https://grafana.com/docs/loki/latest/reference/loki-http-api/, "Ruler"):

- `GET /loki/api/v1/rules` lists every group of the tenant as YAML `{namespace: [group, ...]}`; a ruler holding
  none answers 404 with the body `no rule groups found`.
- `POST /loki/api/v1/rules/{namespace}` creates or replaces one group (YAML body, `Content-Type:
  application/yaml`), answering 202.
- `DELETE /loki/api/v1/rules/{namespace}/{group}` deletes one group, answering 202, also when the group does not
  exist (a real Loki 3.4.6 with object storage); a store that reports the miss answers 404 `group does not exist`
  (pkg/ruler/rulestore ErrGroupNotFound). Any other 404 is the router's `404 page not found`: the request reached
  no handler, so nothing was deleted.
- `GET /prometheus/api/v1/rules` lists the groups the ruler evaluates, each rule with `health` (`ok`, `err`,
  `unknown`) and `lastError`. A rule the API accepted can still fail every evaluation (a line filter's regex is
  compiled only then): provision and drift read it back.
The tenant is the `X-Scope-OrgID` header, except on a Loki with `auth_enabled: false`, which ignores it and keeps
everything in tenant `fake`; planning detects that (a request without the header is not refused) and says so.

Names: routes match the decoded path, so a namespace or group name containing `/` (sent as `%2F`) reaches no
handler, and the handler unescapes the name a second time (pkg/ruler/base/api.go parseGroupName), so `%` is not
addressable either. Such names are refused in generated files; such live groups are reported, never "deleted".
Generated rule files are validated (LogQL grammar, RE2 regexes, shape) before anything is written.

Ownership: obsctl owns the namespaces its generated files name (`loki/rules/<tenant>/<namespace>.yaml`), the way
rule-sync tools scope themselves to namespaces; other namespaces and tenants are never read for changes. A group
in an owned namespace that obsctl did not record applying counts as a hand edit, so --prune needs --force for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
import yaml

from generator.provision.config import LokiTarget, RetryPolicy
from generator.provision.drift import State
from generator.provision.generated import Desired, LokiGroup
from generator.provision.plan import Change, Health, content_hash, differences, normalise_rule_group
from generator.provision.retry import ApiBackend, ProvisionError, TransientError, WrongTargetError, http, with_retries

BACKEND = "loki ruler"
RULES_PATH = "/loki/api/v1/rules"
HEALTH_PATH = "/prometheus/api/v1/rules"
EMPTY_RULER_BODY = "no rule groups found"
GROUP_MISSING_BODY = "group does not exist"  # the rule store's ErrGroupNotFound: the group is already gone
SINGLE_TENANT = "fake"  # the tenant of every request when auth_enabled is false (pkg/util/fakeauth)
UNADDRESSABLE = ("/", "%")
LOCAL_STORE_REFUSAL = "unsupported in rule local store"  # Loki's 500 for API writes with local rule storage
AUTH_HINT = "LOKI_TOKEN and LOKI_TENANT"


def group_hash(group: dict[str, Any]) -> str:
    return content_hash(normalise_rule_group(group))


def unaddressable(name: str) -> str | None:
    """Why the ruler API cannot address this namespace or group name, or None."""
    if not name:
        return "it is empty"
    found = [c for c in UNADDRESSABLE if c in name]
    return f"its name contains {found[0]!r}" if found else None


def generated_rule_problems(desired: Desired) -> list[str]:
    """Everything wrong with the generated Loki rule files, found before the first write: names the API cannot
    address, then the project's own validation (shape, LogQL grammar, metric query, RE2 regexes, escapes)."""
    from generator.checks.loki_rules import validate_rule_texts  # the grammar check starts node: only when needed

    problems = []
    for group in desired.loki_groups:
        for what, name in (("namespace (file name)", group.namespace), ("group", group.name)):
            why = unaddressable(name)
            if why:
                problems.append(f"{group.source}: {what} {name!r}: a Loki ruler name cannot contain '/' or '%' "
                                f"({why}): the ruler API addresses it in the URL path; rename it")
    return problems + [str(problem) for problem in validate_rule_texts(desired.loki_rule_files)]


class LokiRulerBackend(ApiBackend):
    name = BACKEND
    target: LokiTarget

    def __init__(self, target: LokiTarget, timeout: float, policy: RetryPolicy, force: bool = False):
        super().__init__(target, timeout, policy, force)
        self.session = requests.Session()
        if target.token:
            self.session.headers["Authorization"] = f"Bearer {target.token.reveal()}"
        self._tenants: list[str] = []
        self.notes: list[str] = []
        self.single_tenant = False  # auth_enabled: false: every request is tenant `fake`, whatever it says

    def tenant_of(self, group: LokiGroup) -> str:
        return SINGLE_TENANT if self.single_tenant else self.target.tenant or group.tenant

    @property
    def description(self) -> str:
        return f"{self.target.url} tenants={','.join(self._tenants)}"

    def _request(self, method: str, path: str, tenant: str | None, what: str, **kwargs: Any) -> requests.Response:
        headers = {**({"X-Scope-OrgID": tenant} if tenant else {}), **kwargs.pop("headers", {})}

        def once() -> requests.Response:
            try:
                return http(self.session, method, self.target.url + path, what=what, auth_vars=AUTH_HINT,
                            timeout=self.timeout, headers=headers, **kwargs)
            except TransientError as exc:
                if LOCAL_STORE_REFUSAL in str(exc):  # a 500 that no retry will fix
                    raise ProvisionError(
                        f"{what}: this Loki keeps rules in local storage, which its API cannot write: mount "
                        "loki/rules/ as the ruler's rules directory instead, or give the ruler object storage "
                        "(ruler_storage)") from exc
                raise

        return with_retries(what, once, self.policy)

    def list_groups(self, tenant: str) -> dict[str, list[dict[str, Any]]]:
        what = f"Loki ruler: list rule groups of tenant {tenant!r}"
        response = self._request("GET", RULES_PATH, tenant, what)
        if response.status_code == 404:
            if EMPTY_RULER_BODY in response.text:
                return {}
            raise WrongTargetError(
                f"{what}: HTTP 404 without Loki's {EMPTY_RULER_BODY!r}: LOKI_URL is not a Loki with the ruler API "
                "enabled (wrong URL or path prefix?); nothing was written")
        if response.status_code != 200:
            raise ProvisionError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:200]}")
        try:
            data = yaml.safe_load(response.text)
        except yaml.YAMLError:
            data = "not YAML"
        if data is None:
            return {}
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise WrongTargetError(f"{what}: the answer is not a ruler's YAML listing: check LOKI_URL")
        return data

    def _runs_without_auth(self) -> bool:
        """A Loki with auth_enabled: false serves a request without X-Scope-OrgID; one with auth refuses it (401)."""
        what = "Loki ruler: list rule groups without a tenant header"
        try:
            response = self._request("GET", RULES_PATH, None, what)
        except TransientError:
            raise  # Loki down or failing: the listing would fail the same way, after the same retries
        except ProvisionError:
            return False  # 401 "no org id" (auth on) or a gateway refusing it: tenants are real
        if response.status_code == 200:
            return True
        return response.status_code == 404 and EMPTY_RULER_BODY in response.text

    # -- plan -------------------------------------------------------------------------------------------------

    def plan(self, desired: Desired, state: State) -> list[Change]:
        self.single_tenant = bool(desired.loki_groups) and self._runs_without_auth()
        if self.single_tenant:
            note = (f"{BACKEND}: this Loki runs with auth_enabled: false: it ignores X-Scope-OrgID and keeps every "
                    f"rule group in tenant {SINGLE_TENANT!r}")
            if self.target.tenant and self.target.tenant != SINGLE_TENANT:
                note += f"; LOKI_TENANT {self.target.tenant!r} is tenant {SINGLE_TENANT!r} here"
            others = sorted({g.tenant for g in desired.loki_groups} - {SINGLE_TENANT})
            if others and not self.target.tenant:
                note += f"; the rule files of tenant(s) {', '.join(others)} go to tenant {SINGLE_TENANT!r} too"
            self.notes.append(note)
        by_tenant: dict[str, list[LokiGroup]] = {}
        for group in desired.loki_groups:
            by_tenant.setdefault(self.tenant_of(group), []).append(group)
        self._tenants = sorted(by_tenant)
        previous = state.previous_target(BACKEND)
        recorded_all = state.backends[BACKEND].objects if BACKEND in state.backends else {}
        for key in recorded_all:  # tenants applied to before, so their removed groups can still be pruned
            by_tenant.setdefault(SINGLE_TENANT if self.single_tenant else key.split("/", 1)[0], [])
        if not by_tenant:
            return []
        if previous and previous != self.description and not self.force:
            raise WrongTargetError(
                f"Loki ruler: last provisioned at {previous}, now {self.description}: if LOKI_URL or LOKI_TENANT "
                "changed on purpose, re-run with --force; nothing was written")
        recorded = state.recorded(BACKEND, self.description) or {}

        changes: list[Change] = []
        for tenant in sorted(by_tenant):
            groups = by_tenant[tenant]
            live = self.list_groups(tenant)
            owned = {g.namespace for g in groups} | {k.split("/")[1] for k in recorded if k.startswith(tenant + "/")}
            live_owned = {(ns, g.get("name")): g for ns in owned for g in live.get(ns) or []}
            recorded_here = [k for k in recorded if k.startswith(tenant + "/")]
            if recorded_here and not live_owned and not self.force:
                raise WrongTargetError(
                    f"Loki ruler: tenant {tenant!r} has no rule groups in namespace(s) {', '.join(sorted(owned))}, "
                    f"but obsctl applied {len(recorded_here)} there: wrong LOKI_URL or LOKI_TENANT, or the ruler "
                    "lost its storage. Nothing was written; re-run with --force to re-create them.")
            for group in groups:
                key = f"{tenant}/{group.namespace}/{group.name}"
                current = live_owned.get((group.namespace, group.name))
                if current is None:
                    changes.append(Change(BACKEND, "rule group", key, "create", payload=group))
                    continue
                fields = differences(normalise_rule_group(group.body), normalise_rule_group(current))
                if not fields and normalise_rule_group(group.body) != normalise_rule_group(current):
                    fields = ["fields only on the ruler"]
                drift = key in recorded and recorded[key] != group_hash(current)
                if drift and not fields:
                    fields = ["edited by hand"]
                changes.append(Change(BACKEND, "rule group", key, "update" if fields else "unchanged", fields,
                                      drifted=drift, payload=group, live=current))
            wanted = {(g.namespace, g.name) for g in groups}
            for (namespace, name), current in sorted(live_owned.items()):
                if (namespace, name) in wanted:
                    continue
                key = f"{tenant}/{namespace}/{name}"
                why = unaddressable(namespace) or unaddressable(str(name))
                if why:
                    self.notes.append(f"{BACKEND}: rule group {key} cannot be deleted through the API ({why}): "
                                      "remove it from the ruler's storage")
                    continue
                # Not recorded, or changed since recorded: a person put it there; deleting it needs --force.
                hand_made = recorded.get(key) != group_hash(current)
                changes.append(Change(BACKEND, "rule group", key, "delete", drifted=hand_made, live=current))
        return changes

    # -- apply ------------------------------------------------------------------------------------------------

    def state_key(self, change: Change) -> str:
        return change.key

    def record_hash(self, change: Change) -> str | None:
        return None if change.action == "delete" else group_hash(change.payload.body)

    def finish(self, applied: list[Change]) -> str | None:
        del applied  # every write took effect when it was answered: nothing to reload
        return None

    def apply(self, change: Change) -> None:
        tenant, namespace, name = change.key.split("/", 2)
        if change.action == "delete":
            what = f"Loki ruler: delete rule group {change.key}"
            response = self._request("DELETE", f"{RULES_PATH}/{quote(namespace, safe='')}/{quote(name, safe='')}",
                                     tenant, what)
            if response.status_code in (200, 202, 204):
                return
            if response.status_code == 404 and GROUP_MISSING_BODY in response.text:
                return  # the store says it is already gone, which is what we want
            detail = f"{what}: HTTP {response.status_code}: {response.text.strip()[:200]}"
            if response.status_code == 404:  # the router's: no handler saw the request
                detail += f" (not the store's {GROUP_MISSING_BODY!r}: nothing was deleted)"
            raise ProvisionError(detail)
        what = f"Loki ruler: set rule group {change.key}"
        body = yaml.safe_dump(change.payload.body, sort_keys=False, allow_unicode=True, width=4096)
        response = self._request("POST", f"{RULES_PATH}/{quote(namespace, safe='')}", tenant, what,
                                 data=body.encode("utf-8"), headers={"Content-Type": "application/yaml"})
        if response.status_code not in (200, 202, 204):
            raise ProvisionError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:300]}")

    # -- health -----------------------------------------------------------------------------------------------

    def health(self, desired: Desired) -> Health:
        """Rules of the generated groups the ruler reports in error. A group the ruler has not loaded yet, or still
        runs in an older version, is only noted: it loads stored groups at its next poll."""
        health = Health()
        by_tenant: dict[str, list[LokiGroup]] = {}
        for group in desired.loki_groups:
            by_tenant.setdefault(self.tenant_of(group), []).append(group)
        pending = 0
        for tenant, groups in sorted(by_tenant.items()):
            live = self._evaluated_groups(tenant)
            for group in groups:
                current = live.get((group.namespace, group.name))
                wanted = [str(rule.get("expr", "")).strip() for rule in group.body.get("rules") or []]
                rules = (current or {}).get("rules") or []
                if current is None or [str(r.get("query", "")).strip() for r in rules] != wanted:
                    pending += 1
                    continue
                if any(r.get("health") == "unknown" for r in rules):
                    pending += 1
                for rule in rules:
                    if rule.get("health") == "err":
                        health.problems.append(
                            f"{BACKEND} rule group {tenant}/{group.namespace}/{group.name}: rule {rule.get('name')}: "
                            f"{str(rule.get('lastError') or 'no error text').strip()[:300]}")
        if pending:
            health.notes.append(f"{BACKEND}: {pending} rule group(s) not evaluated by the ruler yet (it loads new "
                                "rules at its next poll): `obsctl drift` reports any rule in error")
        return health

    def _evaluated_groups(self, tenant: str) -> dict[tuple[str, str], dict[str, Any]]:
        what = f"Loki ruler: read rule health of tenant {tenant!r} ({HEALTH_PATH})"
        response = self._request("GET", HEALTH_PATH, tenant, what)
        if response.status_code != 200:
            raise ProvisionError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:200]}")
        try:
            groups = response.json()["data"]["groups"]
        except (ValueError, KeyError, TypeError):
            raise ProvisionError(f"{what}: the answer is not the Prometheus rules API's JSON") from None
        return {(str(g.get("file")), str(g.get("name"))): g for g in groups if isinstance(g, dict)}
