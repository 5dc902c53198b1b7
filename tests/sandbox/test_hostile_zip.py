"""Hostile zips through the API (boto3 against a real `nimbus serve`), and code collection while the server runs.

Issue 10 item 1: a chain of symbolic links, each harmless when written, climbed out of the unpack folder and let a
later entry write any host file as root, through CreateFunction, UpdateFunctionCode and PublishLayerVersion. Item
8b: a zip whose data fails its CRC check answered 500. Item 9: replaced or deleted code stayed on disk until the
next start. Each attack below must be refused with Lambda's invalid-zip error and write nothing outside.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import stat
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, make_zip, serving
from sandbox.zip_attacks import build, chain, corrupt, file, levels_to_root, link, relative_to_level

INVALID = "Could not unzip uploaded file. Please check your file, then try to upload again."
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
HANDLER = "def handler(event, context):\n    return 'victim'\n"
UPLOADS = ["create", "update", "layer"]


def sha_hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


@pytest.fixture
def upload(lam: Any, fn_name: str) -> Iterator[Callable[[str, bytes], ClientError]]:
    """Send a zip one of three ways and return the error it must get: Lambda's invalid-zip error, a 400."""
    cleanup: list[Callable[[], Any]] = []

    def send(how: str, data: bytes) -> ClientError:
        name = f"{fn_name[:50]}-{how}"
        if how == "update":
            lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": make_zip({"app.py": HANDLER})})  # fmt: skip
            cleanup.append(lambda: lam.delete_function(FunctionName=name))
            before = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
        calls: dict[str, Callable[[], Any]] = {
            "create": lambda: lam.create_function(
                FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": data}
            ),
            "update": lambda: lam.update_function_code(FunctionName=name, ZipFile=data),
            "layer": lambda: lam.publish_layer_version(LayerName=name, Content={"ZipFile": data}),
        }
        with pytest.raises(ClientError) as info:
            calls[how]()
        if how == "update":
            assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == before
        error = info.value.response["Error"]
        assert (error["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "InvalidParameterValueException", 400), error  # fmt: skip
        assert error["Message"].startswith(INVALID), error
        return info.value

    yield send
    for undo in cleanup:
        with contextlib.suppress(ClientError):
            undo()


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A folder outside the data dir holding a root-owned 0400 file; checked unchanged after each attack."""
    where = Path("/tmp") / f"nimbus-hostile-{uuid.uuid4().hex[:8]}"
    where.mkdir()
    secret = where / "secret"
    secret.write_text("original\n")
    secret.chmod(0o400)
    yield where
    secret.chmod(0o600)
    for p in where.iterdir():
        p.unlink()
    where.rmdir()


def check_untouched(outside: Path, server: Server) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "original\n"
    assert stat.S_IMODE((outside / "secret").stat().st_mode) == 0o400
    assert not [p for p in (server.data_dir / "code").iterdir() if p.name.startswith(".")]  # no partial unpack


@pytest.mark.parametrize("how", UPLOADS)
@pytest.mark.parametrize("where", ["root", "ten-levels"])
def test_link_chain_to_the_host_writes_nothing(
    upload: Callable[[str, bytes], ClientError], server: Server, outside: Path, how: str, where: str
) -> None:
    """Up to `/` (then down to a folder in /tmp), or 10 levels up: a new file and a root-owned 0400 file."""
    code = server.data_dir / "code"
    levels = levels_to_root(code) if where == "root" else 10
    payloads = [relative_to_level(code, levels, outside / name) for name in ("created", "secret")]
    upload(
        how, build([file("app.py", HANDLER.encode()), *chain(levels), *(file(f"up/{p}", b"PWNED\n") for p in payloads)])
    )
    check_untouched(outside, server)


@pytest.mark.parametrize("how", UPLOADS)
def test_link_chain_into_the_data_dir_writes_nothing(
    upload: Callable[[str, bytes], ClientError], server: Server, outside: Path, how: str
) -> None:
    name = f"pwned-{uuid.uuid4().hex[:8]}"
    upload(how, build([*chain(2), file(f"up/{name}", b"PWNED\n"), file("up/nimbus.db", b"PWNED\n")]))
    assert not (server.data_dir / name).exists()
    assert (server.data_dir / "nimbus.db").read_bytes()[:16] == b"SQLite format 3\x00"
    check_untouched(outside, server)


@pytest.mark.parametrize("how", UPLOADS)
def test_link_chain_into_another_functions_code_writes_nothing(
    upload: Callable[[str, bytes], ClientError], create_function: Callable[..., Any], lam: Any, server: Server,
    outside: Path, fn_name: str, how: str,
) -> None:  # fmt: skip
    victim = fn_name[:50] + "-victim"
    tree = server.data_dir / "code" / sha_hex(create_function(victim, {"app.py": HANDLER})["CodeSha256"])
    upload(how, build([*chain(1), file(f"up/{tree.name}/app.py", b"PWNED = 1\n"),
                       file(f"up/{tree.name}/extra.py", b"PWNED = 1\n")]))  # fmt: skip
    assert sorted(p.name for p in tree.iterdir()) == ["app.py"]
    assert (tree / "app.py").read_text() == HANDLER
    check_untouched(outside, server)


@pytest.mark.parametrize("how", UPLOADS)
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_data_failing_its_crc_is_an_invalid_zip_not_a_500(
    upload: Callable[[str, bytes], ClientError], how: str, compression: int
) -> None:
    assert "is corrupt" in upload(how, corrupt(compression)).response["Error"]["Message"]


@pytest.mark.parametrize(
    "kind", [stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK], ids=["chr", "blk", "fifo", "sock"]
)
def test_device_fifo_and_socket_entries_are_an_invalid_zip(
    upload: Callable[[str, bytes], ClientError], kind: int
) -> None:
    entry = zipfile.ZipInfo("app.py")
    entry.create_system = 3
    entry.external_attr = (kind | 0o666) << 16
    error = upload("create", build([(entry, b"")]))
    assert "not a regular file" in error.response["Error"]["Message"]


def test_an_entry_inside_a_link_is_an_invalid_zip(upload: Callable[[str, bytes], ClientError]) -> None:
    """Even a link that stays inside: nothing is ever written through one."""
    data = build([file("app.py", HANDLER.encode()), file("lib/x.py", b""), link("alias", "lib"), file("alias/y", b"")])
    assert "inside a symbolic link" in upload("layer", data).response["Error"]["Message"]


def test_entry_count_at_the_limit_and_one_past(
    upload: Callable[[str, bytes], ClientError], lam: Any, fn_name: str
) -> None:
    names = [f"f{i}" for i in range(20_000)]
    layer = lam.publish_layer_version(LayerName=fn_name[:60], Content={"ZipFile": build([file(n, b"") for n in names])})
    lam.delete_layer_version(LayerName=fn_name[:60], VersionNumber=layer["Version"])
    error = upload("layer", build([file(n, b"") for n in [*names, "one-more"]]))
    assert "at most 20000 entries" in error.response["Error"]["Message"]


# -- code collection while the server runs ------------------------------------------------------------------------

WAITER = (
    "import os, socket\n"
    "def handler(event, context):\n"
    "    if 'port' in event:  # hold the instance busy until the test says go\n"
    "        with socket.create_connection(('127.0.0.1', event['port'])) as s:\n"
    "            s.recv(16)\n"
    "    return open(os.path.join(os.path.dirname(__file__), 'data.txt')).read()\n"
)


@pytest.fixture(scope="module")
def gc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "nimbus-gc", "--code-gc-interval", "1")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout} s for {what}"
        time.sleep(0.1)


def test_replaced_and_deleted_code_is_collected_while_running_never_under_an_instance(gc_server: Server) -> None:
    lam = gc_server.client("lambda")
    code = gc_server.data_dir / "code"

    def tree(b64: str) -> Path:
        return code / sha_hex(b64)

    def collected(b64: str) -> bool:
        return not tree(b64).exists() and not (gc_server.data_dir / "blobs" / f"{sha_hex(b64)}.zip").exists()

    v1_zip = make_zip({"app.py": WAITER, "data.txt": "v1"})
    v1 = lam.create_function(
        FunctionName="gc", Runtime="python3.11", Role=ROLE, Handler="app.handler", Timeout=120, Code={"ZipFile": v1_zip}
    )["CodeSha256"]
    assert tree(v1).is_dir()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(60)
        result: list[Any] = []
        busy = threading.Thread(target=lambda: result.append(lam.invoke(
            FunctionName="gc", Payload=b'{"port": %d}' % listener.getsockname()[1])["Payload"].read()))  # fmt: skip
        busy.start()
        conn, _ = listener.accept()  # the instance is inside the handler, running from v1's tree
        with conn:
            v2 = lam.update_function_code(FunctionName="gc", ZipFile=make_zip({"app.py": WAITER, "data.txt": "v2"}))
            # proof that sweeps ran while the instance was busy: a dry-run upload (never referenced) is collected
            dry_zip = make_zip({"app.py": WAITER, "data.txt": "dry"})
            dry = lam.update_function_code(FunctionName="gc", DryRun=True, ZipFile=dry_zip)["CodeSha256"]
            wait_for(lambda: collected(dry), "the dry-run upload to be collected")
            assert tree(v1).is_dir(), "collected while an instance still ran from it"
            conn.sendall(b"go")
        busy.join(120)
    assert result == [b'"v1"']  # the busy invocation read its own code to the end
    wait_for(lambda: collected(v1), "the replaced code to be collected")
    assert tree(v2["CodeSha256"]).is_dir()
    assert lam.invoke(FunctionName="gc", Payload=b"{}")["Payload"].read() == b'"v2"'
    lam.delete_function(FunctionName="gc")
    wait_for(lambda: collected(v2["CodeSha256"]), "a deleted function's code to be collected")


def test_deleted_layer_code_is_collected_once_no_function_attaches_it(gc_server: Server) -> None:
    lam = gc_server.client("lambda")
    code = gc_server.data_dir / "code"
    alone = lam.publish_layer_version(LayerName="gc-layer", Content={"ZipFile": make_zip({"python/a.py": "A = 1\n"})})
    assert (code / sha_hex(alone["Content"]["CodeSha256"])).is_dir()
    lam.delete_layer_version(LayerName="gc-layer", VersionNumber=alone["Version"])
    wait_for(lambda: not (code / sha_hex(alone["Content"]["CodeSha256"])).exists(), "a deleted layer's code to go")

    used = lam.publish_layer_version(LayerName="gc-layer", Content={"ZipFile": make_zip({"python/b.py": "B = 2\n"})})
    used_tree = code / sha_hex(used["Content"]["CodeSha256"])
    user_zip = make_zip({"app.py": "import b\ndef handler(e, c):\n    return b.B\n"})
    lam.create_function(
        FunctionName="gc-user", Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Layers=[used["LayerVersionArn"]], Code={"ZipFile": user_zip},
    )  # fmt: skip
    lam.delete_layer_version(LayerName="gc-layer", VersionNumber=used["Version"])
    dry = lam.update_function_code(FunctionName="gc-user", DryRun=True, ZipFile=make_zip({"app.py": "# dry\n"}))
    wait_for(lambda: not (code / sha_hex(dry["CodeSha256"])).exists(), "two sweeps (a dry-run upload collected)")
    assert used_tree.is_dir(), "a deleted layer version a function still attaches was collected"
    assert lam.invoke(FunctionName="gc-user", Payload=b"{}")["Payload"].read() == b"2"
    lam.delete_function(FunctionName="gc-user")
    wait_for(lambda: not used_tree.exists(), "the deleted layer's code to go with its last function")
