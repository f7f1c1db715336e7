"""MLflow from your own cdk8s app: `cdk8s synth` (or `python main.py`) writes dist/*.k8s.yaml.

The platform of one instance comes from a config written as the environment files are (checked the same
way: a bad key is a ConfigError naming it); then the parts are extended through their handles.
"""

import cdk8s

from mlflow_gitops.constructs import MlflowPlatform

CONFIG = {
    "keycloak": {"host": "auth.acme.io", "realm": "acme"},
    "instances": [{"name": "vision", "host": "mlflow-vision.acme.io"}],
}

app = cdk8s.App()
platform = MlflowPlatform.from_config(app, "vision", config=CONFIG)

# intent-level extensions of the server's pods (each keeps Pod Security "restricted")
platform.server.add_env("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
platform.server.add_toleration({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"})
platform.server.add_volume({"name": "team-ca", "configMap": {"name": "team-ca"}}, "/etc/team-ca")
platform.server.add_sidecar({"name": "log-shipper", "image": "registry.acme.io/log-shipper:1.4.2"})

# an object of your own, applied with the app unit
platform.add_object(
    "app",
    "team-ca",
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "team-ca", "namespace": platform.names.namespace},
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"},
    },
)

app.synth()
