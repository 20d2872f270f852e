# Read by Cython beside waiter.py when setup.py compiles it (see socket.pxd): the
# Waiter becomes an extension type, as gevent's _waiter.pxd makes its own. A subclass
# in Python still works (queue.py's _ItemWaiter): it gets a __dict__ of its own.

cdef object _EMPTY  # a C global: compared by address, never looked up

cdef class Waiter:
    cdef public object hub
    cdef public object greenlet
    cdef public object value
    cdef public object _exception

    cdef _delivered(self)
    cdef _check_in_hub(self)

cdef class MultipleWaiter(Waiter):
    cdef public list _values
