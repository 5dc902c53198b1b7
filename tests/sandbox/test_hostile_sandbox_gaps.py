"""Hostile-function tests for the sandbox gaps of issue 10: socket families outside the network namespace (vsock,
netlink, ...), a sandbox outliving a server killed with -9, an instance whose runtime died between invocations, and
the Node.js runtime's false "no read-only task root" warning. Each runs real functions through a real server.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import io
import json
import os
import signal
import socket
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError

from conftest import Server, child_processes, make_zip, start_server
from sandbox.support import needs_namespaces, needs_seccomp

pytestmark = needs_namespaces

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

#: the families a function may open sockets of; every other one is refused with EAFNOSUPPORT
ALLOWED = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
#: refused families by name (vsock and netlink are the ones a network namespace does not fence, or leaks through)
REFUSED = {
    "AF_VSOCK": 40,
    "AF_NETLINK": 16,
    "AF_PACKET": 17,
    "AF_KEY": 15,
    "AF_ALG": 38,
    "AF_BLUETOOTH": 31,
    "AF_TIPC": 30,
    "AF_RDS": 21,
    "AF_CAN": 29,
    "AF_QIPCRTR": 42,
    "AF_SMC": 43,
    "AF_XDP": 44,
    "AF_MCTP": 45,
}
#: AF_MAX on Linux 6.x: families 0..45
AF_MAX = 46

SOCKETS = r"""
import ctypes, json, os, socket

TYPES = (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET)

def _open(family, kind):
    try:
        socket.socket(family, kind).close()
        return 0
    except OSError as e:
        return e.errno

def _pair(family):
    try:
        for s in socket.socketpair(family, socket.SOCK_STREAM):
            s.close()
        return 0
    except OSError as e:
        return e.errno

def handler(event, context):
    if event["probe"] == "families":
        # the errno of every socket type per family: a family is open when any type opens
        return {str(f): [_open(f, kind) for kind in TYPES] + [_pair(f)] for f in event["families"]}
    if event["probe"] == "resolve":
        flags = socket.AI_ADDRCONFIG if event["addrconfig"] else 0
        infos = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM, flags=flags)
        return sorted({info[4][0] for info in infos})
    if event["probe"] == "boto3":
        import boto3
        client = boto3.client("lambda", endpoint_url=event["endpoint"], region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
        boto3.client("sts", region_name="us-east-1")  # a client of another service builds too
        return {"sees_itself": context.function_name in names}
    raise ValueError(event["probe"])
"""

#: spins until killed, after naming its process (comm) so the test finds it on the host
SPINNER_PY = r"""
import ctypes
def handler(event, context):
    ctypes.CDLL(None).prctl(15, event["marker"].encode(), 0, 0, 0)  # PR_SET_NAME
    while True:
        pass
"""
SPINNER_JS = r"""
exports.handler = async (event) => {
  process.title = event.marker; // libuv sets the thread name (comm) too
  for (;;) { /* spin */ }
};
"""

#: names its process, returns a token of this process (a new instance has a new one)
TOKEN_PY = r"""
import ctypes, uuid
TOKEN = uuid.uuid4().hex
def handler(event, context):
    ctypes.CDLL(None).prctl(15, event["marker"].encode(), 0, 0, 0)  # PR_SET_NAME
    return TOKEN
"""

NODE_PROBE = r"""
const dns = require('node:dns').promises;
exports.handler = async () => ({
  lookup: (await dns.lookup('localhost', { all: true })).map((a) => a.address).sort(),
});
"""


def invoke(lam: Any, name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return resp.get("FunctionError"), json.loads(resp["Payload"].read())


def marker() -> str:
    """A process name (comm holds 15 bytes) unique to one test run."""
    return "nb" + uuid.uuid4().hex[:13]


def processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `condition` until it is truthy (a bound on a wait, never a measurement); its value."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)
    return value


def status_field(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def start_time(pid: int) -> int | None:
    """The process's start time (field 22 of stat): tells a pid from a later process that reused it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def descendants(pid: int) -> dict[int, int | None]:
    """Every process below `pid` (children of any of its threads, recursively), with its start time."""
    found: dict[int, int | None] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError):
                    for child in (task / "children").read_text().split():
                        if int(child) not in found:
                            found[int(child)] = start_time(int(child))
                            todo.append(int(child))
    return found


def alive(pid: int, started: int | None) -> bool:
    """Whether the process is still there (not a zombie, not a later process with the same pid). A zombie left to
    this test process (a subreaper, when the in-process instance tests ran before) is reaped on the way."""
    if start_time(pid) != started:
        return False
    try:
        if status_field(pid, "State").startswith("Z"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    except (OSError, KeyError):
        return False
    return True


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is a test dependency: run `make install`"
    assert spec.origin
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def boto3_layer_zip() -> bytes:
    """boto3 as a layer, the way users ship it (botocore's data trimmed to the two services the test builds)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for module in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"):
            path = _package_dir(module)
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for f in files:
                rel = f.relative_to(path.parent)
                if "__pycache__" in rel.parts:
                    continue
                data = rel.parts[:2] == ("botocore", "data") and len(rel.parts) > 3
                if data and rel.parts[2] not in ("lambda", "sts"):
                    continue
                zf.write(f, "python/" + str(rel))
    return buf.getvalue()


@pytest.fixture(scope="module")
def prober(server: Server) -> Iterator[dict[str, str]]:
    """One socket-probing function per network mode, with boto3 as a layer."""
    lam = server.client("lambda")
    layer = lam.publish_layer_version(LayerName="boto3-gaps", Content={"ZipFile": boto3_layer_zip()},
                                      CompatibleRuntimes=["python3.11"])["LayerVersionArn"]  # fmt: skip
    names = {}
    for network in ("host", "none"):
        name = f"gaps-sockets-{network}-{uuid.uuid4().hex[:6]}"
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": SOCKETS})}, Layers=[layer], Timeout=30,
                            MemorySize=256, Tags={"nimbus:network": network})  # fmt: skip
        names[network] = name
    yield names
    for name in names.values():
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            lam.delete_function(FunctionName=name)


# -- item 5: only AF_UNIX, AF_INET and AF_INET6 ------------------------------------------------------------------


@needs_seccomp
@pytest.mark.parametrize("network", ["host", "none"])
@pytest.mark.parametrize("family", sorted(REFUSED))
def test_socket_family_is_refused(lam: Any, prober: dict[str, str], network: str, family: str) -> None:
    """socket() of the family, in every type, and socketpair(), fail with EAFNOSUPPORT: as if the kernel had no
    such family. vsock is not fenced by the network namespace, so without this `none` would reach the host."""
    err, out = invoke(lam, prober[network], {"probe": "families", "families": [REFUSED[family]]})
    assert err is None, out
    assert out[str(REFUSED[family])] == [errno.EAFNOSUPPORT] * 5, f"{family} is open: {out}"


@needs_seccomp
@pytest.mark.parametrize("network", ["host", "none"])
def test_every_family_but_unix_inet_inet6_is_refused(lam: Any, prober: dict[str, str], network: str) -> None:
    """All families the kernel knows, 0 .. AF_MAX - 1 (past it, the kernel refuses on its own)."""
    err, out = invoke(lam, prober[network], {"probe": "families", "families": list(range(AF_MAX + 1))})
    assert err is None, out
    for family in range(AF_MAX + 1):
        codes = out[str(family)]
        if family in ALLOWED.values():
            assert 0 in codes[:4], f"family {family} should open: {codes}"
            assert errno.EAFNOSUPPORT not in codes, f"family {family}: {codes}"
        else:
            assert codes == [errno.EAFNOSUPPORT] * 5, f"family {family} is open: {codes}"
    assert out[str(ALLOWED["AF_UNIX"])][4] == 0  # socketpair(AF_UNIX) still works


def test_name_resolution_and_boto3_work_without_netlink(lam: Any, server: Server, prober: dict[str, str]) -> None:
    """getaddrinfo's AI_ADDRCONFIG probe opens a netlink socket: refused, glibc assumes IPv4 and IPv6 and goes on.
    boto3 builds clients and calls the API (localhost, SigV4) from inside a host-network function."""
    for network in ("host", "none"):
        for addrconfig in (False, True):
            err, out = invoke(lam, prober[network], {"probe": "resolve", "addrconfig": addrconfig})
            assert err is None, out
            assert "127.0.0.1" in out
    endpoint = f"http://localhost:{server.port}"
    err, out = invoke(lam, prober["host"], {"probe": "boto3", "endpoint": endpoint})
    assert (err, out) == (None, {"sees_itself": True})


# -- item 9: the Node.js runtime's read-only task root -----------------------------------------------------------


def test_node_runtime_sees_its_read_only_task_root(lam: Any, server: Server, fn_name: str) -> None:
    """The sandbox's /var/task is a read-only mount of a root-owned 0555 tree: the Node runtime says so (no
    INSECURE warning), and dns.lookup still resolves without netlink."""
    from nimbus.runtimes.registry import node_binary

    node = node_binary()
    if node is None:
        pytest.skip("node is not installed")
    lam.create_function(FunctionName=fn_name, Runtime=f"nodejs{node[1]}.x", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.js": NODE_PROBE})})  # fmt: skip
    try:
        err, out = invoke(lam, fn_name, {})
        assert err is None, out
        assert "127.0.0.1" in out["lookup"]
        assert "cannot get a read-only task root" not in server.log_path.read_text()
    finally:
        lam.delete_function(FunctionName=fn_name)


# -- item 9: an instance whose control channel broke is not invoked again ----------------------------------------


def test_an_instance_whose_runtime_died_between_invokes_is_replaced(
    lam: Any, create_function: Callable[..., Any], fn_name: str
) -> None:
    """The runtime process is killed while idle. Its sandbox's init is held stopped, so the instance's process
    cannot be reaped yet: only the broken control channel says it is gone. The next invoke runs on a new instance."""
    create_function(fn_name, {"app.py": TOKEN_PY})
    name = marker()
    err, first = invoke(lam, fn_name, {"marker": name})
    assert err is None, first
    (runtime,) = processes_named(name)
    init = int(status_field(runtime, "PPid"))
    init_started = start_time(init)
    assert status_field(init, "NSpid").split()[-1] == "1"  # the sandbox's pid 1
    runtime_started = start_time(runtime)
    os.kill(init, signal.SIGSTOP)
    try:
        os.kill(runtime, signal.SIGKILL)
        # a zombie until init reaps it (never, stopped), or gone with its sandbox once the server acted on the EOF
        wait_for(lambda: not alive(runtime, runtime_started), 20, "the runtime to be dead")
        err, second = invoke(lam, fn_name, {"marker": name})
        assert err is None, second
        assert second != first  # a new instance
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(init, signal.SIGCONT)
    wait_for(lambda: not alive(init, init_started), 20, "the old sandbox to be gone")


# -- item 6: no sandbox outlives the server ----------------------------------------------------------------------


@pytest.fixture
def doomed_server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop(signal.SIGKILL)


def test_sandboxes_spares_and_zygotes_die_with_a_killed_server(doomed_server: Server) -> None:
    """kill -9 of the server while functions with a 3 s timeout spin (invoked from threads): a Python one (zygote
    fork, with spares ready beside it) and a Node.js one (spawned sandbox). Nothing of the server's is left: not
    the spinning sandboxes, not the spares, not the zygote. Before, they spun on until someone restarted the server.
    """
    from nimbus.runtimes.registry import node_binary

    lam = doomed_server.client("lambda")
    spinners: dict[str, tuple[str, str, dict[str, str | bytes]]] = {
        "spin-py": ("python3.11", "app.handler", {"app.py": SPINNER_PY})
    }
    node = node_binary()
    if node is not None:
        spinners["spin-js"] = (f"nodejs{node[1]}.x", "index.handler", {"index.js": SPINNER_JS})
    markers = {}
    calls = []
    pool = ThreadPoolExecutor(len(spinners))
    for fn, (runtime, handler, files) in spinners.items():
        lam.create_function(FunctionName=fn, Runtime=runtime, Role=ROLE, Handler=handler,
                            Code={"ZipFile": make_zip(files)}, Timeout=3)  # fmt: skip
        markers[fn] = marker()
        payload = json.dumps({"marker": markers[fn]})
        calls.append(pool.submit(doomed_server.client("lambda").invoke, FunctionName=fn, Payload=payload))
    spinning = {fn: wait_for(functools.partial(processes_named, m), 20, f"{fn} to spin") for fn, m in markers.items()}
    server_pid = doomed_server.process.pid
    (zygote,) = child_processes(server_pid, b"zygote_main.py")
    # the spinning instance and a spare (the zygote's children: their outer processes, or as real root their pid 1)
    # (forks of the zygote, or the native waiter they became: `instances/native/sandbox_wait.c`)
    outers = functools.partial(child_processes, zygote, b"zygote_main.py", b"nimbus-sandbox-wait")
    wait_for(lambda: len(outers()) >= 2, 20, "a spare beside the spinner")
    tree = descendants(server_pid)
    for pids in spinning.values():
        assert set(pids) <= set(tree), "the spinning runtime is the server's"

    doomed_server.process.kill()
    doomed_server.process.wait()
    for call in calls:  # the invokes in flight end with the connection
        with pytest.raises(BotoCoreError):
            call.result(timeout=60)
    pool.shutdown()
    wait_for(lambda: not [pid for pid, started in tree.items() if alive(pid, started)], 20,
             "every process of the killed server's to be gone")  # fmt: skip


def test_family_numbers_are_the_kernels() -> None:
    """The numbers above are the kernel's (the socket module agrees where it has them)."""
    for family, number in {**ALLOWED, **REFUSED}.items():
        if hasattr(socket, family):
            assert getattr(socket, family) == number, family
