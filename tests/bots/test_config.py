from pathlib import Path

import pytest

from bots.runtime.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def problems(text: str, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", env or {})
    return [str(p) for p in info.value.problems]


def test_shipped_config_is_valid_and_matches_the_defaults():
    assert load_config(ROOT / "config.yaml", env={}) == Config()


def test_empty_file_means_defaults():
    assert parse_config("", env={}) == Config()
    assert parse_config("# only a comment\n", env={}) == Config()


def test_unknown_key_names_line_and_allowed_keys():
    text = "bot:\n  name: x\nadapters:\n  consle:\n    enabled: true\n"
    [p] = problems(text)
    assert p == "cfg.yaml:4: adapters.consle: unknown key (allowed: console, discord, feed, telegram)"


def test_unknown_top_level_section():
    [p] = problems("bots:\n  name: x\n")
    assert p.startswith("cfg.yaml:1: bots: unknown key (allowed: adapters, answers, audience, bot, dashboard, database,")


def test_wrong_type_and_range_name_key_and_line_but_not_the_value():
    text = "limits:\n  max_message_chars: lots\ndatabase:\n  flush_interval: 5\n"
    found = problems(text)
    assert found[0].startswith("cfg.yaml:2: limits.max_message_chars: Input should be a valid integer")
    assert "lots" not in found[0]  # a value may hold a secret (from an environment variable)
    assert found[1].startswith("cfg.yaml:4: database.flush_interval: Input should be less than or equal to 1")


def test_literal_lists_what_is_allowed():
    [p] = problems("logging:\n  level: LOUD\n")
    assert "cfg.yaml:2: logging.level:" in p and "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in p


def test_roles_must_be_qualified():
    [p] = problems("roles:\n  hosts:\n    - alice\n")
    assert p.startswith("cfg.yaml:3: roles.hosts[0]:") and "platform:user_id" in p


def test_env_substitution_and_defaults():
    text = "database:\n  url: ${DB_URL}\nbot:\n  name: ${BOT_NAME:-helper}\n"
    config = parse_config(text, env={"DB_URL": "sqlite:///x.db"})
    assert config.database.url == "sqlite:///x.db" and config.bot.name == "helper"


def test_missing_env_variable_names_it_with_key_and_line():
    [p] = problems("bot:\n  name: x\ndatabase:\n  url: ${LIVEROOM_TEST_UNSET}\n")
    assert p.startswith("cfg.yaml:4: database.url: environment variable LIVEROOM_TEST_UNSET is not set")


def test_invalid_yaml_names_the_line():
    [p] = problems("bot:\n  name: [unclosed\nlimits: {}\n")
    assert p.startswith("cfg.yaml:") and "not valid YAML" in p


def test_a_file_that_is_not_a_mapping():
    [p] = problems("- a\n- b\n")
    assert "must be a mapping of sections" in p


def test_all_problems_are_reported_at_once():
    assert len(problems("bot:\n  name: ''\nlimits:\n  max_message_chars: 1\nfoo: 1\n")) == 3


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_feed_enabled_without_a_token_names_the_variable():
    # The token written as the docs say, with the variable unset: the substitution names it.
    text = "adapters:\n  feed:\n    enabled: true\n    token: ${LIVEROOM_FEED_TOKEN}\n"
    found = problems(text)
    assert len(found) == 2 and all("LIVEROOM_FEED_TOKEN" in p for p in found)
    assert found[1].startswith("cfg.yaml:4: adapters.feed.token: environment variable LIVEROOM_FEED_TOKEN "
                               "is not set")
    # No token at all (or an empty variable): the section's own check names the variable too.
    for text, env in (("adapters:\n  feed:\n    enabled: true\n", {}),
                      ("adapters:\n  feed:\n    enabled: true\n    token: ${LIVEROOM_FEED_TOKEN}\n",
                       {"LIVEROOM_FEED_TOKEN": ""})):
        [p] = problems(text, env)
        assert p == ("cfg.yaml:1: adapters: adapters.feed is enabled but its token is empty: write "
                     "token: ${LIVEROOM_FEED_TOKEN} and set the environment variable LIVEROOM_FEED_TOKEN")


def test_feed_is_off_by_default_and_reads_its_token_from_the_environment():
    assert Config().adapters.feed.enabled is False and Config().adapters.feed.host == "127.0.0.1"
    text = "adapters:\n  feed:\n    enabled: true\n    port: 9000\n    token: ${LIVEROOM_FEED_TOKEN}\n"
    config = parse_config(text, env={"LIVEROOM_FEED_TOKEN": "s3cret"})
    feed = config.adapters.feed
    assert feed.enabled and feed.token == "s3cret" and feed.port == 9000
    assert "s3cret" not in repr(config)


def test_time_zones_and_identity_maps_are_checked_at_start_up():
    [p] = problems("schedule:\n  timezone: Mars/Olympus\n")
    assert p.startswith("cfg.yaml:2: schedule.timezone:") and "unknown time zone" in p and "Mars" not in p
    [p] = problems("schedule:\n  room_timezones:\n    telegram:-100: Asia/Shanghai\n    console:x: Nowhere\n")
    assert p.startswith("cfg.yaml:4: schedule.room_timezones.console:x: unknown time zone") and "Nowhere" not in p
    [p] = problems("audience:\n  identities:\n    telegram:1: discord:2\n    discord:2: console:3\n")
    assert "audience" in p and "itself an alias" in p
    [p] = problems("audience:\n  identities:\n    alice: discord:2\n")
    assert "platform:user_id" in p
