"""The forges `publish --open-pr` and `diff --comment-on-pr` speak to, by name (gitops.workflow.FORGES): a
module of its own, so the command line lists them without importing the HTTP clients."""

FORGE_NAMES = ("github", "gitea")
