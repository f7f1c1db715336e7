"""What the API server, the operators, Flux, S3 and PostgreSQL accept: one checker per rule.

Each checker takes a value and returns None when it is accepted, else a sentence saying what is wrong and
what is allowed (the caller adds the file, key path and value). Nothing here knows the config's layout.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation

LABEL_MAX = 63
SUBDOMAIN_MAX = 253
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def dns_label(value: str) -> str | None:
    """RFC 1123 label: namespaces, and names that become label values (Jobs, Flux Kustomizations)."""
    if len(value) > LABEL_MAX:
        return f"is {len(value)} characters; at most {LABEL_MAX} are allowed"
    if not _LABEL.match(value):
        return (
            "must be an RFC 1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"
        )
    return None


def rfc1035_label(value: str) -> str | None:
    """RFC 1035 label: Service names (they become DNS names and environment variable prefixes)."""
    if len(value) > LABEL_MAX:
        return f"is {len(value)} characters; at most {LABEL_MAX} are allowed"
    if not _RFC1035.match(value):
        return (
            "must be an RFC 1035 label: lower-case letters, digits and '-', starting with a letter and ending "
            "with a letter or digit"
        )
    return None


def dns_subdomain(value: str) -> str | None:
    """RFC 1123 subdomain: the names of most objects."""
    if len(value) > SUBDOMAIN_MAX:
        return f"is {len(value)} characters; at most {SUBDOMAIN_MAX} are allowed"
    if not _SUBDOMAIN.match(value):
        return "must be an RFC 1123 subdomain: dot-separated lower-case labels"
    return None


# S3 bucket naming rules (AWS "general purpose bucket naming rules", which MinIO enforces too).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def s3_bucket(value: str) -> str | None:
    if not 3 <= len(value) <= 63:
        return f"has {len(value)} character{'s' if len(value) != 1 else ''}; an S3 bucket name needs 3 to 63"
    if not _BUCKET.match(value):
        return (
            "must be an S3 bucket name: lower-case letters, digits, '.' and '-', starting and ending with a "
            "letter or digit"
        )
    if ".." in value or ".-" in value or "-." in value:
        return "must not hold '..', '.-' or '-.' (S3 bucket naming rules)"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
        return "must not look like an IP address (S3 bucket naming rules)"
    for prefix in _BUCKET_PREFIXES:
        if value.startswith(prefix):
            return f"must not start with {prefix!r} (reserved by S3)"
    for suffix in _BUCKET_SUFFIXES:
        if value.endswith(suffix):
            return f"must not end with {suffix!r} (reserved by S3)"
    return None


PG_IDENTIFIER_MAX = 63
"""PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated, so two can become one."""
_PG_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
RESERVED_ROLES = ("postgres", "streaming_replica")
RESERVED_DATABASES = ("postgres", "template0", "template1")


def pg_identifier(value: str) -> str | None:
    if len(value) > PG_IDENTIFIER_MAX:
        return (
            f"is {len(value)} characters; PostgreSQL keeps only the first {PG_IDENTIFIER_MAX} of a name "
            f"(at most {PG_IDENTIFIER_MAX} are allowed)"
        )
    if not _PG_IDENTIFIER.match(value):
        return "must be a PostgreSQL identifier: lower-case letters, digits and '_', not starting with a digit"
    return None


def pg_role(value: str) -> str | None:
    problem = pg_identifier(value)
    if problem:
        return problem
    if value in RESERVED_ROLES:
        return f"is reserved by CloudNativePG (reserved roles: {', '.join(RESERVED_ROLES)})"
    if value.startswith("pg_"):
        return "must not start with 'pg_' (PostgreSQL reserves those role names)"
    return None


def pg_database(value: str) -> str | None:
    problem = pg_identifier(value)
    if problem:
        return problem
    if value in RESERVED_DATABASES:
        return f"is a PostgreSQL system database (reserved: {', '.join(RESERVED_DATABASES)})"
    return None


def cidr(value: str) -> str | None:
    """A network in canonical form, IPv4 or IPv6, as a NetworkPolicy ipBlock takes it."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "must be a CIDR such as 10.0.0.0/16 or fd00::/64 (an address, '/', a prefix length)"
    if "/" not in value:
        return f"needs a prefix length, such as {network}"
    if str(network) != value:
        return f"is not in canonical form (host bits set or leading zeros): write {network}"
    return None


_URL = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<userinfo>[^/@]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*)"
    r"(?::(?P<port>[^/?#]*))?"
)


def url_port(url: str) -> str | None:
    """A URL's explicit port, if any, is 1-65535."""
    match = _URL.match(url)
    if not match or match["port"] is None:
        return None
    port = match["port"]
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"port {port!r} is not a TCP port; allowed 1..65535"
    return None


def url_password(url: str) -> str | None:
    """No password or token in a URL: it would land in Git and in rendered objects."""
    match = _URL.match(url)
    if match and match["userinfo"] and ":" in match["userinfo"]:
        return "holds a password or token; put credentials in a Secret (gitops.repository.secretName), not the URL"
    if match and match["userinfo"] and match["scheme"] in ("http", "https"):
        return "holds a user name or token; put credentials in a Secret (gitops.repository.secretName), not the URL"
    return None


_CPU = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<milli>m?)$")
_MEMORY = re.compile(r"^(?P<number>[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def cpu_cores(value: str) -> Decimal | None:
    match = _CPU.match(value)
    if not match:
        return None
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None
    return number / 1000 if match["milli"] else number


def memory_bytes(value: str) -> int | None:
    match = _MEMORY.match(value)
    return int(match["number"]) * _MEMORY_FACTORS[match["suffix"]] if match else None


_GO_DURATION = re.compile(r"([0-9]+)(ms|s|m|h)")
_GO_UNITS_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
GO_DURATION_MAX_NS = 2**63 - 1


def go_duration_ns(value: str) -> int | None:
    """Nanoseconds of a Go duration made of whole ms/s/m/h parts (our schema's form); None when not one."""
    if not value or _GO_DURATION.sub("", value):
        return None
    return sum(int(number) * _GO_UNITS_NS[unit] for number, unit in _GO_DURATION.findall(value))


def go_duration(value: str) -> str | None:
    """What Flux and External Secrets parse with Go's time.ParseDuration: it fails above about 292 years."""
    nanoseconds = go_duration_ns(value)
    if nanoseconds is None:
        return "must be a duration such as 30s, 5m or 1h"
    if nanoseconds > GO_DURATION_MAX_NS:
        return "is longer than a Go duration can hold (about 2562047h)"
    return None


_PROMETHEUS_DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
    r"(([0-9]+)ms)?)$"
)
"""The ServiceMonitor CRD's pattern (prometheus-operator v0.93 `Duration`): each unit once, largest first."""


def prometheus_duration(value: str) -> str | None:
    problem = go_duration(value)
    if problem:
        return problem
    if not _PROMETHEUS_DURATION.match(value):
        return "Prometheus durations take each unit once, largest first (h, m, s, ms), such as 1m30s"
    return None


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def git_branch(value: str) -> str | None:
    """A branch name git (`check-ref-format --branch`) and Flux accept."""
    if not value or value.startswith("-") or value in ("@", "HEAD"):
        return "must be a branch name such as main or release/1.2"
    if _REF_FORBIDDEN.search(value) or ".." in value or "@{" in value or "//" in value:
        return "must not hold spaces, control characters, '~^:?*[\\', '..', '@{' or '//'"
    if value.startswith("/") or value.endswith("/") or value.endswith("."):
        return "must not start or end with '/' or end with '.'"
    for part in value.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "no part between '/' may start with '.' or end with '.lock'"
    return None


_FOLDER_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")


def repository_folder(value: str) -> str:
    """A folder inside a repository, normalised ('.' for the root). Raises ValueError saying what is allowed."""
    text = value.strip().replace("\\", "/")
    if not text or text in {".", "./"}:
        return "."
    if text.startswith("/"):
        raise ValueError(f"{value!r}: must be a folder relative to the repository's root, such as apps/mlflow")
    segments = [s for s in text.split("/") if s not in {"", "."}]
    for segment in segments:
        if segment == "..":
            raise ValueError(f"{value!r}: must stay inside the repository ('..' is not allowed)")
        if segment.lower() == ".git":
            raise ValueError(f"{value!r}: must not point into .git")
        if not _FOLDER_SEGMENT.match(segment):
            raise ValueError(f"{value!r}: folder names may hold letters, digits, '.', '_' and '-' only")
    return "/".join(segments) or "."
