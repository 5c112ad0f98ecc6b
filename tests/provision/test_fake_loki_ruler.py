"""The Loki ruler fake answers as a real Loki 3.4.6 did on loopback (object-storage ruler; the project's shared
REFERENCE.md, "Checked against a real Loki 3.4.6", second round). Expected answers are written out literally."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import yaml

from tests.fakes.loki_ruler import FakeLokiRuler
from tests.fakes.server import serving
from tests.tooling import require_tool

GROUP = """name: errors
interval: 1m
rules:
  - alert: ErrorsSeen
    expr: sum(count_over_time({service="bot"} |= `ERROR` [5m])) > 0
"""


@pytest.fixture
def ruler() -> Iterator[FakeLokiRuler]:
    yield from serving(FakeLokiRuler())


@pytest.fixture
def single_tenant_ruler() -> Iterator[FakeLokiRuler]:
    yield from serving(FakeLokiRuler(auth_enabled=False))


def post(ruler: FakeLokiRuler, namespace: str, body: str, tenant: str | None = "t1",
         content_type: str = "application/yaml") -> requests.Response:
    headers = {"Content-Type": content_type}
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    return requests.post(f"{ruler.url}/loki/api/v1/rules/{namespace}", data=body.encode(), headers=headers,
                         timeout=5)


def rule_health(ruler: FakeLokiRuler, tenant: str = "t1") -> list[tuple[str, str, str, str]]:
    answer = requests.get(f"{ruler.url}/prometheus/api/v1/rules", headers={"X-Scope-OrgID": tenant}, timeout=5)
    assert answer.status_code == 200 and answer.json()["status"] == "success"
    return [(group["file"], group["name"], rule["name"], rule["health"])
            for group in answer.json()["data"]["groups"] for rule in group["rules"]]


def test_a_group_posted_as_text_plain_is_accepted(ruler: FakeLokiRuler) -> None:
    answer = post(ruler, "bot", GROUP, content_type="text/plain")
    assert answer.status_code == 202
    assert answer.json() == {"status": "success", "data": None, "errorType": "", "error": ""}
    assert list(ruler.groups("t1", "bot")) == ["errors"]


def test_deleting_a_group_that_does_not_exist_is_accepted(ruler: FakeLokiRuler) -> None:
    answer = requests.delete(f"{ruler.url}/loki/api/v1/rules/bot/never-created",
                             headers={"X-Scope-OrgID": "t1"}, timeout=5)
    assert answer.status_code == 202


def test_an_encoded_slash_in_a_name_reaches_no_handler(ruler: FakeLokiRuler) -> None:
    post(ruler, "bot", GROUP.replace("name: errors", "name: team/errors"))
    assert list(ruler.groups("t1", "bot")) == ["team/errors"]  # the name travels in the body: stored
    answer = requests.delete(f"{ruler.url}/loki/api/v1/rules/bot/team%2Ferrors", headers={"X-Scope-OrgID": "t1"},
                             timeout=5)
    assert (answer.status_code, answer.text) == (404, "404 page not found\n")
    assert list(ruler.groups("t1", "bot")) == ["team/errors"]


def test_without_auth_the_tenant_header_is_ignored(single_tenant_ruler: FakeLokiRuler) -> None:
    assert post(single_tenant_ruler, "bot", GROUP, tenant="team-a").status_code == 202
    assert post(single_tenant_ruler, "bot", GROUP.replace("errors", "other"), tenant=None).status_code == 202
    listed = requests.get(f"{single_tenant_ruler.url}/loki/api/v1/rules", headers={"X-Scope-OrgID": "team-b"},
                          timeout=5)
    assert yaml.safe_load(listed.text)["bot"][0]["name"] == "errors"
    assert set(single_tenant_ruler.groups("fake", "bot")) == {"errors", "other"}


def test_with_auth_a_request_without_tenant_is_refused(ruler: FakeLokiRuler) -> None:
    answer = requests.get(f"{ruler.url}/loki/api/v1/rules", timeout=5)
    assert (answer.status_code, answer.text) == (401, "no org id\n")


def test_a_logql_syntax_error_is_a_400_naming_the_alert(ruler: FakeLokiRuler) -> None:
    require_tool("node")
    answer = post(ruler, "bot", GROUP.replace("|= `ERROR` [5m]", "|= [5m]"))
    assert answer.status_code == 400
    assert answer.text.startswith("could not parse expression for alert 'ErrorsSeen' in group 'errors': "
                                  "parse error at line 1, col 40: syntax error")
    assert ruler.groups("t1", "bot") == {}


def test_an_invalid_regex_in_a_line_filter_is_accepted_then_in_error(ruler: FakeLokiRuler) -> None:
    require_tool("node")
    assert post(ruler, "bot", GROUP.replace("|= `ERROR`", "|~ `ERROR(`")).status_code == 202
    assert rule_health(ruler) == [("bot", "errors", "ErrorsSeen", "err")]
    answer = requests.get(f"{ruler.url}/prometheus/api/v1/rules", headers={"X-Scope-OrgID": "t1"}, timeout=5)
    assert answer.json()["data"]["groups"][0]["rules"][0]["lastError"].startswith(
        "rule evaluation failed: error parsing regexp: ")


def test_an_invalid_regex_in_a_label_matcher_is_a_parse_error(ruler: FakeLokiRuler) -> None:
    require_tool("node")
    answer = post(ruler, "bot", GROUP.replace('service="bot"', 'service=~"bot("'))
    assert answer.status_code == 400
    assert answer.text.startswith("could not parse expression for alert 'ErrorsSeen' in group 'errors': "
                                  "parse error : error parsing regexp: ")


def test_rules_show_health_once_the_ruler_has_loaded_them(ruler: FakeLokiRuler) -> None:
    require_tool("node")
    ruler.sync_on_write = False  # the ruler picks up stored groups at its next poll
    post(ruler, "bot", GROUP)
    assert rule_health(ruler) == []
    ruler.sync()
    assert rule_health(ruler) == [("bot", "errors", "ErrorsSeen", "ok")]
