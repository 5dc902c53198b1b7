"""The instance's warm path: the control channel, and the loop that serves one INVOKE frame after another.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`. Every
line here runs once per invocation, so the loop binds what it calls to locals and does nothing per invoke beyond
what the protocol needs: parse the frame in place, build the context, call the handler, send one frame back.
"""

from __future__ import annotations

import json
import mmap
import os
import resource
import select
import socket
import sys
import time

from .context import LambdaContext
from .faults import FaultException, build_fault_result, log_error, make_error, out_of_memory, to_json
from .trace_env import TraceVariable

_parse = json.JSONDecoder().decode
#: the peak RSS is the process's (the kernel reads its memory's high-water mark either way), but RUSAGE_SELF also
#: sums the CPU time of every thread, under locks: RUSAGE_THREAD reads this thread's alone
_RUSAGE = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


def _event(body):
    """The event from the INVOKE frame's body: UTF-8 parsed straight (json.loads on bytes first guesses the
    encoding), anything else as json.loads takes it, in its words when it is not JSON."""
    try:
        return _parse(body.decode("utf-8"))
    except ValueError:
        return json.loads(body)


class Channel:
    """The control socket: blocking reads of whole frames, whole-frame writes."""

    def __init__(self, codec, fd):
        self.codec = codec
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
        self.sock.set_inheritable(False)  # user subprocesses must not get the control channel
        self.decoder = codec.FrameDecoder()
        #: every read lands here first: a fresh 256 KB bytes object per read is an mmap, page faults, an mremap to
        #: shrink it and a munmap to free it (three syscalls more per invoke than the read itself). An anonymous
        #: mapping, not a bytearray: only the pages reads have written to take memory (a bytearray is zero-filled)
        self.buffer = mmap.mmap(-1, 1 << 18)
        self.view = memoryview(self.buffer)
        self.queue = []
        #: busy-poll this long before the next blocking read (the server asks for it when it is otherwise idle:
        #: the next invoke then finds this process running, not asleep on a halted vCPU)
        self.spin_ns = 0
        #: where this process waits for the next frame. Not in `recv`: a blocking read waits on the socket's one
        #: wait queue, which the kernel also wakes each time the server reads our last reply (its buffer freed,
        #: "writable again"), so the process woke, found nothing and slept again, a context switch more per
        #: invoke; a poll for input only is not woken by that
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)

    def receive(self):
        poll = self.poller.poll
        if self.spin_ns and not self.queue:
            end = time.perf_counter_ns() + self.spin_ns
            self.spin_ns = 0
            while not poll(0) and time.perf_counter_ns() < end:
                os.sched_yield()  # the server may have been woken on this CPU: let it run first
        while not self.queue:
            poll()  # until there is input (or EOF, or an error, which the read then says)
            size = self.sock.recv_into(self.buffer)
            if not size:
                return None
            # a view of what was read: the decoder copies the header and the body out of it, and nothing else
            self.queue.extend(self.decoder.feed(self.view[:size]))
        return self.queue.pop(0)

    def send(self, kind, body=b"", header=None):
        sys.stdout.flush()
        sys.stderr.flush()
        if kind in (self.codec.RESULT, self.codec.ERROR):
            # the peak RSS rides along with the result: the server reads no /proc file per invocation
            max_rss_kb = resource.getrusage(_RUSAGE).ru_maxrss
            header = {**header, "max_rss_kb": max_rss_kb} if header else {"max_rss_kb": max_rss_kb}
        self.sock.sendall(self.codec.encode(kind, header, body))

    def send_error(self, kind, error_result):
        """An ERROR or INIT_ERROR frame whose body is Lambda's error JSON."""
        self.send(kind, json.dumps(error_result).encode("utf-8"))


class InvokeLoop:
    """Serves invocations on one channel, one at a time, and knows which one is in progress.

    `request_id` is the invocation in progress ("" before the first): the log filter (context.py) stamps it on
    every record. A SnapStart restore swaps `channel` for the restored instance's own before `serve` starts.
    """

    __slots__ = ("channel", "handler", "request_id", "trace")

    def __init__(self, channel):
        self.channel = channel
        self.handler = None
        self.request_id = ""
        #: _X_AMZN_TRACE_ID, set for each invocation (see trace_env.py: not through os.environ, which leaks)
        self.trace = TraceVariable()

    def serve(self):
        """Serve INVOKE frames until the server closes the channel, then exit the process; never returns."""
        channel = self.channel
        receive = channel.receive
        handle = self.handle
        handler = self.handler
        invoke = channel.codec.INVOKE
        while True:
            frame = receive()
            if frame is None:  # the server closed the channel: stop
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            if frame.kind == invoke:
                handle(channel, handler, frame.header, frame.body)

    def handle(self, channel, handler, header, body):
        """One invocation: the handler's result, or Lambda's error for what failed, as one frame back."""
        codec = channel.codec
        request_id = header["request_id"]
        self.request_id = request_id
        trace_id = header.get("trace_id")
        if trace_id:
            self.trace.set(trace_id)
        else:
            self.trace.clear()
        context = LambdaContext(request_id, header["deadline_ms"], header["invoked_arn"], header.get("client_context"))
        channel.spin_ns = header.get("spin_us", 0) * 1000
        try:
            try:
                event = _event(body) if body else {}
            except ValueError as e:
                raise FaultException(FaultException.UNMARSHAL_ERROR, f"Unable to unmarshal input: {e}") from None
            result = handler(event, context)
            try:
                out = to_json(result)
            except (TypeError, ValueError, OverflowError, UnicodeError) as e:
                raise FaultException(FaultException.MARSHAL_ERROR, f"Unable to marshal response: {e}") from None
        except FaultException as e:
            error = make_error(e.msg, e.exception_type, e.trace, request_id)
            log_error(error)
            channel.send_error(codec.ERROR, error)
            return
        except Exception as e:
            if isinstance(e, MemoryError):
                out_of_memory()
            error = build_fault_result(sys.exc_info(), request_id)
            log_error(error)
            channel.send_error(codec.ERROR, error)
            return
        if len(out) > codec.MAX_RESPONSE_BYTES:
            too_large = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({codec.MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            channel.send_error(codec.ERROR, too_large)
            return
        channel.send(codec.RESULT, out)
