"""A socketserver echo server with a thread per connection, and 500 clients, each a thread.

Plain standard library, written as if no one would ever monkey-patch it: a
``socketserver.ThreadingTCPServer`` whose ``StreamRequestHandler`` writes back whatever
it reads until the client closes, and ``threading.Thread`` clients that each send
messages of every byte value, read each one back and compare, all at once.

    python echo_server.py [--clients 500] [--messages 20] [--size 1000]

Prints one JSON line: how many clients, how many got every byte back, the errors, the
bytes echoed, the most threads alive at once and the seconds taken.
"""
import argparse
import json
import socket
import socketserver
import sys
import threading
import time

HOST = "127.0.0.1"  # numeric: connecting needs no name lookup
TIMEOUT = 20.0  # seconds a client waits on its socket


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        while chunk := self.rfile.read1(65536):  # what has arrived, b"" once closed
            self.wfile.write(chunk)


class Server(socketserver.ThreadingTCPServer):
    # The listen backlog: socketserver's default of 5 makes a burst of connections
    # wait for SYN retries (a second or more each); busy servers raise it.
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True


def message(client, turn, size):
    """size bytes that differ from client to client and message to message, every value
    from 0 to 255 among them."""
    start = (client * 131 + turn * 17) % 256
    return bytes((start + i) % 256 for i in range(size))


def talk(address, messages, size, barrier, results, index):
    """One client: wait until every client is alive, then echo each message and check."""
    try:
        barrier.wait(TIMEOUT)
        with socket.create_connection(address, timeout=TIMEOUT) as sock, \
                sock.makefile("rb") as replies:
            for turn in range(messages):
                sent = message(index, turn, size)
                sock.sendall(sent)
                if replies.read(size) != sent:
                    results[index] = f"message {turn}: a different answer"
                    return
            sock.shutdown(socket.SHUT_WR)
            extra = replies.read()  # the server closes when we have: nothing more
        results[index] = "ok" if not extra else f"{len(extra)} bytes too many"
    except Exception as exc:
        results[index] = f"{type(exc).__name__}: {exc}"


def run(clients, messages, size):
    server = Server((HOST, 0), Echo)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    alive = []  # the threads alive when the last client arrives at the barrier
    barrier = threading.Barrier(clients, action=lambda: alive.append(threading.active_count()))
    results = [None] * clients
    threads = [threading.Thread(target=talk,
                                args=(server.server_address, messages, size, barrier, results, i))
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
    ok = results.count("ok")
    errors = sorted({result for result in results if result != "ok"})
    return {"program": "echo_server", "clients": clients, "ok": ok, "errors": errors[:10],
            "bytes_echoed": ok * messages * size, "threads_alive": alive[0] if alive else 0,
            "elapsed": round(elapsed, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--messages", type=int, default=20, help="messages per client")
    parser.add_argument("--size", type=int, default=1000, help="bytes per message")
    args = parser.parse_args()
    print(json.dumps(run(args.clients, args.messages, args.size)))


if __name__ == "__main__":
    sys.exit(main())
