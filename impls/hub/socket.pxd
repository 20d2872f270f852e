# Read by Cython beside socket.py when setup.py compiles it: an "augmenting" .pxd, the
# way gevent declares the types of its compiled hub modules (_waiter.pxd and others).
# The class becomes an extension type: its fields are C slots, read without a dict
# lookup, and its three helpers C methods, called directly. socket.py stays the source,
# and runs as it is wherever it was not compiled.

cdef class socket:
    # Public, as they are in socket.py: the stdlib's makefile() and __repr__, which the
    # class borrows, use _io_refs and _closed.
    cdef public object _sock
    cdef public object timeout
    cdef public object _io_refs
    cdef public object _closed
    cdef public object hub
    cdef public object _read_event
    cdef public object _write_event

    # Called by this class only: C methods are not seen from Python.
    cdef _wait(self, watcher)
    cdef _retry(self, watcher, flags, call, tuple args)
    cdef _send_all(self, data, flags)
