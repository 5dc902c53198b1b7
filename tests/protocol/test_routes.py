"""HTTP API route matching: API Gateway's priority rules (its "Routing API requests" example first), ANY against
a method, greedy variables, `$default`, decoding, trailing slashes, stage selection, and bad route keys."""

from __future__ import annotations

import pytest

from nimbus.protocol.routes import RouteTable, parse_route_key, select_stage


def table(*keys: str) -> RouteTable[str]:
    return RouteTable((key, key) for key in keys)


def served(t: RouteTable[str], method: str, path: str) -> str | None:
    m = t.match(method, path)
    return None if m is None else m.value


def hit(t: RouteTable[str], method: str, path: str) -> tuple[str, dict[str, str]] | None:
    m = t.match(method, path)
    return None if m is None else (m.value, m.path_parameters)


def test_the_api_gateway_guide_example() -> None:
    """API Gateway's guide: full match, then parameters, then greedy, then $default; method routes before ANY."""
    t = table("GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default")
    assert served(t, "GET", "/pets/dog/1") == "GET /pets/dog/1"
    assert served(t, "GET", "/pets/dog/2") == "GET /pets/dog/{id}"
    assert served(t, "GET", "/pets/cat/1") == "GET /pets/{proxy+}"
    assert served(t, "POST", "/pets/dog/1") == "ANY /{proxy+}"
    assert served(t, "GET", "/") == "$default"


def test_literal_earlier_wins_among_parameters() -> None:
    t = table("GET /{kind}/list", "GET /items/{id}", "GET /items/list", "GET /{a}/{b}")
    assert served(t, "GET", "/items/list") == "GET /items/list"
    assert served(t, "GET", "/items/7") == "GET /items/{id}"
    assert served(t, "GET", "/users/list") == "GET /{kind}/list"
    assert served(t, "GET", "/users/7") == "GET /{a}/{b}"


def test_method_before_any_on_the_same_path_and_path_before_method() -> None:
    t = table("ANY /items/{id}", "GET /items/{id}", "GET /{proxy+}")
    assert served(t, "GET", "/items/1") == "GET /items/{id}"
    assert served(t, "DELETE", "/items/1") == "ANY /items/{id}"
    # a full (non-greedy) match with ANY beats a greedy match with the method
    assert served(t, "GET", "/items/1/parts") == "GET /{proxy+}"
    assert served(t, "POST", "/other") is None


def test_full_match_with_parameters_beats_greedy_literal_prefix() -> None:
    t = table("GET /pets/{proxy+}", "GET /{a}/{b}")
    assert served(t, "GET", "/pets/cat") == "GET /{a}/{b}"
    assert served(t, "GET", "/pets/cat/1") == "GET /pets/{proxy+}"


def test_greedy_longest_prefix_first_and_rest_of_path() -> None:
    t = table("ANY /{proxy+}", "GET /a/{proxy+}", "GET /a/b/{rest+}", "GET /a/{x}/{tail+}")
    assert hit(t, "GET", "/a/b/c/d") == ("GET /a/b/{rest+}", {"rest": "c/d"})
    assert hit(t, "GET", "/a/z/c") == ("GET /a/{x}/{tail+}", {"x": "z", "tail": "c"})
    assert hit(t, "GET", "/a/z") == ("GET /a/{proxy+}", {"proxy": "z"})
    assert hit(t, "PUT", "/a/z/") == ("ANY /{proxy+}", {"proxy": "a/z/"})


def test_greedy_does_not_serve_the_root_nor_an_empty_rest() -> None:
    t = table("ANY /{proxy+}", "GET /items/{proxy+}")
    assert served(t, "GET", "/") is None
    assert served(t, "GET", "/items/") == "ANY /{proxy+}"
    t = table("ANY /{proxy+}", "ANY /")
    assert served(t, "GET", "/") == "ANY /"


def test_default_route_and_resource() -> None:
    t = table("$default", "GET /items/{id}")
    m = t.match("PATCH", "/anything/at/all")
    assert m is not None
    assert (m.resource, m.route.key, m.path_parameters) == ("$default", "$default", {})
    m = t.match("GET", "/items/9")
    assert m is not None
    assert (m.resource, m.route.key) == ("/items/{id}", "GET /items/{id}")
    assert table("GET /x").match("GET", "/y") is None


def test_parameters_are_percent_decoded_per_segment() -> None:
    t = table("GET /items/{id}", "GET /files/{path+}")
    assert hit(t, "GET", "/items/a%2Fb%20c+d") == ("GET /items/{id}", {"id": "a/b c+d"})
    assert hit(t, "GET", "/files/dir%20one/f%C3%A9.txt") == ("GET /files/{path+}", {"path": "dir one/fé.txt"})


def test_literal_segments_compare_decoded() -> None:
    t = table("GET /caf\u00e9/menu")
    assert served(t, "GET", "/caf%C3%A9/menu") == "GET /caf\u00e9/menu"


def test_trailing_slash_is_significant() -> None:
    t = table("GET /items", "GET /items/{id}")
    assert served(t, "GET", "/items") == "GET /items"
    assert served(t, "GET", "/items/") is None
    assert served(t, "GET", "/items/1/") is None
    assert served(t, "GET", "/items//") is None


def test_root_route() -> None:
    t = table("GET /", "GET /{x}")
    assert served(t, "GET", "/") == "GET /"
    assert served(t, "GET", "") == "GET /"
    assert served(t, "GET", "/a") == "GET /{x}"


def test_methods_are_exact() -> None:
    t = table("GET /a")
    assert served(t, "HEAD", "/a") is None
    assert served(t, "get", "/a") is None


@pytest.mark.parametrize(
    "key",
    ["GET", "FETCH /a", "GET a", "GET /a/", "GET //a", "GET /a/{b+}/c", "GET /a{b}", "GET /{}", "GET /{a}/{a}",
     "get /a", "GET /a b", "$DEFAULT", "GET /{a b}"],
)  # fmt: skip
def test_bad_route_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="Invalid route key"):
        parse_route_key(key)


def test_parse_route_key_parts() -> None:
    k = parse_route_key("ANY /{proxy+}")
    assert (k.method, k.path, k.greedy) == ("ANY", "/{proxy+}", True)
    k = parse_route_key("GET /a/{b}/c")
    assert (k.method, k.path, k.greedy) == ("GET", "/a/{b}/c", False)
    assert parse_route_key("$default").method is None


def test_stage_selection() -> None:
    assert select_stage("/prod/items/1", ["$default", "prod"]) == ("prod", "/items/1")
    assert select_stage("/prod", ["prod"]) == ("prod", "/")
    assert select_stage("/prod/", ["prod"]) == ("prod", "/")
    assert select_stage("/production/x", ["prod", "$default"]) == ("$default", "/production/x")
    assert select_stage("/items/1", ["$default"]) == ("$default", "/items/1")
    assert select_stage("/items/1", ["prod"]) is None
    assert select_stage("/", ["prod"]) is None
    assert select_stage("/$default/x", ["$default"]) == ("$default", "/$default/x")
