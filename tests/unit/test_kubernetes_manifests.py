"""deploy/kubernetes, checked offline (issue 13 §6): every manifest validates against the
Kubernetes schemas (``kubernetes-validate``, strict: unknown fields are errors), the
kustomization lists exactly them, the Deployment has what running replicas needs, and the
ConfigMap's gateway.yaml loads with the gateway's own config loader."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # no stubs or py.typed
import pytest
import yaml

from app.carriers import CARRIER_OPTIONS
from app.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
KUBERNETES = "1.30.0"  # the oldest version still supported by the big clouds
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
S3_KEYS = {"backend", "bucket", "endpoint_url", "region", "prefix", "url_mode", "url_ttl"}


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return document


def by_kind() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in (yaml.safe_load(p.read_text()) for p in MANIFESTS)}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_for_kubernetes(path: Path) -> None:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert len(documents) == 1
    kubernetes_validate.validate(documents[0], KUBERNETES, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    """Guards the guard: a misspelt field and a wrong type are both errors."""
    deployment = load("deployment.yaml")
    deployment["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)
    deployment = load("deployment.yaml")
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = load("kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]
    assert set(by_kind()) == {
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    }


def test_the_deployment_runs_replicas_with_probes_limits_and_the_shared_state() -> None:
    kinds = by_kind()
    deployment, service, budget = (
        kinds["Deployment"],
        kinds["Service"],
        kinds["PodDisruptionBudget"],
    )
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] >= 2 and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] < spec["replicas"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (Dockerfile)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    secret = kinds["Secret"]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert {
        "IMAGEGATE_DATABASE_URL",
        "IMAGEGATE_REDIS_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "IMAGEGATE_API_KEY",
    } <= secret["stringData"].keys()
    assert secret["stringData"]["IMAGEGATE_DATABASE_URL"].startswith("postgresql://")
    assert secret["stringData"]["IMAGEGATE_REDIS_URL"].startswith("redis://")
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert mount["mountPath"] == env["IMAGEGATE_CONFIG"] == "/etc/imagegate/gateway.yaml"
    grace = yaml.safe_load(kinds["ConfigMap"]["data"]["gateway.yaml"])["server"]
    assert grace["request_grace"] + grace["shutdown_grace"] < pod["terminationGracePeriodSeconds"]


def test_the_configmaps_gateway_yaml_loads_with_the_config_loader(tmp_path: Path) -> None:
    config_map = by_kind()["ConfigMap"]
    data = yaml.safe_load(config_map["data"]["gateway.yaml"])
    assert set(data["storage"]) == S3_KEYS and data["storage"]["url_mode"] == "signed"
    shutil.copy(ROOT / "config" / "rules.yaml", tmp_path / "rules.yaml")  # the image's
    env = {
        "IMAGEGATE_DATABASE_URL": "postgresql://imagegate:pw@postgres.internal:5432/imagegate",
        "IMAGEGATE_API_KEY": "ig-test-key-1234567890",
        "OPENAI_API_KEY": "sk-test-1234567890",
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(config_map["data"]["gateway.yaml"])
    config = load_config(path, env, CARRIER_OPTIONS)
    assert config.storage.backend == "s3" and config.storage.url_mode == "signed"
    assert config.database.url.get_secret_value() == env["IMAGEGATE_DATABASE_URL"]
    assert config.jobs.lease == 30
    assert [model.name for model in config.models] == ["gpt-image-2", "gpt-image-1-mini"]
