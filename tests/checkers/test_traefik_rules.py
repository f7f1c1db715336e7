"""The rendered IngressRoutes' `match` rules under Traefik's own rule parser and muxer (ci/traefik-rules, built by
`python3 ci/tools.py ensure traefik-rules`): the public host serves the app and the OIDC login, never /metrics,
however the path is spelled, and no other host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.checkers.support import documents, manifest_files, run, synth, tool
from tests.conftest import EXAMPLES

ENVIRONMENTS = {"default": None, "prod": EXAMPLES}
SERVED = ("/", "/login", "/callback", "/health", "/ajax-api/2.0/mlflow/experiments/search", "/metricsx/../")
REFUSED = ("/metrics", "/metrics/", "/metrics/x", "/metricsfoo", "//metrics", "/x/../metrics", "/./metrics")


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("render")
    found = []
    for env, config in ENVIRONMENTS.items():
        for doc in documents(manifest_files(synth(env, config, out))):
            if doc["kind"] == "IngressRoute":
                for i, route in enumerate(doc["spec"]["routes"]):
                    found.append({"name": f"{env}/{doc['metadata']['name']}/{i}", "rule": route["match"]})
    assert found, "no IngressRoute rendered"
    return found


def route(rules: list[dict[str, Any]], requests: list[dict[str, str]]) -> list[dict[str, Any]]:
    done = run([tool("traefik-rules")], input=json.dumps({"rules": rules, "requests": requests}))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["results"]


def host_of(rule: str) -> str:
    return rule.split("Host(`", 1)[1].split("`", 1)[0]


def test_each_public_host_serves_the_app_and_the_login_but_never_metrics(routes: list[dict[str, Any]]) -> None:
    for r in routes:
        host = host_of(r["rule"])
        results = route([r], [{"host": host, "path": p, "method": "GET"} for p in (*SERVED, *REFUSED)])
        picked = {res["path"]: res["route"] for res in results}
        assert picked == {**dict.fromkeys(SERVED, r["name"]), **dict.fromkeys(REFUSED)}, r["rule"]


def test_no_route_answers_for_another_host(routes: list[dict[str, Any]]) -> None:
    requests = [{"host": h, "path": "/", "method": "GET"} for h in ("evil.example.com", "example.com")]
    for result in route(routes, requests):
        assert result["route"] is None, result


def test_a_rule_without_the_refusal_would_route_metrics(tmp_path: Path) -> None:
    """The checker itself can fail: Host() alone routes /metrics."""
    [result] = route([{"name": "open", "rule": "Host(`a.example`)"}], [{"host": "a.example", "path": "/metrics"}])
    assert result["route"] == "open"
