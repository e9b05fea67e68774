"""deploy/: the example a user copies must stay a valid config and start the roles that exist."""

from __future__ import annotations

from pathlib import Path

import yaml

from bots.runtime.config import parse_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_distributed_example_config_is_valid():
    text = (DEPLOY / "config.distributed.yaml").read_text()
    config = parse_config(text, env={"TELEGRAM_TOKEN": "1:x", "PGPASSWORD": "secret"})
    assert config.distributed.redis_url == "redis://redis:6379/0"
    assert config.retrieval.chroma_url == "http://chroma:8000"
    assert config.database.url is not None and config.database.url.startswith("postgresql+psycopg://")


def test_the_compose_file_runs_an_ingress_and_workers_on_the_servers_it_declares():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "chroma", "ingress", "worker"} <= set(services)
    assert services["ingress"]["command"] == ["run", "--role", "ingress"]
    assert services["worker"]["command"] == ["run", "--role", "worker"]
    for unit, role in (("liveroom-ingress.service", "ingress"), ("liveroom-worker@.service", "worker")):
        assert f"run --role {role}" in (DEPLOY / "systemd" / unit).read_text()
