"""The Loki ruler through its HTTP API (https://grafana.com/docs/loki/latest/reference/loki-http-api/, "Ruler"):

- `GET /loki/api/v1/rules` lists every group of the tenant as YAML `{namespace: [group, ...]}`; a ruler holding
  none answers 404 with the body `no rule groups found`.
- `POST /loki/api/v1/rules/{namespace}` creates or replaces one group (YAML body, `Content-Type:
  application/yaml`), answering 202.
- `DELETE /loki/api/v1/rules/{namespace}/{group}` deletes one group, answering 202.
The tenant is the `X-Scope-OrgID` header.

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
from generator.provision.plan import Change, content_hash, differences, normalise_rule_group
from generator.provision.retry import ProvisionError, TransientError, WrongTargetError, http, with_retries

BACKEND = "loki ruler"
RULES_PATH = "/loki/api/v1/rules"
EMPTY_RULER_BODY = "no rule groups found"
LOCAL_STORE_REFUSAL = "unsupported in rule local store"  # Loki's 500 for API writes with local rule storage
AUTH_HINT = "LOKI_TOKEN and LOKI_TENANT"


def group_hash(group: dict[str, Any]) -> str:
    return content_hash(normalise_rule_group(group))


class LokiRulerBackend:
    name = BACKEND

    def __init__(self, target: LokiTarget, timeout: float, policy: RetryPolicy, force: bool = False):
        self.target = target
        self.timeout = timeout
        self.policy = policy
        self.force = force
        self.session = requests.Session()
        if target.token:
            self.session.headers["Authorization"] = f"Bearer {target.token.reveal()}"
        self._tenants: list[str] = []
        self.notes: list[str] = []

    def tenant_of(self, group: LokiGroup) -> str:
        return self.target.tenant or group.tenant

    @property
    def description(self) -> str:
        return f"{self.target.url} tenants={','.join(self._tenants)}"

    def _request(self, method: str, path: str, tenant: str, what: str, **kwargs: Any) -> requests.Response:
        headers = {"X-Scope-OrgID": tenant, **kwargs.pop("headers", {})}

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

    # -- plan -------------------------------------------------------------------------------------------------

    def plan(self, desired: Desired, state: State) -> list[Change]:
        by_tenant: dict[str, list[LokiGroup]] = {}
        for group in desired.loki_groups:
            by_tenant.setdefault(self.tenant_of(group), []).append(group)
        self._tenants = sorted(by_tenant)
        previous = state.previous_target(BACKEND)
        recorded_all = state.backends[BACKEND].objects if BACKEND in state.backends else {}
        for key in recorded_all:  # tenants applied to before, so their removed groups can still be pruned
            by_tenant.setdefault(key.split("/", 1)[0], [])
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
            if response.status_code not in (200, 202, 204, 404):  # 404: already gone, which is what we want
                raise ProvisionError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:200]}")
            return
        what = f"Loki ruler: set rule group {change.key}"
        body = yaml.safe_dump(change.payload.body, sort_keys=False, allow_unicode=True, width=4096)
        response = self._request("POST", f"{RULES_PATH}/{quote(namespace, safe='')}", tenant, what,
                                 data=body.encode("utf-8"), headers={"Content-Type": "application/yaml"})
        if response.status_code not in (200, 202, 204):
            raise ProvisionError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:300]}")
