"""The waker: a pipe the IOLoop watches, so that it can be woken from its wait.

A loop blocked in poll() only returns for an fd or its timeout. Another thread
that adds a callback, or a signal that arrives, needs an fd of its own to make
noise on: the loop registers the read end of this pipe, and ``wake()`` writes a
byte to the other end.
"""
import os


class Waker:
    """A self-pipe: ``wake()`` makes ``fileno()`` readable, ``consume()`` empties it.

        waker = Waker()
        loop.add_handler(waker.fileno(), lambda fd, events: waker.consume(), READ)
        waker.wake()  # from any thread: the loop's poll() returns
    """

    def __init__(self):
        # Both ends are close-on-exec already: os.pipe() makes them so (PEP 446).
        # Both are non-blocking, so that wake() on a full pipe and consume() on an
        # empty one return at once instead of stopping the thread.
        self._read_fd, self._write_fd = os.pipe()  # the loop polls the first
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    def fileno(self):
        """The fd to watch for READ."""
        return self._read_fd

    def write_fileno(self):
        """The fd that wake() writes to (and signal.set_wakeup_fd may write to)."""
        return self._write_fd

    def wake(self):
        """Make the fd readable, so that the loop's poll() returns. Safe from any
        thread, as often as wanted, and after close()."""
        try:
            os.write(self._write_fd, b"x")
        except OSError:
            pass  # the pipe is full, so the loop will wake anyway; or it is closed

    def consume(self):
        """Read all that was written, so that the fd stops being readable."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass  # empty: done

    def close(self):
        """Close both ends. A wake() after this writes to fd -1 and fails
        harmlessly, instead of writing to whatever file reuses the fd number."""
        read_fd, write_fd = self._read_fd, self._write_fd
        self._read_fd = self._write_fd = -1
        os.close(read_fd)
        os.close(write_fd)
