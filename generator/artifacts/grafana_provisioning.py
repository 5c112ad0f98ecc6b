"""Grafana provisioning files from truth: the four datasources the dashboards query, and the dashboards provider.

Outputs `dashboards/provisioning/datasources/<service>.yaml` and `dashboards/provisioning/dashboards/<service>.yaml`.
Connection details and credentials are Grafana environment-variable references (`${VAR}`, expanded by Grafana when
it reads the file), so no secret and no deployment-specific address is ever written here. Every such variable starts
with `GRAFANA_`: Grafana reaches Loki, Prometheus and Alertmanager by its own addresses (inside the compose network,
for example), which are not the ones `obsctl provision` uses (LOKI_URL, PROMETHEUS_URL, ALERTMANAGER_URL).
Datasource uids derive from the service id: dashboards reference them, and re-generation never changes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.models import common

from generator.artifacts.base import Artifact, yaml_document
from generator.conventions import GRAFANA_PROVISIONING_DIR
from generator.plan import Plan
from generator.truth import Truth

# Where the deployment mounts the generated `dashboards/*.json` inside the Grafana container.
DASHBOARDS_MOUNT_PATH = "/var/lib/grafana/dashboards"


@dataclass(frozen=True)
class DatasourceSpec:
    key: str  # what the dashboards call it: loki, prometheus, alertmanager, postgres
    name: str
    type: str  # Grafana plugin id
    uid: str
    settings: dict[str, Any]  # url, user, jsonData, secureJsonData: values are ${ENV} references only

    def ref(self) -> common.DataSourceRef:
        return common.DataSourceRef(type_val=self.type, uid=self.uid)

    def env_vars(self) -> list[str]:
        """Every environment variable the datasource reads, in file order."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, str) and "${" in value:
                for part in value.split("${")[1:]:
                    found.append(part.split("}", 1)[0])

        walk(self.settings)
        return found


def env(name: str) -> str:
    return "${" + name + "}"


def datasource_specs(truth: Truth) -> dict[str, DatasourceSpec]:
    """The datasources every dashboard may reference, keyed by role."""
    service = truth.service.id
    alertmanager_uid = f"{service}-alertmanager"
    ruler_alerts = {"manageAlerts": True, "alertmanagerUid": alertmanager_uid}
    specs = [
        DatasourceSpec("loki", "Loki", "loki", f"{service}-loki", {
            "url": env("GRAFANA_LOKI_URL"),
            "basicAuth": True,
            "basicAuthUser": env("GRAFANA_LOKI_USER"),
            "jsonData": {"maxLines": 1000, **ruler_alerts},
            "secureJsonData": {"basicAuthPassword": env("GRAFANA_LOKI_PASSWORD")},
        }),
        DatasourceSpec("prometheus", "Prometheus", "prometheus", f"{service}-prometheus", {
            "url": env("GRAFANA_PROMETHEUS_URL"),
            "basicAuth": True,
            "basicAuthUser": env("GRAFANA_PROMETHEUS_USER"),
            "jsonData": {"httpMethod": "POST", "prometheusType": "Prometheus", **ruler_alerts},
            "secureJsonData": {"basicAuthPassword": env("GRAFANA_PROMETHEUS_PASSWORD")},
        }),
        DatasourceSpec("alertmanager", "Alertmanager", "alertmanager", alertmanager_uid, {
            "url": env("GRAFANA_ALERTMANAGER_URL"),
            "basicAuth": True,
            "basicAuthUser": env("GRAFANA_ALERTMANAGER_USER"),
            "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
            "secureJsonData": {"basicAuthPassword": env("GRAFANA_ALERTMANAGER_PASSWORD")},
        }),
        # The bot's own database (jobs, transactions, lock_heartbeat): use a read-only role.
        DatasourceSpec("postgres", "PostgreSQL (bot)", "grafana-postgresql-datasource", f"{service}-postgres", {
            "url": env("GRAFANA_BOT_DB_HOST"),
            "user": env("GRAFANA_BOT_DB_USER"),
            # Render's external database URLs need TLS (`require`); a local PostgreSQL usually has none (`disable`).
            "jsonData": {"database": env("GRAFANA_BOT_DB_NAME"), "sslmode": env("GRAFANA_BOT_DB_SSLMODE"),
                         "postgresVersion": 1500, "timescaledb": False, "maxOpenConns": 5},
            "secureJsonData": {"password": env("GRAFANA_BOT_DB_PASSWORD")},
        }),
    ]
    return {spec.key: spec for spec in specs}


def folder_uid(truth: Truth) -> str:
    return truth.service.id


def datasources_document(truth: Truth) -> dict[str, Any]:
    entries = []
    for spec in datasource_specs(truth).values():
        entries.append({"name": spec.name, "type": spec.type, "uid": spec.uid, "access": "proxy", "orgId": 1,
                        "isDefault": spec.key == "prometheus", "editable": False, **spec.settings})
    return {"apiVersion": 1, "datasources": entries}


def dashboards_document(truth: Truth) -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": truth.service.id,
        "orgId": 1,
        "type": "file",
        "folder": truth.service.title,
        "folderUid": folder_uid(truth),
        "disableDeletion": True,
        "allowUiUpdates": False,  # the files are generated: UI edits would be lost on the next deploy
        "updateIntervalSeconds": 60,
        "options": {"path": f"{DASHBOARDS_MOUNT_PATH}/{truth.service.id}", "foldersFromFilesStructure": False},
    }]}


def datasources_path(truth: Truth) -> str:
    return f"{GRAFANA_PROVISIONING_DIR}/datasources/{truth.service.id}.yaml"


def dashboards_provider_path(truth: Truth) -> str:
    return f"{GRAFANA_PROVISIONING_DIR}/dashboards/{truth.service.id}.yaml"


def render(plan: Plan) -> list[Artifact]:
    truth = plan.truth
    return [
        Artifact(datasources_path(truth), yaml_document(datasources_document(truth))),
        Artifact(dashboards_provider_path(truth), yaml_document(dashboards_document(truth))),
    ]
