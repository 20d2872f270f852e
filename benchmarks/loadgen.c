/* The load of benchmarks/c10k.py: many TCP connections from one process, each doing
 * echo round trips against a server, every echoed byte checked.
 *
 *     loadgen HOST PORT CONNECTIONS SECONDS TIMEOUT FIRST
 *
 * One process, one epoll set, non-blocking sockets; benchmarks/c10k.py runs two, each
 * with half the connections, so that the client is not what limits the server. A run
 * has three phases, and the process talks to its parent on stdin and stdout:
 *
 *   1. ramp: open CONNECTIONS connections, at most RAMP of them at a time not yet
 *      answered (so the server's listen queue never overflows), each retrying a failed
 *      connect() up to TRIES times; each then makes one round trip. Then it prints
 *      {"ready": N} and waits for a line on stdin (its parent reads the server's memory
 *      meanwhile, and starts every generator at once).
 *   2. load: every connection sends a MESSAGE-byte message, receives until all of it
 *      is back, checks every byte, and sends the next, for SECONDS; the round trips
 *      completed in that time are counted, each one's latency in a histogram.
 *   3. drain: the replies still in flight are received and checked too (not counted),
 *      for DRAIN seconds at most; then it prints one line of JSON: round trips,
 *      seconds, errors by kind, the first error in words, and the histogram as
 *      [[microseconds, count], ...], each bucket named by its lower bound.
 *
 * Connection number c's message number r holds (c * 131 + r * 17 + i) & 255 at byte i:
 * a byte lost, repeated, reordered or crossed with another connection's is caught.
 * TIMEOUT bounds phase 1 and the wait for the signal. A connection that fails (a wrong
 * byte, closed by the server, no answer in time) is counted as an error and closed.
 * FIRST numbers the connections, so that two generators send different bytes. Exit
 * status: 0 if there was no error, 1 if there was, 2 on bad arguments or a limit that
 * cannot be raised. Linux only (epoll, prctl); where it does not build, benchmarks/c10k.py
 * has a Python generator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE 64     /* bytes in one message, as in benchmarks/hub.py */
#define RAMP 256       /* connections opened but not yet answered, at most */
#define TRIES 5        /* connect() attempts per connection */
#define SUB 32         /* histogram buckets per power of two: each about 3 % wide */
#define BUCKETS (SUB * 40)  /* up to 2^44 us: any latency a run can see */
#define EVENTS 1024    /* events taken from epoll per call */
#define DRAIN 5.0      /* seconds the replies in flight may take after the load, at most */

enum state {
    NEW,          /* not opened yet */
    CONNECTING,   /* connect() under way: waiting for writable */
    WAITING,      /* a connect() failed: to be tried again at retry_at */
    SENDING,      /* part of the message sent; waiting for writable */
    RECEIVING,    /* message sent; waiting for its echo */
    IDLE,         /* no message in flight */
    FAILED        /* counted as an error and closed */
};

struct conn {
    int fd;
    int id;               /* this connection's number, in every byte of its messages */
    uint32_t round;       /* round trips completed: the other term of the pattern */
    enum state state;
    int sent, received;   /* bytes of the current message */
    int tries;            /* connect() attempts so far */
    double started;       /* when the current message was sent */
    double retry_at;      /* when a WAITING connection tries again */
};

/* ---- The state of the run */

static struct sockaddr_in server;     /* where to connect */
static struct conn *conns;            /* every connection, by index */
static int nconns;
static int epfd;
static int counting;                  /* phase 2: completed round trips are counted */
static double deadline;               /* phase 2: when to stop sending */
static uint64_t round_trips;          /* counted in phase 2 */
static uint64_t histogram[BUCKETS];   /* phase 2's latencies, by bucket() */
static int pending;                   /* connections opened but neither answered nor failed */
static int failed;                    /* connections counted as errors and closed */
static int waiting;                   /* connections backing off before a new connect() */
static uint64_t retries;              /* connect() attempts after the first */
static uint64_t errors_connect, errors_mismatch, errors_closed, errors_unanswered;
static char first_error[256];         /* the first error, in words */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Keep the first error in words: the one a reader needs to see why a run failed. */
static void note(const char *format, ...) {
    if (first_error[0])
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(first_error, sizeof first_error, format, args);
    va_end(args);
}

/* A histogram bucket: exact below SUB microseconds, then SUB buckets per power of two. */
static int bucket(uint64_t us) {
    if (us < SUB)
        return (int)us;
    int e = 63 - __builtin_clzll(us);   /* 2^e <= us < 2^(e+1), e >= 5 */
    int b = SUB * (e - 4) + (int)((us >> (e - 5)) - SUB);
    return b < BUCKETS ? b : BUCKETS - 1;
}

static uint64_t bucket_floor(int b) {
    if (b < SUB)
        return (uint64_t)b;
    int e = b / SUB + 4;
    return (uint64_t)(SUB + b % SUB) << (e - 5);
}

static unsigned char pattern(const struct conn *c, int i) {
    return (unsigned char)(c->id * 131 + c->round * 17 + i);
}

static void interest(struct conn *c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
        perror("loadgen: epoll_ctl");
        exit(2);
    }
}

static void fail(struct conn *c, uint64_t *kind) {
    (*kind)++;
    failed++;
    pending -= c->round == 0;
    if (c->fd >= 0)
        close(c->fd);    /* which also takes it out of the epoll set */
    c->fd = -1;
    c->state = FAILED;
}

/* A connect() that failed: tried again later (10 ms, 20 ms, 40 ms, ... on), or, after
 * TRIES attempts, an error. */
static void retry_or_fail(struct conn *c, int error) {
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->tries >= TRIES) {
        note("connection %d: connect(): %s, %d tries", c->id, strerror(error), c->tries);
        fail(c, &errors_connect);
        return;
    }
    c->state = WAITING;
    c->retry_at = now() + 0.01 * (1 << (c->tries - 1));
    waiting++;
    retries++;
}

/* ---- One connection's life */

/* Start a connect(); on loopback it often completes at once, but is finished (and its
 * error read) in on_writable() either way. */
static void start_connect(struct conn *c) {
    waiting -= c->state == WAITING;
    c->tries++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        note("connection %d: socket(): %s", c->id, strerror(errno));
        fail(c, &errors_connect);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&server, sizeof server) < 0 && errno != EINPROGRESS) {
        retry_or_fail(c, errno);
        return;
    }
    c->state = CONNECTING;
    interest(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Send what is left of the current message; wait for writable if it does not all fit. */
static void send_rest(struct conn *c) {
    unsigned char message[MESSAGE];
    for (int i = c->sent; i < MESSAGE; i++)
        message[i] = pattern(c, i);
    ssize_t n = send(c->fd, message + c->sent, MESSAGE - c->sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) {
        note("connection %d: send(): %s", c->id, strerror(errno));
        fail(c, &errors_closed);
        return;
    }
    c->sent += n > 0 ? (int)n : 0;
    enum state was = c->state;
    c->state = c->sent < MESSAGE ? SENDING : RECEIVING;
    if (c->state != was && (was == SENDING || c->state == SENDING))
        interest(c, c->state == SENDING ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
}

static void send_message(struct conn *c) {
    c->sent = c->received = 0;
    c->started = now();
    c->state = RECEIVING;  /* what send_rest() changes to SENDING if the message does not fit */
    send_rest(c);
}

static void on_writable(struct conn *c) {
    if (c->state == SENDING) {
        send_rest(c);
        return;
    }
    int error = 0;   /* CONNECTING: the connect() has finished, well or not */
    socklen_t size = sizeof error;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error) {
        retry_or_fail(c, error);
        return;
    }
    interest(c, EPOLLIN, EPOLL_CTL_MOD);
    send_message(c);   /* the first round trip, which ends the connection's ramp */
}

/* Receive what has come of the echo and check each byte; a complete echo ends the
 * round trip, and in phase 2 (before the deadline) the next message goes out. */
static void on_readable(struct conn *c) {
    unsigned char buffer[MESSAGE];
    int wanted = c->state == RECEIVING ? MESSAGE - c->received : MESSAGE;
    ssize_t n = recv(c->fd, buffer, wanted, 0);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        note("connection %d: %s after %u round trips", c->id,
             n == 0 ? "closed by the server" : strerror(errno), c->round);
        fail(c, &errors_closed);
        return;
    }
    if (c->state != RECEIVING) {
        note("connection %d: %zd bytes nobody asked for", c->id, n);
        fail(c, &errors_mismatch);
        return;
    }
    for (int i = 0; i < n; i++) {
        unsigned char expected = pattern(c, c->received + i);
        if (buffer[i] != expected) {
            note("connection %d, round trip %u: byte %d is %d, expected %d", c->id, c->round,
                 c->received + i, buffer[i], expected);
            fail(c, &errors_mismatch);
            return;
        }
    }
    c->received += (int)n;
    if (c->received < MESSAGE)
        return;
    double done = now();
    pending -= c->round == 0;   /* its first round trip: opened and answered */
    c->round++;
    c->state = IDLE;
    if (counting && done < deadline) {
        round_trips++;
        histogram[bucket((uint64_t)((done - c->started) * 1e6))]++;
        send_message(c);
    }
}

/* ---- The phases */

/* Connections whose message or echo is under way. */
static int in_flight(void) {
    int n = 0;
    for (int i = 0; i < nconns; i++)
        n += conns[i].state == SENDING || conns[i].state == RECEIVING;
    return n;
}

/* Wait up to ms for events, and hand each to its connection. */
static void dispatch(int ms) {
    struct epoll_event events[EVENTS];
    int n = epoll_wait(epfd, events, EVENTS, ms);
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[events[i].data.u32];
        if (c->state == FAILED || c->state == WAITING)
            continue;   /* its descriptor was closed by an earlier event of this batch */
        if (c->state == CONNECTING || c->state == SENDING)
            on_writable(c);
        else
            on_readable(c);   /* an error or a hang-up shows as a failed recv() */
    }
}

/* Phase 1: every connection opened and answered once, RAMP at a time. */
static int ramp(double timeout) {
    double limit = now() + timeout;
    int next = 0;          /* the next connection to open */
    while (now() < limit) {
        for (; next < nconns && pending < RAMP; next++, pending++)
            start_connect(&conns[next]);
        double t = now();
        for (int i = 0; waiting && i < next; i++)
            if (conns[i].state == WAITING && conns[i].retry_at <= t)
                start_connect(&conns[i]);
        if (next == nconns && pending == 0)
            return 0;
        dispatch(5);
    }
    note("%d of %d connections not open and answered within %g s", pending + nconns - next,
         nconns, timeout);
    errors_unanswered += pending + nconns - next;
    return -1;
}

/* Wait for a line on stdin, the parent's signal to start phase 2. */
static int wait_for_go(double limit) {
    struct pollfd in = {.fd = 0, .events = POLLIN};
    char line[16];
    int ms = (int)((limit - now()) * 1000);
    if (ms <= 0 || poll(&in, 1, ms) <= 0 || !fgets(line, sizeof line, stdin))
        return -1;
    return 0;
}

/* Phases 2 and 3: load for seconds, then receive the replies still in flight. */
static void load(double seconds, double timeout) {
    counting = 1;
    deadline = now() + seconds;
    for (int i = 0; i < nconns; i++)
        if (conns[i].state == IDLE)
            send_message(&conns[i]);
    while (now() < deadline)
        dispatch((int)((deadline - now()) * 1000) + 1);
    double limit = now() + (timeout < DRAIN ? timeout : DRAIN);
    while (now() < limit && in_flight())
        dispatch(10);
    int left = in_flight();
    if (left) {
        note("%d replies not back %g s after the end", left, timeout < DRAIN ? timeout : DRAIN);
        for (int i = 0; i < nconns; i++)
            if (conns[i].state == SENDING || conns[i].state == RECEIVING)
                fail(&conns[i], &errors_unanswered);
    }
}

static void report(double seconds) {
    printf("{\"connections\": %d, \"failed\": %d, \"round_trips\": %llu, \"seconds\": %g, "
           "\"retries\": %llu, \"errors\": {\"connect\": %llu, \"mismatch\": %llu, "
           "\"closed\": %llu, \"unanswered\": %llu}, \"first_error\": \"",
           nconns, failed, (unsigned long long)round_trips, seconds,
           (unsigned long long)retries, (unsigned long long)errors_connect,
           (unsigned long long)errors_mismatch, (unsigned long long)errors_closed,
           (unsigned long long)errors_unanswered);
    for (char *p = first_error; *p; p++)   /* our own messages: no quote, no backslash */
        putchar(*p == '"' || *p == '\\' ? '\'' : *p);
    printf("\", \"histogram\": [");
    const char *comma = "";
    for (int b = 0; b < BUCKETS; b++) {
        if (histogram[b]) {
            printf("%s[%llu, %llu]", comma, (unsigned long long)bucket_floor(b),
                   (unsigned long long)histogram[b]);
            comma = ", ";
        }
    }
    printf("]}\n");
    fflush(stdout);
}

/* Room for a descriptor per connection: the soft limit on open files raised to the
 * hard one. */
static int raise_open_files(int needed) {
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t)needed) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t)needed) {
        fprintf(stderr, "loadgen: %d connections need %d open files; the hard limit is %llu "
                "(raise it: ulimit -Hn %d, as root)\n", nconns, needed,
                (unsigned long long)limit.rlim_max, needed);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: loadgen HOST PORT CONNECTIONS SECONDS TIMEOUT FIRST\n");
        return 2;
    }
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(argv[2]));
    nconns = atoi(argv[3]);
    double seconds = atof(argv[4]), timeout = atof(argv[5]);
    int first = atoi(argv[6]);
    if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1 || nconns < 1 || seconds <= 0
        || timeout <= 0) {
        fprintf(stderr, "loadgen: bad arguments\n");
        return 2;
    }
    /* Never outlive the benchmark: killed with the parent, and in any case once every
     * phase has had its time. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm((unsigned)(3 * timeout + seconds) + 10);
    if (raise_open_files(nconns + 16) < 0)
        return 2;
    conns = calloc((size_t)nconns, sizeof *conns);
    epfd = epoll_create1(0);
    if (!conns || epfd < 0) {
        perror("loadgen");
        return 2;
    }
    for (int i = 0; i < nconns; i++)
        conns[i] = (struct conn){.fd = -1, .id = first + i, .state = NEW};

    if (ramp(timeout) < 0) {
        report(seconds);
        return 1;
    }
    printf("{\"ready\": %d}\n", nconns - failed);
    fflush(stdout);
    if (wait_for_go(now() + timeout) < 0) {
        fprintf(stderr, "loadgen: no signal to start on stdin within %g s\n", timeout);
        return 1;
    }
    load(seconds, timeout);
    report(seconds);
    int errors = first_error[0] != 0;
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    return errors;
}
