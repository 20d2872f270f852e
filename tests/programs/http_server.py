"""An HTTP server with a thread per connection, and a thousand clients, each a thread.

Plain standard library, written as if no one would ever monkey-patch it:
``http.server.ThreadingHTTPServer`` answers every GET with a small body, and the
clients are ``threading.Thread``s that fetch it with ``urllib.request``, all at once.

    python http_server.py fanout [--clients 1000]   # serve the clients, print a summary
    python http_server.py serve [--port 0]           # only serve (keep-alive), until killed

``fanout`` prints one JSON line: how many clients, how many got the right answer, the
errors, the most threads alive at once and the seconds taken. ``serve`` prints
``{"port": N}`` once it listens, then serves until it is killed.
"""
import argparse
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"  # numeric: connecting needs no name lookup
BODY = b"Hello from a thread!\n"
TIMEOUT = 20.0  # seconds a client waits for its answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection serves many requests
    # The head and the body go out in two writes; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the head (40 ms on Linux) on every request.
    disable_nagle_algorithm = True

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format, *args):
        pass  # a line on stderr per request would cost more than the request


class Server(ThreadingHTTPServer):
    # The listen backlog: socketserver's default of 5 makes a burst of a thousand
    # connections wait for SYN retries (a second or more each); busy servers raise it.
    request_queue_size = 1024


def fetch(url, barrier, results, index):
    """One client: wait until every client is alive, then GET the page and check it."""
    try:
        barrier.wait(TIMEOUT)
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            body = response.read()
        results[index] = "ok" if (response.status, body) == (200, BODY) else \
            f"unexpected answer: {response.status} {body[:40]!r}"
    except Exception as exc:
        results[index] = f"{type(exc).__name__}: {exc}"


def fanout(clients):
    server = Server((HOST, 0), Handler)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    url = f"http://{HOST}:{server.server_address[1]}/"
    alive = []  # the threads alive when the last client arrives at the barrier
    barrier = threading.Barrier(clients, action=lambda: alive.append(threading.active_count()))
    results = [None] * clients
    threads = [threading.Thread(target=fetch, args=(url, barrier, results, i))
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
    errors = sorted({result for result in results if result != "ok"})
    return {"program": "http_server", "clients": clients, "ok": results.count("ok"),
            "errors": errors[:10], "threads_alive": alive[0] if alive else 0,
            "elapsed": round(elapsed, 3)}


def serve(port):
    server = Server((HOST, port), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    with server:
        server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("fanout").add_argument("--clients", type=int, default=1000)
    modes.add_parser("serve").add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.port)
    else:
        print(json.dumps(fanout(args.clients)))


if __name__ == "__main__":
    sys.exit(main())
