"""adapters.discord.shard_count / shard_ids in config.yaml: checked at start-up, errors naming the key and line."""

from __future__ import annotations

import pytest

from bots.app import configured_adapters
from bots.runtime.config import ConfigError, parse_config

ENV = {"DISCORD_TOKEN": "fake-bot-token"}


def discord(lines: str) -> str:
    return "adapters:\n  discord:\n    enabled: true\n    token: ${DISCORD_TOKEN}\n" + lines


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", ENV)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("lines", "expected"), [
    ("    shard_ids: [0]\n",
     "cfg.yaml:5: adapters.discord.shard_ids: needs a number in shard_count"),
    ("    shard_count: auto\n    shard_ids: [0, 1]\n",
     "cfg.yaml:6: adapters.discord.shard_ids: needs a number in shard_count"),
    ("    shard_count: 2\n    shard_ids: [0, 2]\n",
     "cfg.yaml:6: adapters.discord.shard_ids: 2 is not one of the 2 shards (ids run from 0 to 1)"),
    ("    shard_count: 2\n    shard_ids: [-1]\n",
     "cfg.yaml:6: adapters.discord.shard_ids: -1 is not one of the 2 shards"),
    ("    shard_count: 4\n    shard_ids: [1, 3, 1]\n",
     "cfg.yaml:6: adapters.discord.shard_ids: lists shard 1 more than once"),
    ("    shard_count: 4\n    shard_ids: []\n",
     "cfg.yaml:6: adapters.discord.shard_ids: is empty: list the shards this process runs"),
    ("    shard_count: 4\n    shard_ids:\n      - 0\n      - one\n",
     "cfg.yaml:8: adapters.discord.shard_ids[1]: Input should be a valid integer"),
    ("    shard_count: 0\n", "cfg.yaml:5: adapters.discord.shard_count: must be auto"),
    ("    shard_count: Auto\n", "cfg.yaml:5: adapters.discord.shard_count: must be auto"),
    ("    shard_count: yes\n", "cfg.yaml:5: adapters.discord.shard_count: must be auto"),
])
def test_bad_sharding_names_the_key_and_its_line(lines: str, expected: str) -> None:
    [problem] = problems(discord(lines))
    assert problem.startswith(expected), problem


def test_a_bad_shard_count_is_reported_once_not_again_for_shard_ids() -> None:
    [problem] = problems(discord("    shard_count: 0\n    shard_ids: [0]\n"))
    assert "adapters.discord.shard_count" in problem


@pytest.mark.parametrize(("lines", "count", "ids", "name"), [
    ("", None, None, "discord"),
    ("    shard_count: auto\n", "auto", None, "discord"),
    ("    shard_count: 4\n", 4, None, "discord"),
    ("    shard_count: ${SHARDS}\n    shard_ids: [3, 0]\n", 4, (3, 0), "discord-shards-0-3"),
])
def test_good_sharding_reaches_the_adapter(lines: str, count: object, ids: tuple[int, ...] | None, name: str) -> None:
    """A process running some of the shards has a name of its own: its replies come back to it alone."""
    config = parse_config(discord(lines), "cfg.yaml", {**ENV, "SHARDS": "4"})
    assert (config.adapters.discord.shard_count, config.adapters.discord.shard_ids) == (count, ids)
    [adapter] = [a for a in configured_adapters(config) if a.platform == "discord"]
    assert (adapter.shard_count, adapter.shard_ids) == (count, ids)  # type: ignore[attr-defined]
    assert adapter.name == name
