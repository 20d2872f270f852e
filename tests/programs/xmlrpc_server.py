"""An XML-RPC server with a thread per connection, and clients calling it from threads.

Plain standard library, written as if no one would ever monkey-patch it: a
``SimpleXMLRPCServer`` with ``ThreadingMixIn`` offers three functions, and
``threading.Thread`` clients, each with its own ``xmlrpc.client.ServerProxy``, call
them all at once: a sum, an echo of nested values, and one that fails, which must
reach the caller as an ``xmlrpc.client.Fault`` with its code and message.

    python xmlrpc_server.py [--clients 100] [--calls 3]

Prints one JSON line: how many clients and calls, how many answered right (the Fault
counts as right when it is the expected one), the errors, the most threads alive at
once and the seconds taken.
"""
import argparse
import json
import socketserver
import sys
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

HOST = "127.0.0.1"  # numeric: connecting needs no name lookup
TIMEOUT = 20.0  # seconds a client waits for an answer
FAULT_CODE = 42


class KeepAlive(SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"  # a client's calls share one connection


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    # The listen backlog: socketserver's default of 5 makes a burst of connections
    # wait for SYN retries (a second or more each); busy servers raise it.
    request_queue_size = 1024
    daemon_threads = True


def refuse(reason):
    raise xmlrpc.client.Fault(FAULT_CODE, f"refused: {reason}")


def make_server():
    server = Server((HOST, 0), KeepAlive, logRequests=False)
    server.register_function(lambda a, b: a + b, "add")
    server.register_function(lambda value: value, "echo")
    server.register_function(refuse)
    return server


def check(proxy, client, call):
    """One call of each kind, by turn; the reason if the answer is wrong, else None."""
    kind = call % 3
    if kind == 0:
        answer = proxy.add(client, call)
        return None if answer == client + call else f"add: {answer!r}"
    if kind == 1:
        value = {"client": client, "call": call, "items": [1.5, "two", True, [3]]}
        answer = proxy.echo(value)
        return None if answer == value else f"echo: {answer!r}"
    try:
        proxy.refuse(f"client {client}")
    except xmlrpc.client.Fault as fault:
        expected = (FAULT_CODE, f"refused: client {client}")
        got = (fault.faultCode, fault.faultString)
        return None if got == expected else f"fault: {got!r}"
    return "refuse: no Fault"


def call_many(url, calls, barrier, results, client):
    """One client: wait until every client is alive, then make its calls and check them."""
    try:
        barrier.wait(TIMEOUT)
        with xmlrpc.client.ServerProxy(url) as proxy:
            for call in range(calls):
                results[client * calls + call] = check(proxy, client, call) or "ok"
    except Exception as exc:
        results[client * calls] = f"{type(exc).__name__}: {exc}"


def run(clients, calls):
    server = make_server()
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    url = f"http://{HOST}:{server.server_address[1]}/"
    alive = []  # the threads alive when the last client arrives at the barrier
    barrier = threading.Barrier(clients, action=lambda: alive.append(threading.active_count()))
    results = [None] * (clients * calls)  # a call not made stays None: an error
    threads = [threading.Thread(target=call_many, args=(url, calls, barrier, results, i))
               for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    server.shutdown()
    serving.join()
    server.server_close()
    errors = sorted({str(result) for result in results if result != "ok"})
    return {"program": "xmlrpc_server", "clients": clients, "calls": clients * calls,
            "ok": results.count("ok"), "errors": errors[:10],
            "threads_alive": alive[0] if alive else 0, "elapsed": round(elapsed, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--calls", type=int, default=3, help="calls per client")
    args = parser.parse_args()
    print(json.dumps(run(args.clients, args.calls)))


if __name__ == "__main__":
    sys.exit(main())
