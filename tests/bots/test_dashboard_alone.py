"""`liveroom dashboard` as moderators and services run it: over the recorded rooms with no adapter,
or beside a console whose input has ended (issue 18), and its config errors in the words of `liveroom check`.

Real processes: what is under test is how the process lives and ends (signals, end of input).
"""

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cli import ROOT, liveroom  # noqa: E402  (the real-process helper: config.yaml beside the data dir)

from bots.cli.main import cli  # noqa: E402

PASSWORD = "correct horse 18"


def write_config(tmp_path: Path, *, console: bool, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"adapters:\n  console:\n    enabled: {str(console).lower()}\n"
                    f"knowledge:\n  path: {ROOT / 'knowledge'}\nretrieval:\n  embedder: hashing\n"
                    f"dashboard:\n  port: 0\n  password: ${{LIVEROOM_DASHBOARD_PASSWORD}}\n{extra}")
    return path


def wait_for_line(path: Path, pattern: str, proc: subprocess.Popen, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text())
        if found:
            return found
        assert proc.poll() is None, f"exited with {proc.returncode}: {path.read_text()}"
        time.sleep(0.1)
    pytest.fail(f"{pattern!r} not in {path.read_text()!r}")


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as response:  # noqa: S310 - loopback
        return response.status == 200


@pytest.mark.integration
@pytest.mark.parametrize("console", [False, True], ids=["no-adapter", "console-input-ended"])
def test_the_dashboard_serves_until_a_stop_signal_without_rooms_or_after_the_console_input_ends(
        tmp_path, monkeypatch, console):
    monkeypatch.setenv("LIVEROOM_DASHBOARD_PASSWORD", PASSWORD)
    write_config(tmp_path, console=console)
    stderr = tmp_path / "stderr.txt"
    proc = liveroom("dashboard", data_dir=tmp_path / "d", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=stderr.open("w"))
    try:
        url = wait_for_line(stderr, r"dashboard at (http://127\.0\.0\.1:\d+)", proc).group(1)
        if console:  # /dev/null: the console's input ends at once, and only its room closes
            wait_for_line(stderr, r"console.*closed.*dashboard keeps serving", proc)
        time.sleep(0.5)
        assert proc.poll() is None and healthy(url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr.read_text()


def test_without_a_password_the_dashboard_says_which_key_and_what_to_do_in_plain_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIVEROOM_DASHBOARD_PASSWORD", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text("adapters:\n  console:\n    enabled: false\ndashboard:\n  port: 0\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(tmp_path / "d"), "dashboard"])
    assert result.exit_code == 2, result.output
    assert f"{config}:4: dashboard: the dashboard needs a password" in result.output
    assert "liveroom dashboard hash-password" in result.output
    for internals in ("validation error", "pydantic", "input_value", "type=", "DashboardSettings"):
        assert internals not in result.output


def test_config_errors_never_repeat_the_values_they_refuse(tmp_path, monkeypatch):
    """A value may come from an environment variable holding a secret: the error names the key, not it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVEROOM_DASHBOARD_PASSWORD", "hunter2-secret")
    config = tmp_path / "config.yaml"
    config.write_text("dashboard:\n  port: ${LIVEROOM_DASHBOARD_PASSWORD}\nmoderation: 5\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(tmp_path / "d"), "check"])
    assert result.exit_code == 2
    assert f"{config}:2: dashboard.port: Input should be a valid integer" in result.output
    assert f"{config}:3: moderation: should be a section of keys" in result.output
    assert "hunter2" not in result.output and "ModerationSettings" not in result.output
