"""The Runtime API endpoint of one `provided*` instance: runs inside its sandbox, owns the control socket (fd 3).

Started by the server as

    python3.N -I -S -u shim.py <frames.py> <runtime_api.py> <control fd> <host:port> <peer check 0|1> <bootstrap>...

It listens on TCP, starts the function's `bootstrap` (the first candidate that exists) with Lambda's environment
plus `AWS_LAMBDA_RUNTIME_API`, and translates: the first `GET .../invocation/next` ends init (READY frame); each
INVOKE frame answers the parked `/next`; `POST .../response` → RESULT, `POST .../error` → ERROR, `POST
.../init/error` → INIT_ERROR. When the bootstrap exits, the shim exits the same way (the server sees the instance
die: Runtime.ExitError). When the server closes the control socket, the shim exits 0 (the sandbox's pid 1 then
takes every other process down).

With `peer check` on (a sandbox with the host's network), a connection is served only when its client socket is
held by a process of this sandbox: the private /proc lists only the sandbox's processes, so the client's socket
inode (from /proc/net/tcp) must be among their fds; anything else is closed unanswered.

The bootstrap's stdout/stderr are the instance's output pipe, shared with the shim: the shim cannot flush the
bootstrap's own buffers before it sends a result, so a runtime that buffers its output may see lines attributed
after END (Lambda has the same property: runtimes flush before posting).

stdlib only; python3.9+ (pidfd_open). Loads the frame codec and the Runtime API module by path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import selectors
import signal
import socket
import sys
from types import ModuleType
from typing import Any

ST_RDONLY = 1


def _load(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _log(message: str) -> None:
    os.write(2, f"nimbus runtime api: {message}\n".encode())


def _tcp_inode(peer: tuple[str, int], local: tuple[str, int]) -> str | None:
    """The inode of the client socket (`peer` → `local`) in /proc/net/tcp, or None."""
    want_local = f"{_hex_addr(peer)}"
    want_remote = f"{_hex_addr(local)}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if len(fields) > 9 and fields[1] == want_local and fields[2] == want_remote:
                    return fields[9]
    except OSError:
        return None
    return None


def _hex_addr(addr: tuple[str, int]) -> str:
    packed = socket.inet_aton(addr[0])
    return f"{int.from_bytes(packed, sys.byteorder):08X}:{addr[1]:04X}"


def _held_here(inode: str, me: int) -> bool:
    """Whether a process visible in our (private) /proc holds socket `inode`."""
    target = f"socket:[{inode}]"
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        fd_dir = f"/proc/{name}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return True
            except OSError:
                continue
    return False


class Conn:
    def __init__(self, sock: socket.socket, api: Any) -> None:
        self.sock = sock
        self.parser = api.RequestParser()
        self.parked: Any = None  # the /next request waiting on this connection


class Shim:
    def __init__(self, frames: Any, api: Any, control_fd: int, listen: str, peer_check: bool) -> None:
        self.frames = frames
        self.api = api
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, control_fd)
        self.control.set_inheritable(False)
        self.decoder = frames.FrameDecoder(max_body=frames.DEFAULT_MAX_BODY)
        host, _, port = listen.rpartition(":")
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, int(port)))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()
        self.peer_check = peer_check
        self.state = api.RuntimeState()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.control, selectors.EVENT_READ, "control")
        self.sel.register(self.listener, selectors.EVENT_READ, "listen")
        self.parked: Conn | None = None
        self.child = 0
        self.pidfd = -1
        self.me = os.getpid()

    # -- the bootstrap ---------------------------------------------------------------------------------------------

    def start(self, candidates: list[str]) -> str | None:
        """Start the bootstrap; returns an init error message when there is none to start."""
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None:
            return "Couldn't find valid bootstrap(s): [{}]".format(" ".join(candidates))
        if not os.access(path, os.X_OK):
            return f"Couldn't execute bootstrap {path}: permission denied (the file must be executable)"
        env = dict(os.environ)
        env["AWS_LAMBDA_RUNTIME_API"] = f"{self.address[0]}:{self.address[1]}"
        try:
            self.child = os.posix_spawn(path, [path], env, setsigdef=(signal.SIGPIPE,))
        except OSError as exc:
            return f"Couldn't execute bootstrap {path}: {exc.strerror}"
        self.pidfd = os.pidfd_open(self.child)
        self.sel.register(self.pidfd, selectors.EVENT_READ, "child")
        return None

    def exit_like_child(self) -> None:
        _, status = os.waitpid(self.child, 0)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(self.me, sig)
            os._exit(128 + sig)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)

    # -- frames ----------------------------------------------------------------------------------------------------

    def send_frame(self, kind: str, body: bytes = b"", header: dict[str, Any] | None = None) -> None:
        if kind in (self.frames.RESULT, self.frames.ERROR):
            header = dict(header or {}, max_rss_kb=self._max_rss_kb())
        self.control.sendall(self.frames.encode(kind, header, body))

    def _max_rss_kb(self) -> int:
        try:
            with open(f"/proc/{self.child}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def on_control(self) -> None:
        try:
            data = self.control.recv(1 << 18)
        except OSError:
            data = b""
        if not data:  # the server is done with this instance
            os._exit(0)
        for frame in self.decoder.feed(data):
            if frame.kind != self.frames.INVOKE:
                _log(f"unexpected frame {frame.kind!r}")
                os._exit(70)
            self.deliver(self.state.take_event(frame))

    def deliver(self, frame: Any) -> None:
        if frame is None:
            return
        conn, self.parked = self.parked, None
        assert conn is not None
        request, conn.parked = conn.parked, None
        rid = frame.header.get("request_id", "")
        self.state.delivered(rid)
        headers = self.api.next_headers(frame.header)
        self.send(conn, self.api.render(200, frame.body, headers, request.keep_alive), request.keep_alive)

    # -- HTTP ------------------------------------------------------------------------------------------------------

    def on_accept(self) -> None:
        try:
            sock, peer = self.listener.accept()
        except OSError:
            return
        if self.peer_check:
            inode = _tcp_inode(peer, self.address)
            if inode is None or not _held_here(inode, self.me):
                _log(f"refused a connection from {peer[0]}:{peer[1]}: not a process of this sandbox")
                sock.close()
                return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(True)
        conn = Conn(sock, self.api)
        self.sel.register(sock, selectors.EVENT_READ, conn)

    def on_readable(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(1 << 18)
        except OSError:
            data = b""
        if not data:
            self.close(conn)
            return
        try:
            requests = conn.parser.feed(data)
        except self.api.HttpError as err:
            self.send(conn, self.api.render_error(err, keep_alive=False), keep_alive=False)
            return
        for request in requests:
            if not self.handle(conn, request):
                return

    def handle(self, conn: Conn, request: Any) -> bool:
        """Answer one request; False when the connection is gone (closed, or parked on /next)."""
        api = self.api
        keep = request.keep_alive
        try:
            route = api.route(request.method, request.path)
            if route.kind == api.NEXT:
                if self.state.on_next():
                    ro = bool(os.statvfs("/var/task").f_flag & ST_RDONLY) if os.path.isdir("/var/task") else False
                    self.send_frame(self.frames.READY, header={"task_root_read_only": ro})
                conn.parked = request
                self.parked = conn
                self.deliver(self.state.take_event())
                return False
            if route.kind == api.INIT_ERROR:
                self.state.on_init_error()
                body = api.function_error(request.body, request.headers.get("lambda-runtime-function-error-type"))
                self.send_frame(self.frames.INIT_ERROR, body)
                return self.send(conn, api.render_accepted(keep), keep)
            self.state.on_result(route.request_id)
            if request.oversize:
                err = api.too_large()
                self.send_frame(
                    self.frames.ERROR,
                    api.error_body(
                        "Function.ResponseSizeTooLarge",
                        f"Response payload size exceeded maximum allowed payload size ({api.MAX_PAYLOAD_BYTES} "
                        "bytes).",
                    ),
                )
                return self.send(conn, api.render_error(err, keep), keep)
            if route.kind == api.RESPONSE:
                self.send_frame(self.frames.RESULT, request.body)
            else:
                error_type = request.headers.get("lambda-runtime-function-error-type")
                self.send_frame(self.frames.ERROR, api.function_error(request.body, error_type))
            return self.send(conn, api.render_accepted(keep), keep)
        except api.HttpError as err:
            return self.send(conn, api.render_error(err, keep), keep)

    def send(self, conn: Conn, data: bytes, keep_alive: bool) -> bool:
        try:
            conn.sock.sendall(data)
        except OSError:
            self.close(conn)
            return False
        if not keep_alive:
            self.close(conn)
            return False
        return True

    def close(self, conn: Conn) -> None:
        if self.parked is conn:
            self.parked = None
            self.state.next_abandoned()
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn.sock)
        conn.sock.close()

    # -- loop ------------------------------------------------------------------------------------------------------

    def run(self) -> None:
        while True:
            for key, _ in self.sel.select():
                what = key.data
                if what == "control":
                    self.on_control()
                elif what == "listen":
                    self.on_accept()
                elif what == "child":
                    self.exit_like_child()
                else:
                    self.on_readable(what)


def main() -> None:
    frames_path, api_path, control_fd, listen, peer_check = sys.argv[1:6]
    candidates = sys.argv[6:]
    frames = _load("nimbus_frames", frames_path)
    api = _load("nimbus_runtime_api", api_path)
    shim = Shim(frames, api, int(control_fd), listen, peer_check == "1")
    problem = shim.start(candidates)
    if problem is not None:
        _log(problem)
        body = api.error_body("Runtime.InvalidEntrypoint", problem)
        shim.send_frame(frames.INIT_ERROR, body)
        shim.control.recv(1)  # wait for the server to stop us
        os._exit(1)
    shim.run()


if __name__ == "__main__":
    main()
