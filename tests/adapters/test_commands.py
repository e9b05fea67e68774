import pytest

from adapters.commands import (
    ArgumentError,
    CommandSpec,
    Param,
    bind_arguments,
    bind_options,
    parse_command,
)
from adapters.model import Role


@pytest.mark.parametrize("text,expected", [
    ("/help", ("help", "")),
    ("/Pin  blender-x  ", ("pin", "blender-x")),
    ("/ask how much is it?", ("ask", "how much is it?")),
    ("/ask@liveroom price?", ("ask", "price?")),
    ("/ask@otherbot price?", None),
    ("hello /help", None),
    ("/", None),
    ("/ 5", None),
    ("/123", None),
])
def test_parse_command(text, expected):
    assert parse_command(text, bot_name="liveroom") == expected


SPEC = CommandSpec(
    name="schedule",
    description="d",
    params=(
        Param("what", choices=("live", "promo")),
        Param("count", type="int"),
        Param("loud", type="bool", required=False, default=False),
    ),
    role=Role.HOST,
)


def test_bind_typed_arguments():
    assert bind_arguments(SPEC, "live 3 yes") == {"what": "live", "count": 3, "loud": True}
    assert bind_arguments(SPEC, "promo 2") == {"what": "promo", "count": 2, "loud": False}


@pytest.mark.parametrize("args,message", [
    ("", "missing <what>"),
    ("live", "missing <count>"),
    ("live three", "count must be a whole number"),
    ("show 3", "what must be one of: live, promo"),
    ("live 3 maybe", "loud must be yes or no"),
    ("live 3 yes extra", "too many arguments"),
])
def test_bad_arguments_say_what_is_wrong(args, message):
    with pytest.raises(ArgumentError, match=message):
        bind_arguments(SPEC, args)


def test_rest_parameter_takes_the_line_verbatim():
    spec = CommandSpec("topic", "d", params=(Param("n", type="int"), Param("text", rest=True)))
    assert bind_arguments(spec, '2 "frozen" fruit,  这个能用吗？') == {
        "n": 2, "text": '"frozen" fruit,  这个能用吗？'}
    with pytest.raises(ArgumentError, match="missing <text...>"):
        bind_arguments(spec, "2")


def test_quoted_argument_holds_spaces():
    spec = CommandSpec("who", "d", params=(Param("viewer"), Param("n", type="int", required=False)))
    assert bind_arguments(spec, '"Mary Ann" 5') == {"viewer": "Mary Ann", "n": 5}


def test_spec_validation():
    with pytest.raises(ValueError, match="lower-case"):
        CommandSpec("Bad-Name", "d")
    with pytest.raises(ValueError, match="only the last"):
        CommandSpec("x", "d", params=(Param("a", rest=True), Param("b")))
    with pytest.raises(ValueError, match="required 'b' after an optional"):
        CommandSpec("x", "d", params=(Param("a", required=False), Param("b")))
    with pytest.raises(ValueError, match="type must be"):
        Param("a", type="list")
    assert SPEC.usage == "/schedule <what> <count> [loud]"


def test_bind_platform_options():
    assert bind_options(SPEC, {"what": "live", "count": "4"}) == {"what": "live", "count": 4, "loud": False}
    with pytest.raises(ArgumentError, match="unknown option"):
        bind_options(SPEC, {"what": "live", "count": 1, "colour": "red"})
    with pytest.raises(ArgumentError, match="missing <count>"):
        bind_options(SPEC, {"what": "live"})
