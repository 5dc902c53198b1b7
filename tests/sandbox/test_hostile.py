"""Hostile-function tests: each is a real function attacking through a real `nimbus serve`.

After every attack the platform and a bystander function keep serving, and the attacker's next invocation works.
"""

from __future__ import annotations

import errno
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server
from sandbox.attacker import ATTACKER
from sandbox.support import ISOLATION, call, needs_limits, needs_namespaces, needs_seccomp

pytestmark = needs_namespaces

BYSTANDER = "def handler(event, context):\n    return {'alive': True}\n"


@pytest.fixture
def attacker(create_function: Callable[..., Any], fn_name: str) -> Callable[..., str]:
    def make(**kwargs: Any) -> str:
        create_function(fn_name, {"app.py": ATTACKER}, **kwargs)
        return fn_name

    return make


@pytest.fixture
def bystander(create_function: Callable[..., Any], fn_name: str) -> str:
    name = (fn_name + "-by")[:64]
    create_function(name, {"app.py": BYSTANDER})
    return name


@pytest.fixture
def after_attack(lam: Any, bystander: str) -> Callable[[str], None]:
    """Check that the attacker and a bystander both serve after the attack."""

    def check(name: str) -> None:
        assert call(lam, name, {"attack": "ping"}) == (None, {"pong": True, "uid": 993})
        assert call(lam, bystander, {}) == (None, {"alive": True})

    return check


def failed(outcome: dict[str, Any]) -> bool:
    return outcome["ok"] is False


def test_cannot_read_host_secrets_data_dir_or_other_functions(
    lam: Any, server: Server, attacker: Callable[..., str], after_attack: Callable[[str], None], tmp_path: Path
) -> None:
    host_tmp_canary = tmp_path / "canary.txt"
    host_tmp_canary.write_text("host tmp secret")
    home_canary = Path.home() / f"nimbus-canary-{uuid.uuid4().hex}"  # /root, or a non-root server's home
    home_canary.write_text("home secret")
    try:
        name = attacker()
        code_dirs = sorted(str(p) for p in (server.data_dir).rglob("app.py"))
        assert code_dirs, "the other functions' code is on the host"
        paths = [
            str(server.data_dir / "nimbus.db"),
            "/etc/shadow",
            str(host_tmp_canary),
            str(home_canary),
            f"/proc/{server.process.pid}/environ",
            *code_dirs[:3],
        ]
        err, out = call(lam, name, {"attack": "read", "paths": paths})
        assert err is None
        for path in paths:
            assert failed(out[path]), f"the function read {path}: {out[path]}"
            assert out[path]["errno"] == errno.ENOENT
        err, listing = call(lam, name, {"attack": "listdir", "paths": ["/", "/root", "/home", "/tmp", "/etc"]})
        assert sorted(listing["/"]["value"]) == ["bin", "dev", "etc", "lib", "lib64", "opt", "proc", "sbin", "tmp",
                                                 "usr", "var"] or "lib" in listing["/"]["value"]  # fmt: skip
        assert failed(listing["/root"])
        assert failed(listing["/home"])
        assert listing["/tmp"]["value"] == []
        assert "shadow" not in listing["/etc"]["value"]
        assert "passwd" in listing["/etc"]["value"]
    finally:
        home_canary.unlink()
    after_attack(name)


def test_cannot_write_code_runtime_or_layers(
    lam: Any, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    name = attacker()
    paths = ["/var/task/app.py", "/var/task/new.py", "/usr/evil", "/opt/evil", "/var/lang/evil", "/etc/passwd", "/x"]
    err, out = call(lam, name, {"attack": "write", "paths": paths})
    assert err is None
    for path in paths:
        assert failed(out[path]), f"the function wrote {path}"
        assert out[path]["errno"] in (errno.EROFS, errno.EACCES)
    err, ok = call(lam, name, {"attack": "write", "paths": ["/tmp/mine"]})
    assert ok["/tmp/mine"]["ok"] is True
    after_attack(name)


def test_sees_only_its_own_processes_and_cannot_kill_outside(
    lam: Any, server: Server, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    name = attacker()
    err, pids = call(lam, name, {"attack": "processes"})
    assert err is None
    assert pids == [1, 2], "only the sandbox's init and the runtime are visible"
    err, out = call(lam, name, {"attack": "kill_all"})
    assert err is None
    if ISOLATION.use_user_namespace:
        # init runs as the runtime's own uid in the sandbox's user namespace, so kill(1) is permitted, and the
        # kernel drops it: a pid namespace's init gets no signal from inside that it has no handler for
        # (the invocation answering at all shows the sandbox, which dies with its init, still stands)
        assert out.pop("1") == {"ok": True, "value": None}
    assert all(failed(o) and o["errno"] == errno.EPERM for o in out.values()), out
    assert server.process.poll() is None
    after_attack(name)


@needs_limits
def test_memory_past_the_limit_fails_cleanly_and_the_instance_is_replaced(
    lam: Any, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    name = attacker(MemorySize=128)
    err, out = call(lam, name, {"attack": "allocate", "mb": 300})
    assert err == "Unhandled"
    assert out["errorType"] == "Runtime.OutOfMemory"
    assert out["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    err, fine = call(lam, name, {"attack": "allocate", "mb": 20})
    assert (err, fine) == (None, 20)
    after_attack(name)


def test_tmp_is_private_and_capped_at_ephemeral_storage(
    lam: Any, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    # /tmp is a tmpfs: its pages count toward memory, so the function gets room for a full 512 MB /tmp
    name = attacker(MemorySize=1024, EphemeralStorage={"Size": 512}, Timeout=30)
    err, out = call(lam, name, {"attack": "fill_tmp"})
    assert err is None, out
    assert out["errno"] == errno.ENOSPC
    assert 500 <= out["mb"] <= 512
    after_attack(name)


@needs_limits
def test_fork_bomb_fails_inside_the_sandbox(
    lam: Any, server: Server, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    name = attacker(MemorySize=1024, Timeout=30)
    err, out = call(lam, name, {"attack": "fork_bomb", "n": 3000})
    assert err is None, out  # the function's error, if any, says what ended it
    assert out["errno"] == errno.EAGAIN
    assert 900 <= out["forked"] < 1024
    assert server.process.poll() is None
    after_attack(name)


def test_no_platform_credentials_in_the_environment(
    lam: Any, server: Server, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    name = attacker()
    err, out = call(lam, name, {"attack": "environment"})
    assert err is None
    env = out["env"]
    assert not [k for k in env if k.startswith("NIMBUS")]
    # credentials: its own role session's (ASIA... with a token), never the platform's key
    creds = sorted(k for k in env if k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION")))
    assert creds == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_ACCESS_KEY_ID"] not in server.env.values()
    assert env["AWS_SECRET_ACCESS_KEY"] != "test"
    assert "HOME" not in env
    leaked = {k for k, v in server.env.items() if len(v) > 8 and v in env.values()}
    assert not leaked - {"PATH", "LANG"}, leaked
    assert failed(out["init_environ"]), "pid 1's environment (the sandbox plan) must not be readable"
    after_attack(name)


def test_network_none_has_no_network_at_all(
    lam: Any, server: Server, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    name = attacker(Tags={"nimbus:network": "none"})
    with socket.create_server(("127.0.0.1", 0)) as host_service:  # something of the host's, listening
        err, out = call(lam, name, {"attack": "connect", "port": host_service.getsockname()[1]})
    assert err is None
    assert failed(out)
    assert out["errno"] in (errno.ENETUNREACH, errno.ECONNREFUSED)
    # the one thing it reaches: the API, through its own loopback (a listener the server serves, at its port)
    assert call(lam, name, {"attack": "connect", "port": server.port}) == (None, {"ok": True, "value": "connected"})
    after_attack(name)


def test_network_host_reaches_the_host(lam: Any, server: Server, attacker: Callable[..., str]) -> None:
    name = attacker()
    err, out = call(lam, name, {"attack": "connect", "port": server.port})
    assert (err, out) == (None, {"ok": True, "value": "connected"})


@needs_seccomp
def test_dangerous_syscalls_are_refused(
    lam: Any, attacker: Callable[..., str], after_attack: Callable[[str], None]
) -> None:
    name = attacker()
    err, out = call(lam, name, {"attack": "syscalls"})
    assert err is None
    for call_name in ("mount", "unshare", "ptrace", "bpf"):
        assert out[call_name] == {"ret": -1, "errno": errno.EPERM}, (call_name, out)
    # EINVAL in a non-root server's user namespace, where uid 0 is not even mapped
    assert out["setuid0"]["errno"] == (errno.EINVAL if ISOLATION.use_user_namespace else errno.EPERM)
    assert out["chroot"]["errno"] == errno.EPERM
    after_attack(name)


def test_the_control_channel_is_not_inherited() -> None:
    """Only the runtime holds fd 3; the sandbox's init and the outer process close it (unit-level check)."""
    text = (Path(__file__).parents[2] / "src/nimbus/runtimes/python/loop.py").read_text()  # the runtime's Channel
    assert "set_inheritable(False)" in text
    assert os.get_inheritable(0) in (True, False)


def _session(env: dict[str, str]) -> tuple[str, str, str]:
    return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]


def test_cannot_read_another_functions_credentials(
    lam: Any, create_function: Callable[..., Any], fn_name: str, attacker: Callable[..., str],
    after_attack: Callable[[str], None],
) -> None:  # fmt: skip
    victim = (fn_name + "-victim")[:64]
    create_function(victim, {"app.py": ATTACKER})
    _, out = call(lam, victim, {"attack": "environment"})
    key, secret, token = _session(out["env"])  # the victim's instance stays warm while the attacker looks
    name = attacker()
    _, own = call(lam, name, {"attack": "environment"})
    needles = [key, secret, token, own["env"]["AWS_SECRET_ACCESS_KEY"]]
    err, found = call(lam, name, {"attack": "snoop", "needles": needles})
    assert err is None
    assert "3@/tmp/planted" in found  # the snoop finds what it can read: its own secret, planted
    assert not [place for place in found if not place.startswith("3@")], found
    after_attack(name)


def test_stolen_session_credentials_are_refused_without_their_token_and_after_their_instance(
    lam: Any, server: Server, create_function: Callable[..., Any], fn_name: str, attacker: Callable[..., str],
) -> None:  # fmt: skip
    """A function's credentials leak (it prints them, or its code is hostile): they are only good as a whole,
    and only while its instance lives. Expiry of a session (12 h) is tested against the key ring's clock, in
    tests/instances/test_downstream.py."""
    name = attacker()
    _, out = call(lam, name, {"attack": "environment"})
    key, secret, token = _session(out["env"])
    other = (fn_name + "-other")[:64]
    create_function(other, {"app.py": ATTACKER})
    _, other_out = call(lam, other, {"attack": "environment"})
    _, _, other_token = _session(other_out["env"])

    def answer(**kwargs: Any) -> str:
        client = server.client("lambda", access_key=kwargs.pop("key", key), secret_key=kwargs.pop("secret", secret),
                               **kwargs)  # fmt: skip
        try:
            client.list_functions(MaxItems=1)
        except ClientError as e:
            return str(e.response["Error"]["Code"])
        return "accepted"

    assert answer(aws_session_token=token) in ("accepted", "AccessDeniedException")  # whole and alive: signed in
    assert answer() == "UnrecognizedClientException"  # the key without its token
    assert answer(aws_session_token=other_token) == "UnrecognizedClientException"  # with another session's token
    assert answer(aws_session_token=token, secret="x" * 40) == "InvalidSignatureException"  # without the secret
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"NEW": "1"}})  # it retires
    deadline = time.monotonic() + 20
    while answer(aws_session_token=token) != "UnrecognizedClientException":
        assert time.monotonic() < deadline, "a retired instance's session is still accepted"
        time.sleep(0.2)
