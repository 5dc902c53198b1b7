"""Bad input: every limit is checked AT the limit (accepted) and just PAST it (named error + status, never 500)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import ECHO, ROLE, err, expect_error, invoke_json, make_zip, raw_client, wait_active
from versions_support import zeros_zip as padded_zip

PARAM_ERRORS = ("InvalidParameterValueException", "ValidationException")
ZIP_50MB = 52_428_800
UNZIPPED_250MB = 262_144_000
PAYLOAD_6MB = 6_291_456

LENGTH_HANDLER = "def handler(event, context):\n    return len(event) if isinstance(event, str) else -1\n"


@pytest.fixture
def raw(server: Any) -> Any:
    return raw_client(server)


@pytest.fixture
def make_fn(raw: Any) -> Iterator[Callable[..., dict[str, Any]]]:
    """CreateFunction through a client without client-side validation; deletes whatever it created."""
    created: list[str] = []

    def _make(name: str, zip_bytes: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("Runtime", "python3.11")
        kwargs.setdefault("Role", ROLE)
        kwargs.setdefault("Handler", "app.handler")
        created.append(name)
        resp = raw.create_function(FunctionName=name, Code={"ZipFile": zip_bytes or make_zip({"app.py": ECHO})},
                                   **kwargs)
        return resp  # type: ignore[no-any-return]

    yield _make
    for name in created:
        with contextlib.suppress(ClientError):  # not created (refused), or not even addressable
            raw.delete_function(FunctionName=name)


def stored_zip(total_size: int) -> bytes:
    """An incompressible ZIP_STORED archive of exactly `total_size` bytes."""
    def build(n: int, content: bytes | None = None) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("app.py", ECHO)
            zf.writestr("blob.bin", content if content is not None else b"\0" * n)
        return buf.getvalue()

    overhead = len(build(0))
    data = build(0, os.urandom(total_size - overhead))
    assert len(data) == total_size
    return data


def zeros_zip(unzipped_total: int) -> bytes:
    """A tiny deflated zip (app.py plus zeros) that unpacks to exactly `unzipped_total` bytes."""
    return padded_zip(unzipped_total, {"app.py": ECHO})


# ----------------------------------------------------------------------------------------------- names


def test_function_name_64_chars_ok(make_fn: Any, raw: Any) -> None:
    name = "n" * 54 + uuid.uuid4().hex[:10]
    assert len(name) == 64
    assert make_fn(name)["FunctionName"] == name
    assert raw.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


def test_function_name_65_chars_refused(make_fn: Any) -> None:
    name = "n" * 55 + uuid.uuid4().hex[:10]
    assert len(name) == 65
    expect_error(make_fn, PARAM_ERRORS, 400, name)


@pytest.mark.parametrize("name", ["bad name", "bad.name", "bad$name", "bäd", "bad:name:x:y", ""],
                         ids=["space", "dot", "dollar", "non-ascii", "colons", "empty"])
def test_function_name_invalid_chars(make_fn: Any, name: str) -> None:
    expect_error(make_fn, PARAM_ERRORS, 400, name)


def test_function_name_valid_chars(make_fn: Any) -> None:
    name = f"Ab_-9_{uuid.uuid4().hex[:8]}"
    assert make_fn(name)["FunctionName"] == name


# ----------------------------------------------------------------------------------------------- memory / timeout


@pytest.mark.parametrize("memory", [128, 10240])
def test_memory_at_limits_ok(make_fn: Any, fn_name: str, memory: int) -> None:
    assert make_fn(fn_name, MemorySize=memory)["MemorySize"] == memory


@pytest.mark.parametrize("memory", [127, 10241, 0, -1])
def test_memory_past_limits_refused(make_fn: Any, fn_name: str, memory: int) -> None:
    expect_error(make_fn, PARAM_ERRORS, 400, fn_name, MemorySize=memory)


@pytest.mark.parametrize("timeout", [1, 900])
def test_timeout_at_limits_ok(make_fn: Any, fn_name: str, timeout: int) -> None:
    assert make_fn(fn_name, Timeout=timeout)["Timeout"] == timeout


@pytest.mark.parametrize("timeout", [0, 901])
def test_timeout_past_limits_refused(make_fn: Any, fn_name: str, timeout: int) -> None:
    expect_error(make_fn, PARAM_ERRORS, 400, fn_name, Timeout=timeout)


def test_update_configuration_limits(make_fn: Any, raw: Any, fn_name: str) -> None:
    make_fn(fn_name)
    assert raw.update_function_configuration(FunctionName=fn_name, MemorySize=10240)["MemorySize"] == 10240
    assert raw.update_function_configuration(FunctionName=fn_name, Timeout=900)["Timeout"] == 900
    for kwargs in ({"MemorySize": 10241}, {"MemorySize": 127}, {"Timeout": 901}, {"Timeout": 0},
                   {"EphemeralStorage": {"Size": 511}}, {"EphemeralStorage": {"Size": 10241}}):
        expect_error(raw.update_function_configuration, PARAM_ERRORS, 400, FunctionName=fn_name, **kwargs)
    cfg = raw.get_function_configuration(FunctionName=fn_name)
    assert (cfg["MemorySize"], cfg["Timeout"], cfg["EphemeralStorage"]["Size"]) == (10240, 900, 512)


# ----------------------------------------------------------------------------------------------- environment


def test_environment_4kb_ok(make_fn: Any, raw: Any, fn_name: str) -> None:
    # exactly 4096 bytes whichever way it is measured: as compact JSON (what AWS measures) or as keys+values
    variables = {"BIG": "v" * (4096 - len('{"BIG":""}'))}
    assert len(json.dumps(variables, separators=(",", ":"))) == 4096
    make_fn(fn_name, Handler="app.handler", Environment={"Variables": variables},
            zip_bytes=make_zip({"app.py": "import os\ndef handler(e, c):\n    return len(os.environ['BIG'])\n"}))
    wait_active(raw, fn_name)
    assert invoke_json(raw, fn_name)[1] == len(variables["BIG"])


def test_environment_over_4kb_refused(make_fn: Any, fn_name: str) -> None:
    variables = {"BIG": "v" * (4097 - 3)}  # keys + values alone already exceed 4 KB
    e = expect_error(make_fn, "InvalidParameterValueException", 400, fn_name, Environment={"Variables": variables})
    assert "4" in e.response["Error"]["Message"]


def test_environment_over_4kb_refused_on_update(make_fn: Any, raw: Any, fn_name: str) -> None:
    make_fn(fn_name, Environment={"Variables": {"KEY_A": "1"}})
    variables = {f"K{i}": "x" * 100 for i in range(45)}  # 45 * 102 = 4590 bytes
    expect_error(raw.update_function_configuration, "InvalidParameterValueException", 400,
                 FunctionName=fn_name, Environment={"Variables": variables})
    assert raw.get_function_configuration(FunctionName=fn_name)["Environment"]["Variables"] == {"KEY_A": "1"}


@pytest.mark.parametrize("key", ["1BAD", "BAD-KEY", "A", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME"])
def test_environment_invalid_or_reserved_keys(make_fn: Any, fn_name: str, key: str) -> None:
    expect_error(make_fn, PARAM_ERRORS, 400, fn_name, Environment={"Variables": {key: "x"}})


# ----------------------------------------------------------------------------------------------- code size


@pytest.fixture(scope="module")
def zip_at_50mb() -> bytes:
    return stored_zip(ZIP_50MB)


def test_zip_exactly_50mb_ok(make_fn: Any, raw: Any, fn_name: str, zip_at_50mb: bytes) -> None:
    resp = make_fn(fn_name, zip_at_50mb)
    assert resp["CodeSize"] == ZIP_50MB
    wait_active(raw, fn_name)
    assert invoke_json(raw, fn_name, {"big": True})[1] == {"big": True}


def test_zip_over_50mb_refused(make_fn: Any, fn_name: str, zip_at_50mb: bytes) -> None:
    # same archive plus one byte of archive comment: 52,428,801 bytes, still a valid zip
    over = zip_at_50mb[:-2] + (1).to_bytes(2, "little") + b"!"
    assert len(over) == ZIP_50MB + 1
    assert zipfile.ZipFile(io.BytesIO(over)).comment == b"!"
    expect_error(make_fn, ("InvalidParameterValueException", "RequestEntityTooLargeException"), (400, 413),
                 fn_name, over)


def test_update_code_over_50mb_refused(make_fn: Any, raw: Any, fn_name: str, zip_at_50mb: bytes) -> None:
    created = make_fn(fn_name)
    over = zip_at_50mb[:-2] + (1).to_bytes(2, "little") + b"!"
    expect_error(raw.update_function_code, ("InvalidParameterValueException", "RequestEntityTooLargeException"),
                 (400, 413), FunctionName=fn_name, ZipFile=over)
    assert raw.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == created["CodeSha256"]


def test_unzipped_exactly_250mb_ok(make_fn: Any, raw: Any, fn_name: str) -> None:
    make_fn(fn_name, zeros_zip(UNZIPPED_250MB))
    wait_active(raw, fn_name, timeout=60)
    assert invoke_json(raw, fn_name, [1])[1] == [1]


def test_unzipped_over_250mb_refused(make_fn: Any, fn_name: str) -> None:
    e = expect_error(make_fn, "InvalidParameterValueException", 400, fn_name, zeros_zip(UNZIPPED_250MB + 1))
    assert "262144000" in e.response["Error"]["Message"] or "250" in e.response["Error"]["Message"]


# ----------------------------------------------------------------------------------------------- zip content


def test_not_a_zip_refused(make_fn: Any, fn_name: str) -> None:
    expect_error(make_fn, "InvalidParameterValueException", 400, fn_name, b"this is not a zip file at all")


def test_truncated_zip_refused(make_fn: Any, fn_name: str) -> None:
    good = make_zip({"app.py": ECHO, "other.py": "x = 1\n" * 1000})
    expect_error(make_fn, "InvalidParameterValueException", 400, fn_name, good[: len(good) // 2])


def test_update_code_not_a_zip_refused(make_fn: Any, raw: Any, fn_name: str) -> None:
    make_fn(fn_name)
    expect_error(raw.update_function_code, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 ZipFile=b"PK\x03\x04garbage")
    assert invoke_json(raw, fn_name, {"still": "works"})[1] == {"still": "works"}


def zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", ECHO)
        for info, content in entries:
            zf.writestr(info, content)
    return buf.getvalue()


def test_zip_slip_parent_path_refused(make_fn: Any, fn_name: str, server: Any) -> None:
    marker = f"evil-{uuid.uuid4().hex}.py"
    deep = "../" * 30 + "tmp/" + marker
    for name in (f"../{marker}", f"../../{marker}", deep, f"sub/../../{marker}"):
        expect_error(make_fn, "InvalidParameterValueException", 400, fn_name, zip_with([(name, b"EVIL = 1\n")]))
    assert not Path("/tmp", marker).exists()
    assert not list(server.data_dir.parent.rglob(marker)), "zip entry escaped"


def test_zip_absolute_path_refused(make_fn: Any, fn_name: str, tmp_path: Path) -> None:
    target = tmp_path / f"evil-{uuid.uuid4().hex}.py"
    expect_error(make_fn, "InvalidParameterValueException", 400, fn_name,
                 zip_with([(zipfile.ZipInfo(str(target)), b"EVIL = 1\n")]))
    assert not target.exists()


def test_zip_symlink_pointing_outside_refused(make_fn: Any, fn_name: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = zipfile.ZipInfo("link")
    link.external_attr = 0o120777 << 16
    link.create_system = 3
    expect_error(make_fn, "InvalidParameterValueException", 400, fn_name,
                 zip_with([(link, str(outside).encode()), ("link/evil.py", b"EVIL = 1\n")]))
    assert not (outside / "evil.py").exists()
    assert list(outside.iterdir()) == []

    link2 = zipfile.ZipInfo("secret_link")
    link2.external_attr = 0o120777 << 16
    link2.create_system = 3
    expect_error(make_fn, "InvalidParameterValueException", 400, fn_name,
                 zip_with([(link2, b"../../../../../../../../../../etc/passwd")]))


def test_zip_symlink_inside_package_ok(make_fn: Any, raw: Any, fn_name: str) -> None:
    """The accepted counterpart: a relative symlink that stays inside the package (common in real packages)."""
    link = zipfile.ZipInfo("lib/current.txt")
    link.external_attr = 0o120777 << 16
    link.create_system = 3
    code = "import os\ndef handler(e, c):\n    p = os.path.join(os.path.dirname(__file__), 'lib', 'current.txt')\n" \
           "    return [open(p).read(), os.path.islink(p)]\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", code)
        zf.writestr("lib/real-1.0.txt", "real content")
        zf.writestr(link, b"real-1.0.txt")
    make_fn(fn_name, buf.getvalue())
    resp, out = invoke_json(raw, fn_name)
    assert "FunctionError" not in resp, out
    assert out == ["real content", True]


# ----------------------------------------------------------------------------------------------- conflicts / missing


def test_duplicate_create_conflict(make_fn: Any, raw: Any, fn_name: str) -> None:
    first = make_fn(fn_name)
    expect_error(make_fn, "ResourceConflictException", 409, fn_name, make_zip({"app.py": "x = 2\n"}))
    assert raw.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == first["CodeSha256"]


def test_concurrent_duplicate_create_one_wins(raw: Any, fn_name: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    zips = [make_zip({"app.py": ECHO + f"# {i}\n"}) for i in range(6)]

    def attempt(z: bytes) -> tuple[str, int]:
        try:
            resp = raw.create_function(FunctionName=fn_name, Runtime="python3.11", Role=ROLE,
                                       Handler="app.handler", Code={"ZipFile": z})
            return resp["CodeSha256"], resp["ResponseMetadata"]["HTTPStatusCode"]
        except ClientError as e:
            return err(e)

    try:
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(attempt, zips))
        winners = [r for r in results if r[1] == 201]
        assert len(winners) == 1, results
        assert sorted(r for r in results if r[1] != 201) == [("ResourceConflictException", 409)] * 5, results
        assert raw.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == winners[0][0]
    finally:
        with contextlib.suppress(ClientError):
            raw.delete_function(FunctionName=fn_name)


def test_concurrent_creates_and_deletes(raw: Any, fn_name: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = [f"{fn_name[:55]}-{i}" for i in range(8)]
    zip_bytes = make_zip({"app.py": ECHO})

    def create(name: str) -> int:
        resp = raw.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                   Code={"ZipFile": zip_bytes})
        return resp["ResponseMetadata"]["HTTPStatusCode"]  # type: ignore[no-any-return]

    def delete(name: str) -> int:
        return raw.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"]  # type: ignore[no-any-return]

    try:
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(create, names)) == [201] * 8
            outs = list(pool.map(lambda n: invoke_json(raw, n, {"n": n})[1], names))
            assert outs == [{"n": n} for n in names]
            assert set(pool.map(delete, names)) <= {200, 204}
        listed = {f["FunctionName"] for f in raw.get_paginator("list_functions").paginate()
                  .build_full_result()["Functions"]}
        assert not listed & set(names)
    finally:
        for name in names:
            with contextlib.suppress(ClientError):
                raw.delete_function(FunctionName=name)


def test_unknown_function_everywhere(raw: Any) -> None:
    expect_error(raw.delete_function, "ResourceNotFoundException", 404, FunctionName="t-never-created-" + "x" * 8)
    name = "t-does-not-exist-" + uuid.uuid4().hex[:8]
    nf = ("ResourceNotFoundException", 404)
    expect_error(raw.get_function, *nf, FunctionName=name)
    expect_error(raw.get_function_configuration, *nf, FunctionName=name)
    expect_error(raw.invoke, *nf, FunctionName=name, Payload=b"{}")
    expect_error(raw.update_function_code, *nf, FunctionName=name, ZipFile=make_zip({"app.py": ECHO}))
    expect_error(raw.update_function_configuration, *nf, FunctionName=name, Timeout=10)
    expect_error(raw.delete_function, *nf, FunctionName=name)
    e = expect_error(raw.get_function, *nf, FunctionName=name)
    assert name in e.response["Error"]["Message"]


@pytest.mark.parametrize("runtime", ["python2.7", "cobol", "nodejs99.x"], ids=["python27", "cobol", "nodejs99"])
def test_unsupported_runtime(make_fn: Any, fn_name: str, runtime: str) -> None:
    e = expect_error(make_fn, "InvalidParameterValueException", 400, fn_name, Runtime=runtime)
    message = e.response["Error"]["Message"]
    assert runtime in message or "runtime" in message.lower(), message
    assert "python3.11" in message, f"message should name the available runtimes: {message}"


def test_unsupported_runtime_on_update(make_fn: Any, raw: Any, fn_name: str) -> None:
    make_fn(fn_name)
    expect_error(raw.update_function_configuration, "InvalidParameterValueException", 400,
                 FunctionName=fn_name, Runtime="cobol")
    assert raw.get_function_configuration(FunctionName=fn_name)["Runtime"] == "python3.11"


def test_missing_required_fields(raw: Any, fn_name: str) -> None:
    expect_error(raw.create_function, PARAM_ERRORS, 400, FunctionName=fn_name, Role=ROLE,
                 Runtime="python3.11", Handler="app.handler", Code={})
    expect_error(raw.create_function, PARAM_ERRORS, 400, FunctionName=fn_name, Runtime="python3.11",
                 Handler="app.handler", Code={"ZipFile": make_zip({"app.py": ECHO})})


# ----------------------------------------------------------------------------------------------- invoke payload


@pytest.fixture(scope="module")
def length_fn(server: Any) -> Iterator[str]:
    raw = raw_client(server)
    name = "t-limits-payload-length"
    raw.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": LENGTH_HANDLER})}, MemorySize=512)
    yield name
    raw.delete_function(FunctionName=name)


def test_invoke_payload_exactly_6mb_ok(raw: Any, length_fn: str) -> None:
    body = b'"' + b"a" * (PAYLOAD_6MB - 2) + b'"'
    assert len(body) == PAYLOAD_6MB
    resp = raw.invoke(FunctionName=length_fn, Payload=body)
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read()) == PAYLOAD_6MB - 2


def test_invoke_payload_over_6mb_refused(raw: Any, length_fn: str) -> None:
    body = b'"' + b"a" * (PAYLOAD_6MB - 1) + b'"'
    assert len(body) == PAYLOAD_6MB + 1
    expect_error(raw.invoke, "RequestEntityTooLargeException", 413, FunctionName=length_fn, Payload=body)


def test_invoke_non_json_payload(raw: Any, length_fn: str) -> None:
    expect_error(raw.invoke, "InvalidRequestContentException", 400, FunctionName=length_fn, Payload=b"not json")


def test_client_context_too_large(raw: Any, length_fn: str) -> None:
    import base64

    blob = base64.b64encode(json.dumps({"custom": {"x": "y" * 4000}}).encode()).decode()
    assert len(blob) > 3583
    with pytest.raises(ClientError) as info:  # any named 4xx is fine; never a 500 or a hang
        raw.invoke(FunctionName=length_fn, Payload=b"{}", ClientContext=blob)
    code, status = err(info.value)
    assert 400 <= status < 500, (code, status)
    assert code


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/2015-03-31/functions", b"not json"),
        ("POST", "/2015-03-31/functions", b"[]"),
        ("POST", "/2015-03-31/functions", b'{"FunctionName": 5, "Code": "x"}'),
        ("POST", "/2015-03-31/functions", b'{"FunctionName": "t-malformed", "Role": "r", "Runtime": "python3.11",'
                                          b' "Handler": "a.b", "Code": {"ZipFile": "%%%not-base64%%%"}}'),
        ("POST", "/2015-03-31/functions", b'{"FunctionName": "t-malformed", "Role": "r", "Runtime": "python3.11",'
                                          b' "Handler": "a.b", "MemorySize": "lots", "Code": {"ZipFile": "UEsFBg=="}}'),
        ("PUT", "/2015-03-31/functions/t-limits-payload-length/configuration", b'{"Timeout": "soon"}'),
        ("PUT", "/2015-03-31/functions/t-limits-payload-length/configuration", b'{"Environment": []}'),
        ("PUT", "/2015-03-31/functions/t-limits-payload-length/code", b'{"ZipFile": 12}'),
        ("GET", "/2015-03-31/functions?MaxItems=abc", b""),
        ("GET", "/2015-03-31/functions?Marker=%00garbage", b""),
        ("GET", "/2015-03-31/functions/" + "x" * 300, b""),
        ("GET", "/2015-03-31/no-such-route", b""),
        ("POST", "/2017-03-31/tags/not-an-arn", b'{"Tags": {"a": "b"}}'),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_malformed_requests_are_4xx_never_500(server: Any, length_fn: str, method: str, path: str,
                                              body: bytes) -> None:
    from e2e_support import error_code, send, signed

    headers = {"Content-Type": "application/json"} if body else {}
    status, resp_headers, resp_body = send(signed(server.endpoint + path, method, body, headers=headers))
    assert 400 <= status < 500, (status, resp_body[:300])
    assert error_code(resp_headers, resp_body), (resp_headers, resp_body[:300])
    assert raw_client(server).get_function(FunctionName=length_fn)  # still serving
