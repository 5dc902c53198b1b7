"""The router: the first route of the method whose pattern takes the whole path, with `{Name}` segments decoded;
a path matched before is answered from a bounded cache, the same as the scan would."""

from __future__ import annotations

from nimbus.api.http import MATCH_CACHE, MATCH_CACHE_PATH, Request, Response, Router


async def _handler(req: Request) -> Response:
    return Response(200)


def _router() -> Router:
    router = Router()
    router.add("GET", "/fns/{Name}", _handler, "GetFn")
    router.add("POST", "/fns/{Name}/invocations", _handler, "Invoke")
    router.add("POST", "/fns/{Name}/{Other}", _handler, "Other")
    return router


def test_a_path_matches_alike_the_first_time_and_from_the_cache() -> None:
    router = _router()
    for _ in range(2):
        hit = router.match("POST", "/fns/my%2Dfn/invocations")
        assert hit is not None
        assert (hit[0].operation, hit[1]) == ("Invoke", {"Name": "my-fn"})
        assert router.match("GET", "/fns/my%2Dfn/invocations") is None  # another method: not that route
        assert router.match("POST", "/fns/x/y/z") is None


def test_a_caller_changing_its_params_does_not_change_the_next_match() -> None:
    router = _router()
    first = router.match("GET", "/fns/a")
    assert first is not None
    first[1]["Name"] = "changed"
    again = router.match("GET", "/fns/a")
    assert again is not None
    assert again[1] == {"Name": "a"}


def test_a_route_added_later_is_seen_by_paths_matched_before() -> None:
    router = _router()
    hit = router.match("POST", "/fns/a/invocations")
    assert hit is not None
    assert hit[0].operation == "Invoke"
    router.routes.clear()  # (the routes are read in order: a new first one must win)
    router.add("POST", "/fns/{Name}/invocations", _handler, "Replaced")
    hit = router.match("POST", "/fns/a/invocations")
    assert hit is not None
    assert hit[0].operation == "Replaced"


def test_more_paths_than_the_cache_holds_all_match() -> None:
    router = _router()
    for n in range(MATCH_CACHE + 10):
        hit = router.match("GET", f"/fns/f{n}")
        assert hit is not None
        assert hit[1] == {"Name": f"f{n}"}
        assert 0 < router.kept <= MATCH_CACHE
    assert router.match("GET", "/fns/f0") is not None


def test_a_long_path_matches_without_being_kept() -> None:
    """Routes are matched before the signature is checked: what anyone can make the router keep stays small."""
    router = _router()
    for n in range(3):
        name = f"{n}" + "x" * MATCH_CACHE_PATH
        hit = router.match("GET", f"/fns/{name}")
        assert hit is not None
        assert hit[1] == {"Name": name}
    assert router.kept == 0
    assert router.match("GET", "/fns/" + "x" * (MATCH_CACHE_PATH - len("/fns/"))) is not None  # at the limit: kept
    assert router.kept == 1
