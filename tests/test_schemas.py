"""Every rendered document validates strictly (core kinds and CRDs), and strictness is real (negative tests)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from mlflow_gitops.crds import default_crd_dir
from tests.validation import SchemaValidator, load_crd_index

Doc = dict[str, Any]


@pytest.fixture(scope="session")
def validator() -> SchemaValidator:
    crd_dir = default_crd_dir()
    if not crd_dir.is_dir():
        pytest.fail(f"CRD folder {crd_dir} not found: set MLFLOW_GITOPS_CRDS (or run `make crds`)")
    return SchemaValidator(crd_dir)


def rendered(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    """A deep copy of the first rendered document of `kind` (and `name`), safe to mutate."""
    for doc in docs:
        if doc["kind"] == kind and name in (None, doc["metadata"]["name"]):
            return copy.deepcopy(doc)
    raise AssertionError(f"no {kind} {name or ''} in the render")


def test_every_rendered_document_validates_strictly(full_docs: list[Doc], validator: SchemaValidator) -> None:
    assert validator.validate_all(full_docs) == {}


def test_render_covers_core_kinds_and_custom_resources(full_docs: list[Doc]) -> None:
    kinds = {doc["kind"] for doc in full_docs}
    assert {"Deployment", "Job", "Service", "ExternalSecret", "Database", "IngressRoute"} <= kinds


def test_validators_are_built_once_per_kind(validator: SchemaValidator) -> None:
    assert validator.validator("apps/v1", "Deployment") is validator.validator("apps/v1", "Deployment")
    assert validator.validator("postgresql.cnpg.io/v1", "Database") is validator.validator(
        "postgresql.cnpg.io/v1", "Database"
    )


# --- strictness: each mutation must produce an error naming the document and the path ----------------


def _container_field(doc: Doc) -> None:
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"


def _pod_spec_field(doc: Doc) -> None:
    doc["spec"]["template"]["spec"]["hostname_"] = "x"


def _core_metadata_field(doc: Doc) -> None:
    doc["metadata"]["label"] = {"a": "b"}


def _container_port_type(doc: Doc) -> None:
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "5000"


def _container_missing_name(doc: Doc) -> None:
    del doc["spec"]["template"]["spec"]["containers"][0]["name"]


def _label_value_type(doc: Doc) -> None:
    doc["metadata"]["labels"]["replicas"] = 3


NEGATIVE_DEPLOYMENT: list[tuple[Callable[[Doc], None], str]] = [
    (_container_field, "$.spec.template.spec.containers[0]: Additional properties are not allowed ('imagePullPolcy'"),
    (_pod_spec_field, "$.spec.template.spec: Additional properties are not allowed ('hostname_'"),
    (_core_metadata_field, "$.metadata: Additional properties are not allowed ('label'"),
    (_container_port_type, "$.spec.template.spec.containers[0].ports[0].containerPort: '5000' is not of type"),
    (_container_missing_name, "$.spec.template.spec.containers[0]: 'name' is a required property"),
    (_label_value_type, "$.metadata.labels.replicas: 3 is not of type"),
]


@pytest.mark.parametrize(("mutate", "expected"), NEGATIVE_DEPLOYMENT, ids=lambda v: getattr(v, "__name__", ""))
def test_deployment_violations_are_reported(
    full_docs: list[Doc], validator: SchemaValidator, mutate: Callable[[Doc], None], expected: str
) -> None:
    doc = rendered(full_docs, "Deployment")
    mutate(doc)
    errors = validator.errors(doc)
    assert any(error.startswith(f"Deployment/{doc['metadata']['name']}: {expected}") for error in errors), errors


def test_unknown_field_in_external_secret_spec(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "ExternalSecret")
    doc["spec"]["refreshInterval_"] = "1h"
    name = doc["metadata"]["name"]
    assert validator.errors(doc) == [
        f"ExternalSecret/{name}: $.spec: Additional properties are not allowed ('refreshInterval_' was unexpected)"
    ]


def test_unknown_field_deep_in_external_secret(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "ExternalSecret")
    doc["spec"]["data"][0]["remoteRef"]["propertyy"] = "x"
    [error] = validator.errors(doc)
    assert "$.spec.data[0].remoteRef: Additional properties are not allowed ('propertyy'" in error


def test_wrong_enum_in_database_reclaim_policy(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "Database")
    doc["spec"]["databaseReclaimPolicy"] = "keep"
    [error] = validator.errors(doc)
    assert error == (
        f"Database/{doc['metadata']['name']}: $.spec.databaseReclaimPolicy: 'keep' is not one of ['delete', 'retain']"
    )


@pytest.mark.parametrize("kind", ["Database", "ExternalSecret", "IngressRoute", "ServiceMonitor", "DatabaseRole"])
def test_unknown_metadata_field_on_custom_resource(full_docs: list[Doc], validator: SchemaValidator, kind: str) -> None:
    doc = rendered(full_docs, kind)
    doc["metadata"]["annotation"] = {"a": "b"}
    assert validator.errors(doc) == [
        f"{kind}/{doc['metadata']['name']}: $.metadata: Additional properties are not allowed "
        "('annotation' was unexpected)"
    ]


def test_custom_resource_metadata_values_are_typed(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "Database")
    doc["metadata"]["labels"]["tier"] = 1
    assert any("$.metadata.labels.tier: 1 is not of type" in error for error in validator.errors(doc))


def test_unknown_top_level_field_on_custom_resource(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "Database")
    doc["specs"] = {}
    assert any("$: Additional properties are not allowed ('specs'" in error for error in validator.errors(doc))


def test_missing_required_field(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "Database")
    del doc["spec"]["cluster"]
    assert validator.errors(doc) == [f"Database/{doc['metadata']['name']}: $.spec: 'cluster' is a required property"]


def test_missing_required_field_in_external_secret(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "ExternalSecret")
    del doc["spec"]["data"][0]["remoteRef"]["key"]
    [error] = validator.errors(doc)
    assert error.endswith("$.spec.data[0].remoteRef: 'key' is a required property")


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("example.com/v1", "Widget"),
        ("apps/v1", "Deploymnt"),
        ("postgresql.cnpg.io/v2", "Database"),
        ("policy.example.com/v1", "PodDisruptionBudget"),  # a core file name, but not the core group
        ("v1", "Affinity"),  # a core schema file, but not a top-level kind
    ],
)
def test_unknown_kind_is_an_error(validator: SchemaValidator, api_version: str, kind: str) -> None:
    doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    assert validator.errors(doc) == [f"{kind}/x: $: no schema for {api_version} {kind}"]


def test_version_not_served_by_its_crd_is_an_error(validator: SchemaValidator) -> None:
    doc = {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret", "metadata": {"name": "x"}}
    [error] = validator.errors(doc)
    assert error.startswith("ExternalSecret/x: $: no schema for external-secrets.io/v1beta1 ExternalSecret")
    assert "not served" in error


def test_wrong_api_version_for_a_core_kind(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "Deployment")
    doc["apiVersion"] = "extensions/v1beta1"
    assert validator.errors(doc) == ["Deployment/mlflow: $: no schema for extensions/v1beta1 Deployment"]


# --- IntOrString and friends ------------------------------------------------------------------------


def test_ingress_route_with_named_port_validates(validator: SchemaValidator) -> None:
    route = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
        "spec": {
            "entryPoints": ["websecure"],
            "routes": [
                {"kind": "Rule", "match": "Host(`a.example.com`)", "services": [{"name": "web", "port": "http"}]}
            ],
        },
    }
    assert validator.errors(route) == []
    route["spec"]["routes"][0]["services"][0]["port"] = 8080
    assert validator.errors(route) == []
    route["spec"]["routes"][0]["services"][0]["port"] = True
    assert validator.errors(route) == [
        "IngressRoute/web: $.spec.routes[0].services[0].port: True is not of type 'integer', 'string'"
    ]


def test_rendered_int_or_string_fields_are_accepted(full_docs: list[Doc], validator: SchemaValidator) -> None:
    doc = rendered(full_docs, "Deployment")
    container = doc["spec"]["template"]["spec"]["containers"][0]
    assert doc["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == "100%"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    doc["spec"]["strategy"]["rollingUpdate"].update(maxSurge=1, maxUnavailable="25%")
    container["livenessProbe"]["httpGet"]["port"] = 5000
    assert validator.errors(doc) == []
    container["livenessProbe"]["httpGet"]["port"] = [5000]
    assert validator.errors(doc) == [
        "Deployment/mlflow: $.spec.template.spec.containers[0].livenessProbe.httpGet.port: "
        "[5000] is not valid under any of the given schemas"
    ]


def test_fast_path_agrees_with_plain_jsonschema(full_docs: list[Doc], validator: SchemaValidator) -> None:
    """The scalar-leaf shortcut must never change a verdict or a message."""
    plain = SchemaValidator(validator.crd_dir, fast=False)
    docs = copy.deepcopy(full_docs)
    for index, doc in enumerate(docs):  # one wrong scalar per document, at varying depths
        doc["metadata"]["labels"] = {**doc["metadata"].get("labels", {}), "n": index if index % 2 else None}
    for mutate, _ in NEGATIVE_DEPLOYMENT:
        deployment = rendered(full_docs, "Deployment")
        mutate(deployment)
        docs.append(deployment)
    for doc in docs:
        assert validator.errors(doc) == plain.errors(doc)


def test_crd_index_is_loaded_once_and_not_modified(validator: SchemaValidator) -> None:
    index = load_crd_index(validator.crd_dir)
    assert load_crd_index(validator.crd_dir) is index
    schema = index[("postgresql.cnpg.io/v1", "Database")].schema
    assert "additionalProperties" not in schema["properties"]["spec"]
