"""The mlflow-gitops command line: parse arguments, run config -> render -> output, map errors to exit codes.

Exit codes: 0 success, 2 bad input (config or arguments), 1 anything else. `diff` exits 1 when something
differs (0 when nothing does, 2 on bad input or an unreadable repository or ref).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_gitops import __version__
from mlflow_gitops.config import ConfigError, load_environments
from mlflow_gitops.config.load import ENV_OVERRIDES
from mlflow_gitops.gitops.forge_names import FORGE_NAMES
from mlflow_gitops.prerequisites import MissingPrerequisite

if TYPE_CHECKING:
    from mlflow_gitops.gitops.diff import DiffResult
    from mlflow_gitops.gitops.forge import Forge
    from mlflow_gitops.settings import EnvironmentSettings

EXIT_BAD_INPUT = 2
DEFAULT_CONFIG_DIR = Path("environments")

DESCRIPTION = """\
Render a production MLflow platform (MLflow 3.6 + mlflow-oidc-auth, Keycloak OIDC, CloudNativePG,
MinIO/S3, External Secrets from Vault, Traefik, Prometheus) as plain Kubernetes YAML for a GitOps repo.

Environments are YAML files in the config folder (default: environments/), one per environment,
validated against the JSON Schema in mlflow_gitops/config/schema.json. Without any file the built-in
environment `default` reproduces the old buun-stack module's defaults.
"""

EPILOG = "These environment variables override every environment's config: " + ", ".join(ENV_OVERRIDES) + "."


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        action="append",
        metavar="NAME",
        dest="envs",
        help="environment to use; repeat for several (default: every file in the config "
        "folder, or the built-in `default` when there is none)",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"folder of environment files <name>.yaml (default: {DEFAULT_CONFIG_DIR}/ when it "
        "exists, else the built-in `default` environment alone)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlflow-gitops",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser(
        "synth",
        help="validate the config and write the rendered YAML",
        description="Validate the config, render every selected environment in one cdk8s app and write "
        "<out>/<env>/: one file per object plus kustomization.yaml. Each environment folder is "
        "replaced atomically; nothing is written when the config is invalid (exit 2).",
        epilog=EPILOG,
    )
    _add_selection(synth)
    synth.add_argument("--out", type=Path, default=Path("dist"), metavar="DIR", help="output folder (default: dist)")
    synth.add_argument("--quiet", action="store_true", help="print nothing on success")

    validate = commands.add_parser(
        "validate",
        help="validate the config only",
        description="Load and validate the selected environments; print one line per problem (file, key "
        "path, bad value, what is allowed) and exit 2 if there is any. Renders nothing, "
        "unless --against-cluster asks whether a live cluster serves every kind the render holds.",
        epilog=EPILOG,
    )
    _add_selection(validate)
    validate.add_argument(
        "--against-cluster",
        type=Path,
        default=None,
        metavar="KUBECONFIG",
        help="also render and refuse (exit 2) kinds the cluster does not serve, e.g. a "
        "ServiceMonitor where the Prometheus Operator's CRDs are missing (needs kubectl)",
    )
    validate.add_argument(
        "--context",
        default=None,
        metavar="NAME",
        help="with --against-cluster: the kubeconfig context (default: its current one)",
    )

    migrate = commands.add_parser(
        "migrate",
        help="preflight the move from the old module's Helm release: print the steps",
        description="For each selected environment and instance: the Vault changes the move needs and, with "
        "--against-cluster, what the old release and justfile left in the instance namespace that "
        "must go before the render applies (a Deployment whose immutable selector differs, "
        "ExternalSecrets owning the render's Secrets, an unused Middleware), as ordered steps with "
        "their commands. Changes nothing. Exit 0: nothing on the cluster to move (or not inspected); "
        "1: cluster steps remain; 2: bad input or an unreadable cluster.",
        epilog=EPILOG,
    )
    _add_selection(migrate)
    migrate.add_argument(
        "--against-cluster",
        type=Path,
        default=None,
        metavar="KUBECONFIG",
        help="inspect the live objects of each instance namespace (needs kubectl)",
    )
    migrate.add_argument(
        "--context",
        default=None,
        metavar="NAME",
        help="with --against-cluster: the kubeconfig context (default: its current one)",
    )

    diff = commands.add_parser(
        "diff",
        help="compare a fresh render with what the GitOps repository holds",
        description="Render the selected environments and compare them, object by object, with "
        "<SUBDIR>/<env>/ of the GitOps repository: a local folder, or a git repository (URL or "
        "path, work tree or bare) fetched at REF (default: its HEAD). Prints added, removed and "
        "changed objects with unified diffs; secret-looking values are masked. Exit 0: no "
        "changes; 1: changes; 2: bad config, unreadable repository or unknown ref.",
        epilog=EPILOG,
    )
    _add_selection(diff)
    against = diff.add_mutually_exclusive_group(required=True)
    against.add_argument(
        "--against",
        metavar="PATH_OR_GIT_URL[@REF]",
        help="the GitOps repository: a folder, a git repository path or a git URL, optionally @branch, @tag or @commit",
    )
    against.add_argument(
        "--against-cluster",
        type=Path,
        metavar="KUBECONFIG",
        help="a live cluster: compare what it holds with a server-side dry-run apply of the "
        "render (needs kubectl; objects an engine applied for these environments that the "
        "render no longer holds are shown as removed)",
    )
    diff.add_argument(
        "--context",
        default=None,
        metavar="NAME",
        help="with --against-cluster: the kubeconfig context (default: its current one)",
    )
    diff.add_argument(
        "--path",
        default=None,
        metavar="SUBDIR",
        help="folder of the repository holding the <env>/ folders (default: the config's "
        "gitops.path, itself '.' by default)",
    )
    diff.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text for a terminal, markdown for a pull-request body or job summary, json for scripts (default: text)",
    )
    diff.add_argument(
        "--rendered",
        type=Path,
        default=None,
        metavar="DIR",
        help="compare what `synth --out DIR` wrote instead of rendering again (CI renders once; "
        "each selected environment's DIR/<env>/ must hold only this tool's files)",
    )
    diff.add_argument(
        "--comment-on-pr",
        type=int,
        default=None,
        metavar="NUMBER",
        help="also keep the Markdown report as one comment on pull request NUMBER of the config "
        "repository, updated in place on each run (--forge github: GITHUB_TOKEN, "
        "GITHUB_REPOSITORY, GITHUB_API_URL; gitea: GITEA_TOKEN, GITEA_URL, GITEA_REPOSITORY)",
    )
    diff.add_argument(
        "--forge",
        choices=FORGE_NAMES,
        default="github",
        help="with --comment-on-pr: the config repository's forge (default: github)",
    )
    diff.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="KIND",
        dest="kinds",
        help="show only objects of this kind (case-insensitive, e.g. Job or Database.postgresql."
        "cnpg.io); repeat for several; the exit code follows what is shown",
    )
    diff.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="PATTERN",
        dest="names",
        help="show only objects whose name matches this shell pattern (e.g. 'mlflow-*'); repeat for several",
    )

    publish = commands.add_parser(
        "publish",
        help="commit the render to a branch of the GitOps repository (and open a pull request)",
        description="Render the selected environments, replace <SUBDIR>/<env>/ on BRANCH of the GitOps "
        "repository (checked out from the remote, or created from BASE), commit once and push. "
        "Nothing outside <SUBDIR>/<env>/ is touched; nothing is committed when nothing changed. "
        "--open-pr opens or updates the pull request BRANCH -> BASE with the diff against BASE as "
        "its body, through the API of --forge: github (GITHUB_TOKEN, GITHUB_REPOSITORY, "
        "GITHUB_API_URL) or gitea, also for Forgejo (GITEA_TOKEN, GITEA_URL, GITEA_REPOSITORY). Tokens "
        "are never printed; git pushes with its own credentials (credential helper, http.extraHeader). "
        "Commits are made as GIT_AUTHOR_NAME <GIT_AUTHOR_EMAIL> (default mlflow-gitops "
        "<mlflow-gitops@localhost>). Exit 0: published or no changes; 2: bad input (the repository "
        "is left untouched); 1: git or API failure.",
        epilog=EPILOG,
    )
    _add_selection(publish)
    publish.add_argument("--repo", required=True, metavar="PATH_OR_GIT_URL", help="the GitOps repository")
    publish.add_argument(
        "--path",
        default=None,
        metavar="SUBDIR",
        help="folder of the repository that holds the <env>/ folders ('.' for its root), for "
        "every environment; also what the rendered Flux/Argo CD objects point at "
        "(default: each environment's gitops.path, as for diff)",
    )
    publish.add_argument(
        "--branch",
        default="mlflow-gitops/update",
        metavar="NAME",
        help="branch to commit to (default: mlflow-gitops/update)",
    )
    publish.add_argument(
        "--base",
        default="main",
        metavar="NAME",
        help="branch a new BRANCH starts from, and the pull request's base (default: main)",
    )
    publish.add_argument(
        "--message",
        default=None,
        metavar="TEXT",
        help="commit message (default: a summary such as 'mlflow-gitops: 3 changed, 1 added, "
        "0 removed (env default)'); the list of objects is appended",
    )
    publish.add_argument(
        "--open-pr",
        action="store_true",
        help="open or update the pull request BRANCH -> BASE (needs GITHUB_TOKEN, or GITEA_TOKEN with --forge gitea)",
    )
    publish.add_argument(
        "--forge",
        choices=FORGE_NAMES,
        default="github",
        help="with --open-pr: the forge's API, github (default) or gitea (Gitea or Forgejo; "
        "server GITEA_URL, default: what precedes /owner/name in an http(s) --repo URL)",
    )
    publish.add_argument(
        "--remove-env",
        action="append",
        default=[],
        metavar="NAME",
        dest="remove_envs",
        help="also delete the folder of environment NAME, whose file is no longer in the config "
        "(publish names such folders; only one holding nothing but this tool's files for "
        "NAME is deleted); repeat for several",
    )
    publish.add_argument(
        "--workdir",
        type=Path,
        default=Path(".mlflow-gitops"),
        metavar="DIR",
        help="where checkouts are cached, under DIR/checkouts/ (default: .mlflow-gitops)",
    )

    pin = commands.add_parser(
        "pin-image",
        help="write a pushed image's digest (and tag) into environment files, optionally as a pull request",
        description="Set image.digest (and with --tag image.tag) in each named environment file, changing "
        "only those lines (comments and layout stay), after checking that the result loads as intended and "
        "validates. With --branch: commit the files on BRANCH (made from the config repository's HEAD), push "
        "it to origin (replacing an earlier proposal only when every commit on it is mlflow-gitops') and "
        "with --open-pr open or update its pull request into --base, so the new image reaches the cluster "
        "through the reviewed GitOps flow. Exit 0: written (or already pinned); 2: bad input, nothing "
        "written; 1: git or API failure.",
        epilog=EPILOG,
    )
    pin.add_argument(
        "--env",
        action="append",
        required=True,
        metavar="NAME",
        dest="envs",
        help="environment file to change; repeat for several",
    )
    pin.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"folder of environment files (default: {DEFAULT_CONFIG_DIR}/)",
    )
    digest = pin.add_mutually_exclusive_group(required=True)
    digest.add_argument("--digest", metavar="sha256:HEX", help="the digest the registry returned")
    digest.add_argument(
        "--digest-file",
        type=Path,
        metavar="FILE",
        help="read it from the file `docker buildx build --push --metadata-file FILE` wrote (containerimage.digest)",
    )
    pin.add_argument("--tag", default=None, metavar="TAG", help="the tag pushed with it (default: leave image.tag)")
    pin.add_argument(
        "--branch",
        default=None,
        metavar="NAME",
        help="commit on this branch of the config repository and push it (e.g. mlflow-gitops/image)",
    )
    pin.add_argument("--base", default="main", metavar="NAME", help="the pull request's base (default main)")
    pin.add_argument("--open-pr", action="store_true", help="open or update the pull request BRANCH -> BASE")
    pin.add_argument(
        "--forge",
        choices=FORGE_NAMES,
        default="github",
        help="whose API opens the pull request, as for publish (default github)",
    )

    access = commands.add_parser(
        "access",
        help="print the platform's one-time steps that make the narrow credentials the render uses",
        description="For each selected environment, a shell script for a platform admin: the realm's Keycloak "
        "setup client with only the realm-management roles the setup Jobs need, each instance's MinIO setup user "
        "with a policy limited to its bucket, and per instance and namespace a Vault policy (exactly the paths its "
        "ExternalSecrets there read) and, with vault.namespaceStore, its Kubernetes auth role. Prints no secret: each "
        "is generated in the script and written to Vault. Changes nothing.",
        epilog=EPILOG,
    )
    _add_selection(access)

    crds = commands.add_parser("crds", help="the pinned upstream CRD files used to validate rendered output")
    crds_commands = crds.add_subparsers(dest="crds_command", required=True, metavar="COMMAND")
    fetch = crds_commands.add_parser(
        "fetch",
        help="download the pinned CRD files",
        description="Download every CRD file the tests validate against, from its upstream repository at the "
        "pinned tag, check its SHA-256 and write it atomically. With another --dest, point $MLFLOW_GITOPS_CRDS at the "
        "folder afterwards.",
    )
    fetch.add_argument(
        "--dest",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder to write (default: the cache the tests and `cdk8s import` find by themselves, "
        "$XDG_CACHE_HOME/mlflow-gitops/crds)",
    )
    fetch.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="serve the files from a mirror laid out as <repo>/<tag>/<path> (default: raw.githubusercontent.com)",
    )
    return parser


def _config_dir(args: argparse.Namespace) -> Path | None:
    """The folder the user named, else `environments/` when there is one (even a broken one: the loader
    says what is wrong), else None: the built-in default environment alone."""
    if args.config_dir is not None:
        return Path(args.config_dir)
    return DEFAULT_CONFIG_DIR if os.path.lexists(DEFAULT_CONFIG_DIR) else None


def _synth(args: argparse.Namespace) -> int:
    from mlflow_gitops.output import OutputError, check_destination, write

    started = time.perf_counter()
    config_dir = _config_dir(args)
    environments = load_environments(args.envs, config_dir, os.environ)
    folders = [env.name for env in environments]
    try:
        check_destination(args.out, folders, config_dir=config_dir)
        from mlflow_gitops.app import render  # starts Node (jsii): only once the input is known to be valid

        written = write(
            render(environments),
            args.out,
            config_dir=config_dir,
            waiting=lambda: print(f"waiting for another mlflow-gitops writing into {args.out}/", file=sys.stderr),
        )
    except OutputError as exc:
        return _error(str(exc), exc.exit_code)
    if not args.quiet:
        total: Counter[str] = Counter()
        for item in written:
            total += item.kinds
            print(f"{item.environment}: {sum(item.kinds.values())} objects -> {item.path}/")
        print("objects per kind: " + ", ".join(f"{kind} {count}" for kind, count in sorted(total.items())))
        print(f"synthesized {len(written)} environment(s) in {time.perf_counter() - started:.2f}s")
    return 0


def _validate(args: argparse.Namespace) -> int:
    environments = load_environments(args.envs, _config_dir(args), os.environ)
    if args.against_cluster is not None:
        from mlflow_gitops.gitops.cluster import ClusterError, Kubectl, unserved_kinds

        kubectl = Kubectl(args.against_cluster, args.context)
        try:
            kubectl.server()
            from mlflow_gitops.app import render  # starts Node: only once the kubeconfig is readable
            from mlflow_gitops.output import tree

            problems = unserved_kinds(tree(render(environments)), kubectl)
        except ClusterError as exc:
            return _error(str(exc), exc.exit_code)
        if problems:
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
    for env in environments:
        print(f"{env.name}: ok ({env.source}; {len(env.instances)} instance(s))")
        if len(env.precedence) > 2:  # more than the defaults and the file: say which wins
            print(f"  precedence, lowest first: {' < '.join(env.precedence)}")
            for override in env.overrides:
                print(f"  overrides {override}")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from mlflow_gitops.gitops.cluster import ClusterError, Kubectl
    from mlflow_gitops.gitops.migrate import format_plan, plan

    environments = load_environments(args.envs, _config_dir(args), os.environ)
    kubectl = Kubectl(args.against_cluster, args.context) if args.against_cluster is not None else None
    remaining = False
    try:
        server = kubectl.server() if kubectl else None
        for env in environments:
            plans = plan(env, kubectl)
            print(format_plan(env, plans, server), end="")
            remaining = remaining or any(p.cluster_work for p in plans)
    except ClusterError as exc:
        return _error(str(exc), exc.exit_code)
    return 1 if remaining else 0


def _access(args: argparse.Namespace) -> int:
    from mlflow_gitops.app import render  # starts Node: the script lists the paths the render's ExternalSecrets read
    from mlflow_gitops.gitops.access import format_access

    for rendered in render(load_environments(args.envs, _config_dir(args), os.environ)):
        print(format_access(rendered.environment, rendered.documents), end="")
    return 0


def _known_environments(args: argparse.Namespace) -> set[str]:
    """Every environment the config has (not only those selected with --env)."""
    from mlflow_gitops.config import DEFAULT_ENVIRONMENT
    from mlflow_gitops.config.load import discover

    config_dir = _config_dir(args)
    return set(discover(config_dir)) if config_dir is not None else {DEFAULT_ENVIRONMENT}


class _BadOption(Exception):
    """An option's value is refused: main prints the message and exits 2."""


def _gitops_path(args: argparse.Namespace) -> str | None:
    """`--path`, normalised ('.' for the root), or None when it is not given: each environment's gitops.path."""
    from mlflow_gitops.gitops import normalize_subdir

    try:
        return normalize_subdir(args.path) if args.path is not None else None
    except ValueError as exc:
        raise _BadOption(f"--path {exc}") from None


def _error(message: str, exit_code: int = EXIT_BAD_INPUT) -> int:
    print(f"error: {message}", file=sys.stderr)
    return exit_code


def _diff(args: argparse.Namespace) -> int:
    from mlflow_gitops.gitops import join, normalize_subdir
    from mlflow_gitops.gitops.diff import compare
    from mlflow_gitops.gitops.forge import ForgeError
    from mlflow_gitops.gitops.source import SourceError, parse_against, prefixed, read_against

    subdir = _gitops_path(args)
    environments = load_environments(args.envs, _config_dir(args), os.environ, gitops_path=subdir)
    try:
        roots = {env.name: join(normalize_subdir(env.gitops.path), env.name) for env in environments}
    except ValueError as exc:
        return _error(f"gitops.path {exc}")
    if args.comment_on_pr is not None and args.comment_on_pr < 1:
        return _error(f"--comment-on-pr {args.comment_on_pr}: expected a pull request number (1 or more)")
    if args.against_cluster is not None:
        return _diff_cluster(args, environments)
    try:
        forge = _comment_forge(args)
        rendered = _read_rendered(args.rendered, list(roots)) if args.rendered is not None else None
        found, source = read_against(parse_against(args.against), roots.values())
    except SourceError as exc:
        return _error(str(exc))
    except ForgeError as exc:
        return _error(str(exc), exc.exit_code)
    if rendered is None:
        from mlflow_gitops.app import render  # starts Node: only once the config and the repository are readable
        from mlflow_gitops.output import tree

        rendered = tree(render(environments))
    result = compare(prefixed(found, roots), rendered, list(roots), roots=roots, source=source)
    return _report(args, result, forge)


def _comment_forge(args: argparse.Namespace) -> Forge | None:
    """The forge of the config repository's pull request that `--comment-on-pr` names (checked before any work)."""
    if args.comment_on_pr is None:
        return None
    from mlflow_gitops.gitops.workflow import FORGES

    return FORGES[args.forge].from_environment(os.environ, "", "--comment-on-pr")


def _read_rendered(folder: Path, environments: list[str]) -> dict[str, str]:
    """`<env>/<rel>` -> text of what synth wrote into `folder`; SourceError unless every file is its."""
    from mlflow_gitops.gitops.source import SourceError, read_folder
    from mlflow_gitops.output.ownership import describe, foreign_files

    for env in environments:
        where = folder / env
        if not where.is_dir():
            raise SourceError(
                f"--rendered {folder}: no folder {env}/ (run `mlflow-gitops synth --out {folder}` "
                "with the same environments first)"
            )
        foreign = foreign_files(where, env)
        if foreign:
            raise SourceError(
                f"--rendered {folder}: {describe(foreign, str(where))} not written by mlflow-gitops "
                f"for environment {env!r}"
            )
    return {f"{env}/{rel}": text for env in environments for rel, text in read_folder(folder, env).items()}


def _report(args: argparse.Namespace, result: DiffResult, forge: Forge | None = None) -> int:
    """Print the diff report `--format` asks for, of the objects `--kind`/`--name` select (and keep it as the
    pull request's comment); exit 1 when it shows a change."""
    from mlflow_gitops.gitops.forge import ForgeError
    from mlflow_gitops.gitops.reports import FORMATS, format_markdown

    shown = result.only(args.kinds, args.names)
    print(FORMATS[args.format](shown), end="")
    if forge is not None:
        try:
            comment = forge.comment(args.comment_on_pr, format_markdown(shown))
        except ForgeError as exc:
            return _error(str(exc), exc.exit_code)
        print(f"comment {comment.action} on pull request #{args.comment_on_pr}: {comment.url}", file=sys.stderr)
    return 1 if shown.has_changes else 0


def _diff_cluster(args: argparse.Namespace, environments: list[EnvironmentSettings]) -> int:
    from mlflow_gitops.gitops.cluster import ClusterError, Kubectl, cluster_sides
    from mlflow_gitops.gitops.diff import compare
    from mlflow_gitops.names import UNITS

    kubectl = Kubectl(args.against_cluster, args.context)
    names = [env.name for env in environments]
    try:
        server = kubectl.server()
        from mlflow_gitops.app import render  # starts Node: only once the kubeconfig is readable
        from mlflow_gitops.output import tree

        old, new = cluster_sides(tree(render(environments)), kubectl, names, UNITS)
    except ClusterError as exc:
        return _error(str(exc), exc.exit_code)
    return _report(args, compare(old, new, names, source=f"cluster {server}"))


def _publish(args: argparse.Namespace) -> int:
    from mlflow_gitops.gitops import GitError
    from mlflow_gitops.gitops.forge import ForgeError
    from mlflow_gitops.gitops.publish import PublishError, provenance, publish
    from mlflow_gitops.gitops.workflow import check_input, outcome, propose

    subdir = _gitops_path(args)
    try:
        forge = check_input(args.repo, args.branch, args.base, args.open_pr, args.forge, os.environ)
    except (PublishError, ForgeError) as exc:
        return _error(str(exc), exc.exit_code)
    except GitError as exc:
        return _error(str(exc), 1)
    environments = load_environments(args.envs, _config_dir(args), os.environ, gitops_path=subdir)
    from mlflow_gitops.app import render  # starts Node: only once the input is known to be valid
    from mlflow_gitops.output import tree

    names = [env.name for env in environments]
    try:
        files = tree(render(environments))
        result = publish(
            files,
            args.repo,
            {env.name: env.gitops.path for env in environments},
            args.branch,
            args.base,
            args.message,
            args.workdir,
            environments=names,
            provenance=provenance(_config_dir(args), __version__),
            known=_known_environments(args),
            remove=args.remove_envs,
        )
        print("\n".join(outcome(result, names, args.remove_envs, args.message)))
        if forge is not None:
            print(propose(result, files, forge, args.message))
    except (PublishError, ForgeError) as exc:
        return _error(str(exc), exc.exit_code)
    return 0


def _pin_image(args: argparse.Namespace) -> int:
    from mlflow_gitops.config.discovery import display
    from mlflow_gitops.config.pin import pin_image
    from mlflow_gitops.gitops import GitError
    from mlflow_gitops.gitops.forge import ForgeError
    from mlflow_gitops.gitops.pin import origin_url, proposal_text, propose
    from mlflow_gitops.gitops.publish import PublishError, check_ref_name
    from mlflow_gitops.gitops.workflow import FORGES

    if args.open_pr and args.branch is None:
        return _error("--open-pr needs --branch: the pull request is opened from that branch", EXIT_BAD_INPUT)
    config_dir = _config_dir(args)
    if config_dir is None:
        return _error(
            f"pin-image changes environment files: name their folder with --config-dir (no {DEFAULT_CONFIG_DIR}/ here)",
            EXIT_BAD_INPUT,
        )
    from mlflow_gitops.config.edit import digest_from_metadata

    digest = args.digest if args.digest is not None else digest_from_metadata(args.digest_file)
    values = {**({"tag": args.tag} if args.tag else {}), "digest": digest}
    forge = None
    if args.branch is not None:
        try:
            check_ref_name("--branch", args.branch)
            check_ref_name("--base", args.base)
            if args.open_pr:
                forge = FORGES[args.forge].from_environment(os.environ, origin_url(config_dir))
        except (PublishError, ForgeError) as exc:
            return _error(str(exc), exc.exit_code)
        except GitError as exc:
            return _error(str(exc), 1)
    edits = pin_image(config_dir, args.envs, values, os.environ)
    for edit in edits:
        for key, value in edit.after.items():
            was = edit.before.get(key)
            change = "unchanged" if was == value else f"{was or '(not set)'} -> {value}"
            print(f"{display(edit.path)}: image.{key}: {change}")
    if args.branch is None:
        return 0
    title, body = proposal_text(edits, values)
    try:
        done = propose(
            config_dir,
            [e.path for e in edits],
            branch=args.branch,
            base=args.base,
            title=title,
            body=body,
            forge=forge,
            environ=os.environ,
        )
    except (PublishError, ForgeError) as exc:
        return _error(str(exc), exc.exit_code)
    print(f"committed {done.commit[:12]} on {args.branch}" if done.commit else f"{args.branch} already pins it")
    if done.pull_request is not None:
        print(f"pull request #{done.pull_request.number} {done.pull_request.action}: {done.pull_request.url}")
    return 0


def _crds(args: argparse.Namespace) -> int:
    from mlflow_gitops.crds import RAW_BASE_URL, CrdFetchError, cache_dir, fetch_crds

    dest = args.dest if args.dest is not None else cache_dir()
    try:
        written = fetch_crds(dest, base_url=args.base_url or RAW_BASE_URL)
    except CrdFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    found = "found there by default" if args.dest is None else f"export MLFLOW_GITOPS_CRDS={dest}"
    print(f"fetched {len(written)} CRD files into {dest}/ ({found})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {
            "synth": _synth,
            "validate": _validate,
            "diff": _diff,
            "publish": _publish,
            "crds": _crds,
            "migrate": _migrate,
            "pin-image": _pin_image,
            "access": _access,
        }
        return commands[args.command](args)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (MissingPrerequisite, _BadOption) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
