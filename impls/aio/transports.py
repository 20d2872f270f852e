"""The socket transport (asyncio's ``_SelectorSocketTransport``, ``selector_events.py``).

The hub's cooperative socket is called by a greenlet that blocks in ``recv`` until the
loop wakes it. A transport turns that around: nobody waits in it. The loop calls the
transport back when the socket is readable or writable, and the transport calls its
*protocol* back: ``connection_made``, then ``data_received`` for each chunk, then
``eof_received``, and ``connection_lost`` exactly once at the end.

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
        def data_received(self, data):
            self.transport.write(data)          # never blocks: what cannot go now is buffered

Only the loop's public API is used (``add_reader``, ``add_writer``, ``call_soon``,
``call_exception_handler``...), so the transport runs on asyncio's own loop as on ours.
"""
import asyncio
import socket
import warnings
from asyncio.log import logger
from asyncio.trsock import TransportSocket

MAX_READ = 256 * 1024  # the most one recv() asks for (asyncio's max_size)
HIGH_WATER = 64 * 1024  # buffered bytes above which the protocol is asked to pause writing
WRITES_BEFORE_WARNING = 5  # writes to a lost connection tolerated in silence (asyncio's)


class SocketTransport(asyncio.Transport):
    """A stream transport over a connected socket, driven by the loop's readers and
    writers. Its protocol is called back in this order: connection_made() once,
    data_received() (or get_buffer() and buffer_updated()) any number of times,
    eof_received() at most once, connection_lost() exactly once. No method blocks,
    and none is safe to call from another thread (use loop.call_soon_threadsafe)."""

    _sock = None  # so that __del__ works even if __init__ failed early

    def __init__(self, loop, sock, protocol, waiter=None, extra=None, server=None):
        super().__init__(extra)  # asyncio.BaseTransport keeps extra for get_extra_info()
        self._loop = loop
        self._sock = sock  # non-blocking; None once closed
        self._fd = sock.fileno()  # kept: the socket forgets it when closed
        self._protocol = protocol  # whom we call back; None once the connection is lost
        self._server = server  # the Server that accepted us, told when we end
        self._buffer = bytearray()  # what write() could not send yet
        self._paused = False  # pause_reading() was called
        self._eof = False  # write_eof() was called
        self._closing = False  # close() or abort() was called, or a fatal error came
        self._lost = False  # connection_lost() is scheduled or done
        self._writes_after_lost = 0  # write() calls since: warned about past a few
        self._protocol_paused = False  # we called pause_writing() and not yet resume_writing()
        self.set_write_buffer_limits()
        self._describe(sock)
        if server is not None:
            server._attach()
        # The protocol hears of the connection before any data, and the caller
        # (create_connection) only once the protocol has.
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(_wake_up, waiter)

    def _describe(self, sock):
        """Fill what get_extra_info() answers, and send small writes without delay."""
        self._extra["socket"] = TransportSocket(sock)  # a socket the user cannot close
        self._extra["sockname"] = _address(sock.getsockname)
        if "peername" not in self._extra:  # accept() told the Server already
            self._extra["peername"] = _address(sock.getpeername)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Nagle's algorithm holds a small write back until the last one is
            # acknowledged; a transport is written to in small pieces, so turn it off.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __repr__(self):
        state = "closed" if self._sock is None else "closing" if self._closing else "open"
        reading = "polling" if self.is_reading() else "idle"
        writing = "polling" if self._buffer else "idle"
        return (f"<{type(self).__name__} {state} fd={self._fd} read={reading} "
                f"write=<{writing}, bufsize={len(self._buffer)}>>")

    # ---- Reading: the loop calls _read_ready when the socket is readable

    def _start_reading(self):
        if self.is_reading():
            self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self):
        # A loop may still run a callback that was removed in this same iteration.
        if self._lost:
            return
        if isinstance(self._protocol, asyncio.BufferedProtocol):
            self._read_into_protocol_buffer()
        else:
            self._read_data()

    def _read_data(self):
        try:
            data = self._sock.recv(MAX_READ)
        except (BlockingIOError, InterruptedError):
            return  # readable was a false alarm: wait for the next one
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # even CancelledError: nothing may escape into the loop
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            self._eof_received()
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_into_protocol_buffer(self):
        """A BufferedProtocol lends its own memory: recv_into it, no bytes object made."""
        try:
            buffer = self._protocol.get_buffer(-1)  # -1: no size hint
            if not len(buffer):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._sock.recv_into(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not nbytes:
            self._eof_received()
            return
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _eof_received(self):
        """The peer will send no more. The protocol says whether we may still write."""
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            self._loop.remove_reader(self._fd)  # half open: a readable fd now means only EOF
        else:
            self.close()

    def pause_reading(self):
        """Stop calling data_received() until resume_reading(); the kernel buffers
        meanwhile, then the peer's sends block: flow control the other way."""
        if self.is_reading():
            self._paused = True
            self._loop.remove_reader(self._fd)

    def resume_reading(self):
        if self._paused and not self._closing:
            self._paused = False
            self._start_reading()

    def is_reading(self):
        return not self._paused and not self._closing

    # ---- Writing: send at once what the socket takes, buffer the rest

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._lost:
            # The connection is gone, or going with nothing left to send, and
            # connection_lost() tells the protocol so. The data is dropped; a protocol
            # that keeps writing has missed that, and the log says so.
            self._writes_after_lost += 1
            if self._writes_after_lost >= WRITES_BEFORE_WARNING:
                logger.warning("socket.send() raised exception.")
            return
        if not self._buffer:
            # Nothing queued before us: try to send now, as the hub's socket does.
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            data = data[sent:]
            if not data:
                return
            self._loop.add_writer(self._fd, self._write_ready)  # the rest, when writable
        self._buffer.extend(data)
        self._maybe_pause_protocol()

    def _write_ready(self):
        if self._lost:  # as in _read_ready: a removed callback may still run once
            return
        try:
            sent = self._sock.send(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal write error on socket transport")
            return
        del self._buffer[:sent]
        if not self._buffer:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._lose_connection(None)  # close() was waiting for the buffer to drain
            elif self._eof:
                self._sock.shutdown(socket.SHUT_WR)  # so was write_eof()
        # Last, as the protocol may write, close or abort from resume_writing().
        # (asyncio calls it first, and an abort there gets connection_lost() twice.)
        self._maybe_resume_protocol()

    def write_eof(self):
        """Send EOF (a FIN) once the buffer has drained; reading goes on."""
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self):
        return True

    # ---- Write flow control: tell the protocol when the buffer is too full

    def set_write_buffer_limits(self, high=None, low=None):
        """Above ``high`` buffered bytes the protocol's pause_writing() is called,
        and resume_writing() once it is back to ``low``; asyncio's defaults."""
        if high is None:
            high = HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water, self._low_water = high, low
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self):
        return (self._low_water, self._high_water)

    def get_write_buffer_size(self):
        return len(self._buffer)

    def _maybe_pause_protocol(self):
        if len(self._buffer) <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report(exc, "protocol.pause_writing() failed")

    def _maybe_resume_protocol(self):
        if not self._protocol_paused or len(self._buffer) > self._low_water:
            return
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report(exc, "protocol.resume_writing() failed")

    # ---- Closing: connection_lost() exactly once, then the socket is closed

    def is_closing(self):
        return self._closing

    def close(self):
        """Stop reading now; the buffered data is still sent, then connection_lost(None)."""
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if not self._buffer:
            self._lose_connection(None)

    def abort(self):
        """Close now: what is buffered is dropped."""
        self._force_close(None)

    def _fatal_error(self, exc, message):
        # An OSError is the network's doing (a reset, a broken pipe): the protocol
        # hears of it in connection_lost(exc), and only debug mode logs it. Anything
        # else is a bug, reported to the loop's exception handler.
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._report(exc, message)
        self._force_close(exc)

    def _force_close(self, exc):
        if self._lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._loop.remove_writer(self._fd)
        if not self._closing:
            self._closing = True
            self._loop.remove_reader(self._fd)
        self._lose_connection(exc)

    def _lose_connection(self, exc):
        # Always from a fresh callback, never in the middle of a protocol's own call.
        self._lost = True
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._sock.close()
            self._sock = None
            self._protocol = None  # the protocol holds us: break the cycle
            if self._server is not None:
                self._server._detach()
                self._server = None

    def __del__(self, _warn=warnings.warn):
        # _warn is bound at definition: at interpreter exit the module's globals
        # may already be gone when this runs.
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()

    # ---- The rest of the Transport API

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def _report(self, exc, message):
        self._loop.call_exception_handler({
            "message": message,
            "exception": exc,
            "transport": self,
            "protocol": self._protocol,
        })


def _address(getname):
    """sockname or peername, or None when the socket has none (not connected)."""
    try:
        return getname()
    except OSError:
        return None


def _wake_up(waiter):
    if not waiter.cancelled():  # the caller gave up waiting (create_connection was cancelled)
        waiter.set_result(None)
