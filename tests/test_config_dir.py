"""The config folder: only an absent folder means the built-in default; anything broken is an error naming
the path, and `publish` pushes nothing when the folder is broken.

Unreadable files cannot be shown as root (root reads everything): those cases run the CLI as `nobody`
through setpriv, on a copy of the case in a folder that user may enter.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_gitops.config import ConfigError, load_environments
from mlflow_gitops.config.load import ENV_OVERRIDES
from tests.conftest import REPO


def as_nobody(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root for the unreadable-file cases"
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    env.update(HOME=str(cwd), PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "mlflow_gitops", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A folder `nobody` can enter and write (tmp_path's parents are root's)."""
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"mlflow-gitops-nobody-{os.getpid()}-{tmp_path.name}"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    yield folder
    shutil.rmtree(folder)


def test_unreadable_environment_file_is_an_error_naming_it(shared: Path) -> None:
    config = shared / "environments"
    config.mkdir(mode=0o755)
    (config / "dev.yaml").write_text("{}\n")
    (config / "prod.yaml").write_text("{}\n")
    os.chmod(config / "prod.yaml", 0o000)
    result = as_nobody("validate", cwd=shared)
    assert result.returncode == 2, result.stderr
    assert "error: environments/prod.yaml: cannot read the file: Permission denied" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_config_folder_is_an_error_not_the_built_in_default(shared: Path) -> None:
    config = shared / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text("{}\n")
    os.chmod(config, 0o000)
    for args in (("validate",), ("synth", "--out", "dist"), ("validate", "--config-dir", "environments")):
        result = as_nobody(*args, cwd=shared)
        assert result.returncode == 2, result.stderr
        assert "error: --config-dir environments: cannot list the folder: Permission denied" in result.stderr
        assert "default: ok" not in result.stdout
    assert not (shared / "dist").exists()
    os.chmod(config, 0o755)


def test_without_any_config_folder_the_built_in_default_is_rendered(tmp_path: Path, run_cli) -> None:
    result = run_cli("validate")
    assert result.returncode == 0 and result.stdout.startswith("default: ok (built-in defaults")
    [env] = load_environments(None, None, {})
    assert env.name == "default"


def test_a_fifo_never_blocks_and_a_device_is_never_read(tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text("{}\n")
    os.mkfifo(config / "pipe.yaml")
    os.symlink("/dev/zero", config / "zero.yaml")  # a device that would never end
    with pytest.raises(ConfigError) as caught:
        load_environments(["dev"], config, {})
    found = "\n".join(caught.value.lines())
    assert "pipe.yaml: a FIFO (named pipe), not an environment file" in found
    assert "zero.yaml: a character device, not an environment file" in found
    assert stat.S_ISFIFO(os.lstat(config / "pipe.yaml").st_mode)


def test_hidden_files_of_other_tools_are_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text("{}\n")
    (config / ".sops.yaml").write_text("creation_rules: []\n")
    (config / "README.md").write_text("notes\n")
    assert [e.name for e in load_environments(None, config, {})] == ["dev"]


def test_publish_pushes_nothing_when_the_config_folder_is_broken(tmp_path: Path, run_cli) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    for args in (("--config-dir", "environmnets"), ("--config-dir", str(tmp_path / "empty"))):
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = run_cli("publish", "--repo", str(bare), "--path", ".", *args)
        assert result.returncode == 2, result.stderr
        assert "error: --config-dir" in result.stderr
        refs = subprocess.run(["git", "for-each-ref"], cwd=bare, capture_output=True, text=True, check=True)
        assert refs.stdout == "", "publish pushed something"
