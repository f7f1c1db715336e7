"""jobkit.py, what the setup scripts share: one boolean parser (also the config's), NAME / NAME_FILE reading,
redaction of every secret it was given, longest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_gitops.config import environ
from mlflow_gitops.scripts import jobkit


@pytest.mark.parametrize(("word", "value"), [("TRUE", True), (" yes", True), ("0", False), ("Off", False)])
def test_one_boolean_parser(word: str, value: bool) -> None:
    assert jobkit.parse_flag(word) is value
    assert environ._parse_bool is jobkit.parse_flag


def test_a_word_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(ValueError, match="expected true or false"):
        jobkit.parse_flag("maybe")


def test_a_variable_or_the_file_it_names(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\r\n")
    assert jobkit.read_variable({"A": "x"}, "A") == "x"
    assert jobkit.read_variable({"A": "  "}, "A") is None
    assert jobkit.read_variable({"A_FILE": str(secret)}, "A", file_ok=True) == "s3cr3t-value"
    assert jobkit.read_variable({"A_FILE": str(secret)}, "A") is None, "only where the script allows a file"
    with pytest.raises(jobkit.ConfigError, match="set either A or A_FILE, not both"):
        jobkit.read_variable({"A": "x", "A_FILE": str(secret)}, "A", file_ok=True)
    with pytest.raises(jobkit.ConfigError, match="A_FILE: cannot read"):
        jobkit.read_variable({"A_FILE": str(tmp_path / "absent")}, "A", file_ok=True)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(jobkit.ConfigError, match="is empty"):
        jobkit.read_variable({"A_FILE": str(tmp_path / "empty")}, "A", file_ok=True)


def test_every_line_printed_is_redacted(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobkit, "_SECRETS", [])
    jobkit.hide(["admin", "password-1", "password-12"])
    jobkit.say("login with password-12 failed")
    jobkit.warn("echo: password-1 / admin")
    out, err = capsys.readouterr()
    assert out == "login with *** failed\n"
    assert err == "echo: *** / admin\n", "a value shorter than MIN_REDACTED_LENGTH is left alone"
