"""Serve with waitress until SIGTERM/SIGINT, then stop without dropping requests.

waitress's ``run()`` only returns on an exception, which abandons the requests
in progress, so the event loop runs here, in phases:

1. serve until the first stop signal;
2. drain for ``drain_seconds``: /health answers 503 so that the load balancer
   takes the replica out of rotation, requests are still served, and each
   connection is closed (``Connection: close``) with the response that leaves
   it nothing else to answer, so that keep-alive clients reconnect elsewhere;
   a second signal ends the drain early;
3. close the listening socket, then finish every request already read, queued
   or being written, closing connections as they become idle;
4. ``shutdown_timeout`` seconds after the first signal, drop what is left.
"""

from __future__ import annotations

import logging
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import WSGITask

log = logging.getLogger("accountservice")

# Longest wait for the event loop while finishing: workers wake it up when a
# response is ready, this only bounds the delay of a missed wake-up.
FINISH_POLL_SECONDS = 0.1

SocketMap = dict[int, Any]


class StopSignals:
    """Counts SIGTERM/SIGINT; the handler only counts, the event loop acts."""

    def __init__(self) -> None:
        self.count = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1

    def install(self) -> None:
        # PID 1 ignores signals whose action is the default one, so SIGTERM
        # needs a handler even to stop at all.
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)


def _unread_input(channel: HTTPChannel) -> bool:
    """Whether the client sent bytes that the channel has not read yet."""
    try:
        return bool(channel.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # nothing to read (BlockingIOError), or the socket is gone
        return False


def _has_work(channel: HTTPChannel) -> bool:
    """Requests queued or running, a request partly read, output not sent yet,
    or input not read yet."""
    return bool(
        channel.requests or channel.request is not None or channel.total_outbufs_len
    ) or _unread_input(channel)


class _CloseWhenDoneTask(WSGITask):
    """Adds ``Connection: close`` to the response that leaves its connection
    with nothing else to answer: pipelined requests that have already arrived
    are answered first instead of being cut off."""

    def build_response_header(self) -> bytes:
        channel = self.channel
        # channel.requests[0] is this task's request until the task ends.
        if len(channel.requests) <= 1 and channel.request is None and not _unread_input(channel):
            self.set_close_on_finish()
        return super().build_response_header()


class _Channel(HTTPChannel):
    # Replaced by _CloseWhenDoneTask when the drain starts: a class attribute,
    # so that serving a request checks no flag.
    task_class: type[WSGITask] = WSGITask


class _SignalWakeup(wasyncore.dispatcher):
    """Wakes the event loop when a signal arrives: Python restarts poll() after
    a handler that does not raise, which would delay the drain by up to the
    loop timeout."""

    def __init__(self, socket_map: SocketMap) -> None:
        reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        super().__init__(reader, map=socket_map)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        self.recv(512)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        self._writer.close()
        super().close()


def _channels(socket_map: SocketMap) -> list[HTTPChannel]:
    return [obj for obj in socket_map.values() if isinstance(obj, HTTPChannel)]


def _accept_backlog(listener: BaseWSGIServer) -> None:
    """Accept the connections the kernel has already established: closing the
    listening socket would reset them, and their clients may have sent a request.
    At most one backlog's worth, so that a flood of connections cannot delay the stop."""
    for _ in range(listener.adj.backlog):
        before = len(listener.active_channels)
        listener.handle_accept()  # accepts one, or nothing when none is waiting
        if len(listener.active_channels) == before:
            return


def _finish(
    socket_map: SocketMap, poll: Callable[[float, SocketMap], None], deadline: float
) -> int:
    """Run the event loop until every connection is closed or the deadline has
    passed; return how many connections still had work."""
    while True:
        for channel in _channels(socket_map):
            if not _has_work(channel):
                channel.handle_close()
        left = deadline - time.monotonic()
        remaining = len(_channels(socket_map))
        if not remaining or left <= 0:
            return remaining
        poll(min(FINISH_POLL_SECONDS, left), socket_map)


def serve(
    server: Any,
    signals: StopSignals,
    draining: threading.Event,
    drain_seconds: int,
    shutdown_timeout: int,
) -> None:
    """Serve until a stop signal, then drain and stop within ``shutdown_timeout``.

    ``server`` is what ``waitress.server.create_server`` returned; ``draining``
    is set when the drain starts.
    """
    # One listening socket gives a TcpWSGIServer, several a MultiSocketServer.
    socket_map: SocketMap = server.map if hasattr(server, "map") else server._map
    listeners = [obj for obj in socket_map.values() if isinstance(obj, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = _Channel
    adj = server.adj
    poll = wasyncore.poll2 if adj.asyncore_use_poll and hasattr(select, "poll") else wasyncore.poll
    loop_timeout: float = adj.asyncore_loop_timeout
    _SignalWakeup(socket_map)
    deadline: float | None = None
    try:
        while not signals.count:
            poll(loop_timeout, socket_map)

        started = time.monotonic()
        deadline = started + shutdown_timeout
        drain_end = started + drain_seconds
        log.info("Draining for %d s: /health answers 503, requests are still served", drain_seconds)
        draining.set()
        _Channel.task_class = _CloseWhenDoneTask
        while signals.count < 2 and (left := drain_end - time.monotonic()) > 0:
            poll(min(loop_timeout, left), socket_map)

        for listener in listeners:
            _accept_backlog(listener)
            # The dispatcher's close, not the server's: that one also closes
            # the trigger that workers pull when a response is ready.
            wasyncore.dispatcher.close(listener)
        log.info(
            "Stopped accepting connections; finishing %d connection(s)",
            len(_channels(socket_map)),
        )
        dropped = _finish(socket_map, poll, deadline)
        if dropped:
            log.warning(
                "Shutdown timeout (%d s): dropping %d connection(s) with requests in progress",
                shutdown_timeout,
                dropped,
            )
        else:
            log.info("All requests answered")
    finally:
        _Channel.task_class = WSGITask
        for channel in _channels(socket_map):
            channel.handle_close()
        # Threads still running a request past the deadline are daemons: they
        # do not keep the process alive.
        left = shutdown_timeout if deadline is None else deadline - time.monotonic()
        server.task_dispatcher.shutdown(timeout=max(left, 0.1))
        wasyncore.close_all(socket_map)
