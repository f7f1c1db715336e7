"""The validated config document -> the frozen settings dataclasses (`settings_from`), deriving what the
document leaves to defaults that depend on other keys (URLs, hosts, database names)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from mlflow_gitops import settings as s


def _instance(raw: dict[str, Any]) -> s.InstanceSettings:
    name = raw["name"]
    host = raw.get("host", f"{name}.example.com")
    oidc, scaling = raw["oidc"], raw["autoscaling"]
    database = raw.get("database", {})
    role = database.get("role", name.replace("-", "_"))
    requests, limits, tmp = raw["resources"]["requests"], raw["resources"]["limits"], raw["tmp"]
    return s.InstanceSettings(
        name=name,
        namespace=raw.get("namespace", name),
        host=host,
        url=raw.get("url", f"https://{host}").rstrip("/"),
        replicas=raw["replicas"],
        workers=raw["workers"],
        default_permission=raw["defaultPermission"],
        resources=s.Resources(
            cpu_request=requests["cpu"],
            memory_request=requests["memory"],
            cpu_limit=limits["cpu"],
            memory_limit=limits["memory"],
        ),
        tmp=s.TmpSettings(size_limit=tmp["sizeLimit"], medium=tmp["medium"]),
        oidc=s.OidcSettings(
            client_id=oidc.get("clientId", name),
            admin_group=oidc.get("adminGroup", f"{name}-admins"),
            user_group=oidc.get("userGroup", f"{name}-users"),
            scopes=tuple(oidc["scopes"]),
            groups_attribute=oidc["groupsAttribute"],
            pkce=oidc["pkce"],
        ),
        database=s.DatabaseSettings(
            role=role,
            name=database.get("name", role),
            auth_name=database.get("authName", f"{role}_auth"),
        ),
        bucket=raw.get("bucket", name),
        vault_path=raw.get("vaultPath", name),
        reclaim_policy=raw["reclaimPolicy"],
        sessions=_sessions(raw["sessions"]),
        autoscaling=s.AutoscalingSettings(
            enabled=scaling["enabled"],
            min_replicas=scaling.get("minReplicas", raw["replicas"]),
            max_replicas=scaling["maxReplicas"],
            target_cpu_utilization=scaling["targetCpuUtilization"],
        ),
        pods=_pods(raw.get("pods", {})),
        server=_server_options(raw.get("server", {})),
        members=_members(raw["members"]),
        retired=raw["retired"],
        bucket_cleanup=raw["cleanup"]["bucket"],
    )


def _members(raw: dict[str, Any]) -> s.MembersSettings:
    return s.MembersSettings(
        admins=tuple(user.lower() for user in raw["admins"]),
        users=tuple(user.lower() for user in raw["users"]),
        exclusive=raw["exclusive"],
        create_users=raw["createUsers"],
        upstream=tuple(
            s.UpstreamGroups(
                identity_provider=entry["identityProvider"],
                claim=entry["claim"],
                admins=tuple(entry.get("admins", ())),
                users=tuple(entry.get("users", ())),
            )
            for entry in raw["upstream"]
        ),
    )


def _given(raw: dict[str, Any], fields: dict[str, tuple[str, Callable[[Any], Any]]]) -> dict[str, Any]:
    """Dataclass keyword arguments for the config keys present in `raw` (absent ones keep the field default)."""
    return {field: convert(raw[key]) for key, (field, convert) in fields.items() if key in raw}


def _pairs(raw: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(raw.items()))


def _same(value: Any) -> Any:
    return value


def _pods(raw: dict[str, Any]) -> s.PodSettings:
    return s.PodSettings(
        **_given(
            raw,
            {
                "nodeSelector": ("node_selector", _pairs),
                "tolerations": ("tolerations", tuple),
                "affinity": ("affinity", _same),
                "priorityClassName": ("priority_class_name", _same),
                "imagePullSecrets": ("image_pull_secrets", tuple),
                "labels": ("labels", _pairs),
                "annotations": ("annotations", _pairs),
            },
        )
    )


def _server_options(raw: dict[str, Any]) -> s.ServerOptions:
    return s.ServerOptions(
        **_given(
            raw,
            {
                "logLevel": ("log_level", _same),
                "automaticLoginRedirect": ("automatic_login_redirect", _same),
                "staticPrefix": ("static_prefix", _same),
                "extraEnv": ("extra_env", _pairs),
                "serviceAnnotations": ("service_annotations", _pairs),
                "ingressAnnotations": ("ingress_annotations", _pairs),
                "proxyFix": ("proxy_fix", _pairs),
                "sidecars": ("sidecars", tuple),
                "initContainers": ("init_containers", tuple),
                "extraVolumes": ("extra_volumes", tuple),
                "extraVolumeMounts": ("extra_volume_mounts", tuple),
                "extraEnvFrom": ("extra_env_from", lambda sources: tuple(next(iter(x.items())) for x in sources)),
                "serviceLabels": ("service_labels", _pairs),
            },
        )
    )


def _sessions(raw: dict[str, Any]) -> s.SessionSettings:
    redis = raw["redis"]
    return s.SessionSettings(
        store=raw["store"],
        redis=s.RedisSettings(
            deploy=redis["deploy"],
            host=redis.get("host"),
            port=redis["port"],
            db=redis["db"],
            ssl=redis["ssl"],
            image=redis["image"],
        ),
    )


def settings_from(name: str, source: str, doc: dict[str, Any]) -> s.EnvironmentSettings:
    image, kc, pg, s3 = doc["image"], doc["keycloak"], doc["postgres"], doc["s3"]
    vault, ingress, mon, net = doc["vault"], doc["ingress"], doc["monitoring"], doc["network"]
    tls = ingress.get("tls", {})
    keycloak_url = kc.get("url", f"https://{kc['host']}")
    postgres_host = pg.get("host", f"{pg['cluster']}-rw.{pg['namespace']}.svc.cluster.local")
    s3_endpoint = s3.get("endpoint", f"http://minio.{s3['minioNamespace']}.svc.cluster.local:9000")
    instances = tuple(_instance(raw) for raw in doc["instances"])
    cluster = s.ClusterSettings(
        kube_version=doc["cluster"]["kubeVersion"], api_versions=tuple(doc["cluster"]["apiVersions"])
    )
    return s.EnvironmentSettings(
        name=name,
        source=source,
        cluster=cluster,
        image=s.ImageSettings(
            registry=image["registry"],
            repository=image["repository"],
            tag=image["tag"],
            digest=image.get("digest"),
            pull_policy=image["pullPolicy"],
        ),
        keycloak=s.KeycloakSettings(
            host=kc["host"],
            url=keycloak_url,
            realm=kc["realm"],
            display_name=kc["displayName"],
            admin_realm=kc["adminRealm"],
            admin_client_id=kc["adminClientId"],
            admin=_admin_secret(kc["admin"]),
            setup_login=kc["setupLogin"],
            service_account=s.ClientSecret(
                client_id=kc["serviceAccount"]["clientId"],
                secret_name=kc["serviceAccount"]["secretName"],
                key=kc["serviceAccount"]["secretKey"],
                vault_path=kc["serviceAccount"].get("vaultPath"),
            ),
        ),
        postgres=s.PostgresSettings(
            namespace=pg["namespace"],
            cluster=pg["cluster"],
            host=postgres_host,
            port=pg["port"],
            ssl_mode=pg["sslMode"],
            role_management=pg.get("roleManagement", "DatabaseRole" if cluster.serves(s.DATABASE_ROLE) else "job"),
            admin=_admin_secret(pg["admin"]),
            ca=_ca_secret(pg["ca"]) if "ca" in pg else None,
        ),
        s3=s.S3Settings(
            minio_namespace=s3["minioNamespace"],
            endpoint=s3_endpoint,
            ignore_tls=s3["ignoreTls"],
            admin=_admin_secret(s3["admin"]),
            region=s3.get("region"),
            setup_login=s3["setupLogin"],
            setup_user=_admin_secret({**s3["setupUser"], "vaultPath": None}),
        ),
        vault=s.VaultSettings(
            store=vault["store"],
            store_kind=vault["storeKind"],
            refresh_interval=vault["refreshInterval"],
            rotation=vault.get("rotation"),
            reload_pods=vault["reloadPods"],
            namespace_store=_namespace_store(vault["namespaceStore"]) if "namespaceStore" in vault else None,
        ),
        ingress=s.IngressSettings(
            enabled=ingress["enabled"],
            entry_point=ingress["entryPoint"],
            tls_secret_name=tls.get("secretName"),
            tls_cert_resolver=tls.get("certResolver"),
        ),
        monitoring=s.MonitoringSettings(
            enabled=mon.get("enabled", cluster.serves(s.SERVICE_MONITOR)),
            prometheus_namespace=mon["prometheusNamespace"],
            release=mon["release"],
            interval=mon["interval"],
            scrape_timeout=mon["scrapeTimeout"],
        ),
        bootstrap=s.BootstrapSettings(
            keycloak=doc["bootstrap"]["keycloak"]["enabled"],
            minio=doc["bootstrap"]["minio"]["enabled"],
            bucket_versioning=doc["bootstrap"]["minio"]["versioning"],
        ),
        gitops=_gitops(doc["gitops"]),
        network=_network(net, keycloak_url, postgres_host, s3_endpoint, instances),
        instances=instances,
        patches=tuple(_patch(raw) for raw in doc["patches"]),
    )


def _patch(raw: dict[str, Any]) -> s.ObjectPatch:
    target = raw["target"]
    return s.ObjectPatch(
        kind=target["kind"],
        name=target["name"],
        instance=target.get("instance"),
        merge=raw.get("merge"),
        json_patch=tuple(raw.get("jsonPatch") or ()),
    )


def _outside_cidrs(net: dict[str, Any], key: str, hosts: list[str]) -> tuple[str, ...]:
    """network.<key> as configured; else the addresses of hosts given as IP literals (one /32 or /128 each)
    when every host outside the cluster is one, anywhere when some is a name, none when all are cluster
    Services."""
    if key in net:
        return tuple(net[key])
    outside = sorted({h for h in hosts if s.cluster_service(h) is None})
    addresses = [_ip_literal(h) for h in outside]
    if all(addresses):
        return tuple(f"{a}/{a.max_prefixlen}" for a in addresses if a)
    return s.ANYWHERE


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _network(
    net: dict[str, Any],
    keycloak_url: str,
    postgres_host: str,
    s3_endpoint: str,
    instances: tuple[s.InstanceSettings, ...],
) -> s.NetworkSettings:
    redis_hosts = [
        i.sessions.redis.host
        for i in instances
        if i.sessions.store == "redis" and not i.sessions.redis.deploy and i.sessions.redis.host
    ]
    return s.NetworkSettings(
        policies=net["policies"],
        ingress_namespace=net["ingressNamespace"],
        ingress_pods=tuple(sorted(net["ingressPods"].items())) if "ingressPods" in net else s.TRAEFIK_PODS,
        allow_from=tuple(net["allowFrom"]),
        dns_namespace=net["dnsNamespace"],
        keycloak_namespace=net["keycloakNamespace"],
        keycloak_ports=tuple(net["keycloakPorts"]),
        minio_ports=tuple(net["minioPorts"]),
        keycloak_cidrs=_outside_cidrs(net, "keycloakCidrs", [s.url_host(keycloak_url)]),
        postgres_cidrs=_outside_cidrs(net, "postgresCidrs", [postgres_host]),
        s3_cidrs=_outside_cidrs(net, "s3Cidrs", [s.url_host(s3_endpoint)]),
        redis_cidrs=_outside_cidrs(net, "redisCidrs", redis_hosts),
    )


def _gitops(raw: dict[str, Any]) -> s.GitOpsSettings:
    repo, argocd = raw["repository"], raw["argocd"]
    return s.GitOpsSettings(
        engine=raw["engine"],
        path=raw["path"],
        interval=raw["interval"],
        timeout=raw["timeout"],
        repository_url=repo.get("url"),
        branch=repo["branch"],
        secret_name=repo.get("secretName"),
        namespace=raw.get("namespace", "flux-system" if raw["engine"] == "flux" else "argocd"),
        argocd_project=argocd.get("project"),
        argocd_destination=argocd["destinationServer"],
    )


def _namespace_store(raw: dict[str, Any]) -> s.NamespaceStore:
    return s.NamespaceStore(server=raw["server"], kv_mount=raw["kvMount"], auth_mount=raw["authMount"])


def _ca_secret(raw: dict[str, Any]) -> s.CaSecret:
    return s.CaSecret(
        secret_name=raw["secretName"],
        key=raw["key"],
        vault_path=raw["vaultPath"],
    )


def _admin_secret(raw: dict[str, Any]) -> s.AdminSecret:
    return s.AdminSecret(
        secret_name=raw["secretName"],
        user_key=raw["userKey"],
        password_key=raw["passwordKey"],
        vault_path=raw.get("vaultPath"),
    )
