"""A ``StreamServer`` (gevent's ``baseserver.py`` and ``server.py``): accept
connections and run ``handle(socket, address)`` for each in a task of its own.

    def echo(sock, address):
        sock.sendall(sock.recv(1024))

    server = StreamServer(("127.0.0.1", 0), echo)
    server.start()                      # accepting, in the background
    ...                                 # connect to server.address
    server.stop()

gevent accepts from an io watcher's callback, in the hub (``BaseServer._do_read``);
ours accepts in a task that loops on ``accept()``: the same waits, easier to follow.
"""


class StreamServer:
    runtime = None  # the Runtime this class was bound to
    backlog = 128  # gevent's default listen() backlog
    stop_timeout = 1  # gevent's default: seconds stop() gives the handlers

    def __init__(self, listener, handle):
        self.listener = listener  # a listening socket, or the (host, port) to bind
        self.handle = handle  # called as handle(socket, address) for each connection
        self.socket = None  # the listening socket, once started
        self._acceptor = None  # the task that accepts, while started
        self._handlers = set()  # the tasks running handle(), until they end

    @property
    def address(self):
        """Where it listens; port 0 is replaced by the port the OS chose."""
        return self.socket.getsockname() if self.socket is not None else self.listener

    @property
    def started(self):
        return self._acceptor is not None

    def start(self):
        """Listen, if given an address, and begin to accept in the background."""
        if self.socket is None:
            self.socket = self._listen() if isinstance(self.listener, tuple) else self.listener
        self._acceptor = self.runtime.spawn(self._accept_loop)

    def serve_forever(self):
        """Start and wait until stopped."""
        if not self.started:
            self.start()
        self._acceptor.join()

    def stop(self, timeout=None):
        """Stop accepting, close the listener, give the handlers ``timeout`` seconds
        to finish and kill those that have not."""
        if self._acceptor is not None:
            self._acceptor.kill()
            self._acceptor = None
        if self.socket is not None:
            self.socket.close()
        timeout = self.stop_timeout if timeout is None else timeout
        self.runtime.joinall(list(self._handlers), timeout=timeout)
        for task in list(self._handlers):
            task.kill()

    def _listen(self):
        sock = self.runtime.socket.socket()
        sock.setsockopt(self.runtime.socket.SOL_SOCKET, self.runtime.socket.SO_REUSEADDR, 1)
        sock.bind(self.listener)
        sock.listen(self.backlog)
        return sock

    def _accept_loop(self):
        while True:
            client, address = self.socket.accept()
            task = self.runtime.spawn(self._handle, client, address)
            self._handlers.add(task)
            task.rawlink(self._handlers.discard)

    def _handle(self, client, address):
        """Run the handler; the connection is closed when it returns or raises."""
        try:
            self.handle(client, address)
        finally:
            client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
