/*
 * A fixed-rate, open-loop HTTP/1.1 load generator, the way wrk2 works (wrk2 is not packaged
 * in Debian). Request i is due at t0 + i / rate whether or not earlier ones have answered,
 * and its latency counts from that due time, not from when it was sent: a stall (ours, the
 * server's, the shared core's) counts against every request it delays, so nothing hides it
 * (no coordinated omission). Prints one JSON line at the end.
 *
 *   openloop --url http://127.0.0.1:8090/v1/home --rate 500 --seconds 10 \
 *       --header "authorization: Bearer ..." [--header ...] [--connections 512] [--warmup 2]
 *       [--connection-per-request] [--deadline-ms 1000]
 *
 * --warmup W runs W seconds at the same rate first, on the same connections, and counts none of
 * it (wrk2 likewise leaves its first seconds out of its histogram). Without it every run began
 * by opening a connection per request for its first 60-odd ms, until answers came back to
 * reuse: in the 20 ms variant that start cost tailor +10 to +17 ms over about 0.3 s, some 3% of
 * a 10 s run's requests, which on its own set the p99 of a steady-state measurement.
 *
 * Why C: the Node generator it replaces woke on a setTimeout that ticks every millisecond at
 * best and read answers whenever its event loop got to them, which put +0.8 ms at p50 and
 * +4 to +12 ms at p99 on every measurement. Here a timerfd armed at the next due time
 * (nanosecond resolution, timer slack cut to 1 ns) wakes one epoll loop, so a request leaves
 * within microseconds of its due time and an answer is timed as soon as its last byte is read.
 *
 * Linux only (epoll, timerfd), libc only. GET on kept-alive connections, one request in
 * flight per connection (no pipelining); a new connection is opened, up to --connections,
 * when none is idle, and a request waits (its latency growing) when all are busy. With
 * --connection-per-request every request opens a connection of its own and asks for it to be
 * closed after the answer (h2load's connection-rate mode does the same), so the server's
 * accept path is under the load too.
 *
 * Overload accounting (--deadline-ms D, default 1000): besides the 200s' latencies, the 503s'
 * (a server shedding load) are timed on their own; "ok_within_deadline" counts 200s answered
 * within D, and "late_2x" counts measured requests with no answer within 2 x D (an answer that
 * came later, a broken connection, or none at all).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define LINE_CAP 16384       /* longest status, header or chunk-size line accepted */
#define READ_CHUNK 65536     /* bytes read per recv: a whole answer of these servers */
#define GRACE_S 30           /* after the last due time, how long answers are waited for */
#define MAX_FAILURE_KINDS 64
#define TIMER_TAG UINT32_MAX /* epoll data of the timerfd; connections use their slot */

/* ---------------------------------------------------------------- the response parser */

enum phase {
    P_STATUS,     /* the status line */
    P_HEADER,     /* header lines until the empty one */
    P_BODY,       /* content-length bytes left */
    P_CHUNK_SIZE, /* a chunk-size line */
    P_CHUNK_DATA, /* chunk bytes left */
    P_CHUNK_END,  /* the CRLF after a chunk's data */
    P_TRAILER,    /* trailer lines after the last chunk, until the empty one */
    P_UNTIL_EOF,  /* no length and not chunked: the body ends when the server closes */
};

enum feed { FEED_MORE, FEED_DONE, FEED_ERROR };

struct response {
    enum phase phase;
    int status;
    bool keep_alive;
    bool chunked;
    long long content_length; /* -1: no content-length header */
    unsigned long long left;  /* bytes left in the body or the current chunk */
    const char *error;        /* what was wrong, when feed() returned FEED_ERROR */
    size_t line_len;
    char line[LINE_CAP];
};

static void response_reset(struct response *r)
{
    r->phase = P_STATUS;
    r->status = 0;
    r->keep_alive = true;
    r->chunked = false;
    r->content_length = -1;
    r->left = 0;
    r->error = NULL;
    r->line_len = 0;
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Does the comma-separated header value contain the token (case-insensitive)? */
static bool has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *s = value; *s;) {
        s = skip_spaces(s);
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(s, token, n) == 0)
            return true;
        if (!end)
            break;
        s = end + 1;
    }
    return false;
}

static enum feed fail(struct response *r, const char *why)
{
    r->error = why;
    return FEED_ERROR;
}

static enum feed on_status_line(struct response *r, const char *line)
{
    int minor, status;
    if (sscanf(line, "HTTP/1.%d %3d", &minor, &status) != 2 || status < 100 || status > 999)
        return fail(r, "bad_status_line");
    r->status = status;
    r->keep_alive = minor >= 1; /* HTTP/1.0 closes unless it says keep-alive */
    r->phase = P_HEADER;
    return FEED_MORE;
}

static void on_header(struct response *r, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon)
        return; /* not a header: ignore rather than fail on a server's quirk */
    size_t name_len = (size_t)(colon - line);
    const char *value = skip_spaces(colon + 1);
    if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
        r->content_length = strtoll(value, NULL, 10);
    } else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
        r->chunked = has_token(value, "chunked");
    } else if (name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
        if (has_token(value, "close"))
            r->keep_alive = false;
        else if (has_token(value, "keep-alive"))
            r->keep_alive = true;
    }
}

/* The empty line after the headers: decide how the body is framed. */
static enum feed on_head_end(struct response *r)
{
    if (r->status < 200) { /* an interim answer (100 Continue): the real one follows */
        int keep = r->keep_alive;
        response_reset(r);
        r->keep_alive = keep;
        return FEED_MORE;
    }
    if (r->status == 204 || r->status == 304)
        return FEED_DONE;
    if (r->chunked) {
        r->phase = P_CHUNK_SIZE;
        return FEED_MORE;
    }
    if (r->content_length >= 0) {
        if (r->content_length == 0)
            return FEED_DONE;
        r->left = (unsigned long long)r->content_length;
        r->phase = P_BODY;
        return FEED_MORE;
    }
    r->keep_alive = false; /* the close is what ends this body */
    r->phase = P_UNTIL_EOF;
    return FEED_MORE;
}

static enum feed on_chunk_size(struct response *r, const char *line)
{
    char *end;
    errno = 0;
    unsigned long long size = strtoull(line, &end, 16); /* extensions after ';' ignored */
    if (end == line || errno)
        return fail(r, "bad_chunk_size");
    if (size == 0) {
        r->phase = P_TRAILER;
    } else {
        r->left = size;
        r->phase = P_CHUNK_DATA;
    }
    return FEED_MORE;
}

/* One complete line (CRLF stripped) in a line-oriented phase. */
static enum feed on_line(struct response *r, const char *line, size_t len)
{
    switch (r->phase) {
    case P_STATUS:
        return on_status_line(r, line);
    case P_HEADER:
        if (len == 0)
            return on_head_end(r);
        on_header(r, line);
        return FEED_MORE;
    case P_CHUNK_SIZE:
        return on_chunk_size(r, line);
    case P_CHUNK_END:
        if (len != 0)
            return fail(r, "bad_chunk_end");
        r->phase = P_CHUNK_SIZE;
        return FEED_MORE;
    case P_TRAILER:
        return len == 0 ? FEED_DONE : FEED_MORE;
    default:
        return fail(r, "parser_state");
    }
}

/*
 * Feed received bytes; *used says how many belong to this response. Lines are gathered in
 * r->line across reads; body bytes are only counted, never copied.
 */
static enum feed feed(struct response *r, const char *buf, size_t len, size_t *used)
{
    size_t pos = 0;
    enum feed result = FEED_MORE;
    while (pos < len && result == FEED_MORE) {
        if (r->phase == P_UNTIL_EOF) {
            pos = len;
        } else if (r->phase == P_BODY || r->phase == P_CHUNK_DATA) {
            size_t take = len - pos < r->left ? len - pos : (size_t)r->left;
            pos += take;
            r->left -= take;
            if (r->left == 0) {
                if (r->phase == P_BODY)
                    result = FEED_DONE;
                else
                    r->phase = P_CHUNK_END;
            }
        } else {
            const char *nl = memchr(buf + pos, '\n', len - pos);
            size_t take = nl ? (size_t)(nl - (buf + pos)) + 1 : len - pos;
            if (r->line_len + take >= LINE_CAP) {
                result = fail(r, "line_too_long");
                break;
            }
            memcpy(r->line + r->line_len, buf + pos, take);
            r->line_len += take;
            pos += take;
            if (!nl)
                break;
            size_t n = r->line_len - 1; /* without the '\n' */
            if (n && r->line[n - 1] == '\r')
                n--;
            r->line[n] = '\0';
            r->line_len = 0;
            result = on_line(r, r->line, n);
        }
    }
    *used = pos;
    return result;
}

/* ------------------------------------------------------------------------ the run's state */

enum conn_state { C_FREE, C_CONNECTING, C_WRITING, C_READING, C_IDLE };

struct conn {
    int fd;
    enum conn_state state;
    long req;        /* the request in flight, -1 when none */
    size_t written;  /* bytes of the request sent so far */
    bool want_out;   /* registered for EPOLLOUT (connecting, or a partial write) */
    int idle_pos;    /* index in the idle stack while idle */
    bool got_bytes;  /* any of this request's answer read yet */
    struct response r;
};

struct failure {
    char kind[32];
    long count;
};

static struct {
    /* what to send */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char *request;
    size_t request_len;
    double rate;
    double seconds;
    double warmup;
    int max_conns;
    bool new_conn;   /* a connection per request */
    int64_t deadline_ns;
    /* the schedule: request i is due at t0 + i / rate */
    int64_t t0;
    long total;     /* warm-up requests first, then the measured ones */
    long warm;      /* requests 0 .. warm-1 are the warm-up's: answered, never counted */
    long warm_errors;
    long m_completed; /* measured requests answered or failed */
    long issued;    /* requests whose due time has come */
    long sent;      /* requests handed to a connection (the rest of issued wait for one) */
    long completed; /* answered or failed */
    long ok;
    long errors;
    /* connections */
    int epoll_fd;
    int timer_fd;
    int64_t timer_armed;
    struct conn *conns;
    int *free_slots;
    int n_free;
    int *idle;  /* a stack: the most recently used connection goes first */
    int n_idle;
    int open;
    int most_open;
    /* results */
    int64_t *latencies; /* ns from due time to the last byte of the answer, 200s only */
    int64_t *send_lag;  /* ns from due time to the first send() of the request */
    int64_t *shed_lat;  /* ns from due time to the last byte of a 503 answer */
    long shed;
    long ok_in_deadline;
    long late_2x;       /* answered after 2 x deadline, or failed (unanswered ones: in report) */
    struct failure failures[MAX_FAILURE_KINDS];
    int n_failures;
} g;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t due_ns(long i)
{
    return g.t0 + (int64_t)((double)i * (double)NS_PER_S / g.rate);
}

/* Count `n` failures of one kind; past MAX_FAILURE_KINDS kinds, the last slot is "other". */
static void count_failures(const char *kind, long n)
{
    if (n <= 0)
        return;
    int i = 0;
    while (i < g.n_failures && strcmp(g.failures[i].kind, kind) != 0)
        i++;
    if (i == g.n_failures) {
        if (g.n_failures >= MAX_FAILURE_KINDS - 1 && strcmp(kind, "other") != 0) {
            count_failures("other", n);
            return;
        }
        g.n_failures++;
        snprintf(g.failures[i].kind, sizeof g.failures[i].kind, "%s", kind);
    }
    g.failures[i].count += n;
}

static void count_failure(const char *kind)
{
    count_failures(kind, 1);
}

/* The errno's symbolic name, as Node reports err.code (ECONNRESET, ...). */
static const char *errno_kind(int e)
{
    static char other[24];
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ECONNABORTED: return "ECONNABORTED";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    }
    snprintf(other, sizeof other, "errno_%d", e);
    return other;
}

/* A request is over: its latency if it was a 200, else what went wrong. */
static void finish_request(struct conn *c, const char *failure)
{
    if (c->req < 0)
        return;
    g.completed++;
    if (c->req < g.warm) {
        if (failure || c->r.status != 200)
            g.warm_errors++;
        c->req = -1;
        return;
    }
    g.m_completed++;
    int64_t latency = now_ns() - due_ns(c->req);
    if (failure || latency > 2 * g.deadline_ns)
        g.late_2x++;
    if (failure) {
        g.errors++;
        count_failure(failure);
    } else if (c->r.status == 200) {
        g.latencies[g.ok++] = latency;
        if (latency <= g.deadline_ns)
            g.ok_in_deadline++;
    } else {
        char status[8];
        snprintf(status, sizeof status, "%d", c->r.status);
        g.errors++;
        count_failure(status);
        if (c->r.status == 503)
            g.shed_lat[g.shed++] = latency;
    }
    c->req = -1;
}

/* ------------------------------------------------------------------------- connections */

static void watch(struct conn *c, bool want_out)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0)};
    ev.data.u32 = (uint32_t)(c - g.conns);
    if (c->want_out != want_out) {
        epoll_ctl(g.epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want_out;
    }
}

static void push_idle(struct conn *c)
{
    c->state = C_IDLE;
    c->idle_pos = g.n_idle;
    g.idle[g.n_idle++] = (int)(c - g.conns);
}

static void remove_idle(struct conn *c)
{
    int last = g.idle[--g.n_idle];
    g.idle[c->idle_pos] = last;
    g.conns[last].idle_pos = c->idle_pos;
}

static void close_conn(struct conn *c)
{
    if (c->state == C_IDLE)
        remove_idle(c);
    close(c->fd); /* also takes it out of the epoll set */
    c->fd = -1;
    c->state = C_FREE;
    g.free_slots[g.n_free++] = (int)(c - g.conns);
    g.open--;
}

/* The connection broke: its request (if any) fails with `kind`, and it is closed. */
static void drop_conn(struct conn *c, const char *kind)
{
    finish_request(c, kind);
    close_conn(c);
}

/* A new non-blocking connection, connected or connecting; NULL (and errno) if it failed. */
static struct conn *open_conn(void)
{
    int fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    /* each request is one small write: send it now, not after Nagle's wait for an ACK */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bool connected = connect(fd, (struct sockaddr *)&g.addr, g.addr_len) == 0;
    if (!connected && errno != EINPROGRESS) { /* loopback refuses at once */
        int err = errno;
        close(fd);
        errno = err;
        return NULL;
    }
    struct conn *c = &g.conns[g.free_slots[--g.n_free]];
    c->fd = fd;
    c->req = -1;
    c->state = connected ? C_WRITING : C_CONNECTING;
    /* EPOLLOUT says when the connect is done (or the first write can go on) */
    c->want_out = true;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP};
    ev.data.u32 = (uint32_t)(c - g.conns);
    epoll_ctl(g.epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    g.open++;
    if (g.open > g.most_open)
        g.most_open = g.open;
    return c;
}

static void try_write(struct conn *c)
{
    if (c->written == 0 && c->req >= g.warm)
        g.send_lag[c->req - g.warm] = now_ns() - due_ns(c->req);
    while (c->written < g.request_len) {
        ssize_t n = send(c->fd, g.request + c->written, g.request_len - c->written, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(c, true);
                return;
            }
            drop_conn(c, errno_kind(errno));
            return;
        }
        c->written += (size_t)n;
    }
    c->state = C_READING;
    watch(c, false);
}

/* Put request `req` on connection `c` (idle, or just opened). */
static void assign(struct conn *c, long req)
{
    c->req = req;
    c->written = 0;
    c->got_bytes = false;
    response_reset(&c->r);
    if (c->state == C_IDLE) {
        remove_idle(c);
        c->state = C_WRITING;
    }
    if (c->state == C_WRITING)
        try_write(c);
}

/* Hand every issued, unsent request to a connection: an idle one, else a new one. */
static void dispatch(void)
{
    while (g.sent < g.issued) {
        struct conn *c = NULL;
        if (g.n_idle > 0 && !g.new_conn) {
            c = &g.conns[g.idle[g.n_idle - 1]];
        } else if (g.open < g.max_conns) {
            c = open_conn();
            if (!c) { /* no socket at all: this request fails, the next one tries again */
                g.completed++;
                if (g.sent < g.warm) {
                    g.warm_errors++;
                } else {
                    g.send_lag[g.sent - g.warm] = 0;
                    g.m_completed++;
                    g.errors++;
                    count_failure(errno_kind(errno));
                }
                g.sent++;
                continue;
            }
        } else {
            return; /* all busy: the rest wait, their latency growing */
        }
        assign(c, g.sent++);
    }
}

/* The answer is complete: time it, then keep the connection for the next request or close it. */
static void on_answer(struct conn *c, size_t leftover)
{
    bool keep = c->r.keep_alive;
    finish_request(c, NULL);
    if (leftover > 0) { /* bytes nobody asked for: the connection's framing is lost */
        count_failure("unsolicited_bytes");
        close_conn(c);
    } else if (!keep || g.new_conn) {
        close_conn(c); /* connection: close; the next request opens a new one */
    } else {
        push_idle(c);
    }
}

static void on_eof(struct conn *c)
{
    if (c->req < 0) { /* the server closed an idle kept-alive connection: no request lost */
        close_conn(c);
    } else if (c->r.phase == P_UNTIL_EOF) {
        finish_request(c, NULL); /* the close was the end of the body */
        close_conn(c);
    } else {
        drop_conn(c, c->got_bytes ? "closed_mid_answer" : "closed_before_answer");
    }
}

static void on_readable(struct conn *c)
{
    static char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0) {
            on_eof(c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                drop_conn(c, errno_kind(errno));
            return;
        }
        if (c->req < 0) { /* data on an idle connection */
            count_failure("unsolicited_bytes");
            close_conn(c);
            return;
        }
        c->got_bytes = true;
        size_t used;
        enum feed result = feed(&c->r, buf, (size_t)n, &used);
        if (result == FEED_ERROR) {
            drop_conn(c, c->r.error);
            return;
        }
        if (result == FEED_DONE) {
            on_answer(c, (size_t)n - used);
            return;
        }
        if ((size_t)n < sizeof buf)
            return; /* drained for now (level-triggered epoll calls again if more) */
    }
}

static void on_conn_event(struct conn *c, uint32_t events)
{
    if (c->state == C_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            drop_conn(c, errno_kind(err));
            return;
        }
        c->state = C_WRITING;
        if (c->req >= 0)
            try_write(c);
        else
            watch(c, false);
        if (c->state == C_FREE)
            return;
    } else if (c->state == C_WRITING && (events & EPOLLOUT)) {
        try_write(c);
        if (c->state == C_FREE)
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(c);
}

/* ------------------------------------------------------------------------ the schedule */

/* Every request whose due time has passed is issued; the timer is armed for the next one. */
static void issue_due(int64_t now)
{
    while (g.issued < g.total && due_ns(g.issued) <= now)
        g.issued++;
    dispatch();
}

static void arm_timer(int64_t at)
{
    if (at == g.timer_armed)
        return;
    struct itimerspec its = {0};
    its.it_value.tv_sec = at / NS_PER_S;
    its.it_value.tv_nsec = at % NS_PER_S;
    timerfd_settime(g.timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    g.timer_armed = at;
}

static void run(void)
{
    int64_t deadline = due_ns(g.total) + (int64_t)GRACE_S * NS_PER_S;
    struct epoll_event events[256];
    for (;;) {
        int64_t now = now_ns();
        issue_due(now);
        if (g.issued == g.total && g.completed == g.total)
            return;
        if (now >= deadline)
            return;
        arm_timer(g.issued < g.total ? due_ns(g.issued) : deadline);
        int n = epoll_wait(g.epoll_fd, events, 256, -1);
        for (int i = 0; i < n; i++) {
            if (events[i].data.u32 == TIMER_TAG) {
                uint64_t expirations;
                if (read(g.timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                    perror("openloop: timerfd read");
                g.timer_armed = -1; /* fired: a one-shot timer must be armed again */
                continue;
            }
            struct conn *c = &g.conns[events[i].data.u32];
            if (c->state != C_FREE) /* an earlier event in this batch may have closed it */
                on_conn_event(c, events[i].events);
        }
    }
}

/* ---------------------------------------------------------------------------- results */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The same nearest-rank percentile the Node generator used, in ms. */
static double pct_ms(const int64_t *sorted, long n, double p)
{
    if (n == 0)
        return 0.0;
    long i = (long)((p / 100.0) * (double)n + 0.999999999) - 1; /* ceil, then 0-based */
    if (i < 0)
        i = 0;
    if (i > n - 1)
        i = n - 1;
    return (double)sorted[i] / 1e6;
}

static void report(int64_t end)
{
    /* what was never answered by the deadline counts as an error too */
    long sent = g.sent > g.warm ? g.sent - g.warm : 0; /* measured requests sent */
    /* warm-up requests never answered (or never sent) by the deadline failed too */
    g.warm_errors += g.warm - (g.completed - g.m_completed);
    long unanswered = sent - g.m_completed, unsent = (g.total - g.warm) - sent;
    count_failures("timeout", unanswered);
    count_failures("unsent", unsent);
    g.errors += unanswered + unsent;
    g.late_2x += unanswered + unsent;

    double elapsed = (double)(end - due_ns(g.warm)) / 1e9; /* from the first measured due time */
    qsort(g.latencies, (size_t)g.ok, sizeof *g.latencies, cmp_i64);
    qsort(g.send_lag, (size_t)sent, sizeof *g.send_lag, cmp_i64);
    qsort(g.shed_lat, (size_t)g.shed, sizeof *g.shed_lat, cmp_i64);
    const int64_t *l = g.latencies;
    printf("{\"rate\":%g,\"warmup_seconds\":%g,\"warmup_errors\":%ld,\"sent\":%ld,\"ok\":%ld,"
           "\"errors\":%ld,\"failures\":{",
           g.rate, g.warmup, g.warm_errors, sent, g.ok, g.errors);
    for (int i = 0; i < g.n_failures; i++)
        printf("%s\"%s\":%ld", i ? "," : "", g.failures[i].kind, g.failures[i].count);
    printf("},\"seconds\":%.6f,\"rps\":%.3f,\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,"
           "\"p999_ms\":%.4f,\"max_ms\":%.4f,",
           elapsed, elapsed > 0 ? (double)g.ok / elapsed : 0.0, pct_ms(l, g.ok, 50),
           pct_ms(l, g.ok, 90), pct_ms(l, g.ok, 99), pct_ms(l, g.ok, 99.9),
           g.ok ? (double)l[g.ok - 1] / 1e6 : 0.0);
    /* the generator's own lateness: how long after its due time each request was sent; and the
       most connections open at once, warm-up included */
    printf("\"send_lag_p50_ms\":%.4f,\"send_lag_p99_ms\":%.4f,\"send_lag_max_ms\":%.4f,",
           pct_ms(g.send_lag, sent, 50), pct_ms(g.send_lag, sent, 99),
           sent ? (double)g.send_lag[sent - 1] / 1e6 : 0.0);
    /* overload: the 503s' latencies, the 200s within the deadline, what had no answer in 2x */
    printf("\"connection_per_request\":%s,\"deadline_ms\":%.1f,\"ok_within_deadline\":%ld,"
           "\"ok_within_deadline_rps\":%.3f,\"late_2x\":%ld,\"shed\":%ld,"
           "\"shed_p50_ms\":%.4f,\"shed_p99_ms\":%.4f,\"shed_max_ms\":%.4f,"
           "\"connections\":%d}\n",
           g.new_conn ? "true" : "false", (double)g.deadline_ns / 1e6, g.ok_in_deadline,
           elapsed > 0 ? (double)g.ok_in_deadline / elapsed : 0.0, g.late_2x, g.shed,
           pct_ms(g.shed_lat, g.shed, 50), pct_ms(g.shed_lat, g.shed, 99),
           g.shed ? (double)g.shed_lat[g.shed - 1] / 1e6 : 0.0, g.most_open);
}

/* ------------------------------------------------------------------------------ setup */

static void usage(const char *why)
{
    fprintf(stderr,
            "openloop: %s\nusage: openloop --url http://HOST:PORT/path?query --rate R "
            "--seconds S [--warmup W] [--connections C] [--header 'name: value']... "
            "[--connection-per-request] [--deadline-ms D]\n",
            why);
    exit(2);
}

/* http://host[:port][/path?query] -> the address and the request line's target */
static void parse_url(const char *url, char **target)
{
    if (strncmp(url, "http://", 7) != 0)
        usage("only http:// URLs");
    const char *host = url + 7;
    const char *slash = strchr(host, '/');
    size_t authority_len = slash ? (size_t)(slash - host) : strlen(host);
    char authority[256];
    if (authority_len == 0 || authority_len >= sizeof authority)
        usage("bad host in --url");
    memcpy(authority, host, authority_len);
    authority[authority_len] = '\0';
    char *colon = strrchr(authority, ':');
    const char *port = "80";
    if (colon) {
        *colon = '\0';
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found;
    int rc = getaddrinfo(authority, port, &hints, &found);
    if (rc != 0) {
        fprintf(stderr, "openloop: %s: %s\n", authority, gai_strerror(rc));
        exit(2);
    }
    memcpy(&g.addr, found->ai_addr, found->ai_addrlen);
    g.addr_len = found->ai_addrlen;
    freeaddrinfo(found);
    *target = strdup(slash ? slash : "/");
}

static void build_request(const char *url, char **headers, int n_headers)
{
    char *target;
    parse_url(url, &target);
    const char *host = url + 7;
    size_t host_len = strcspn(host, "/");
    size_t cap = strlen(target) + host_len + 64;
    for (int i = 0; i < n_headers; i++)
        cap += strlen(headers[i]) + 2;
    g.request = malloc(cap);
    size_t len = (size_t)snprintf(g.request, cap, "GET %s HTTP/1.1\r\nHost: %.*s\r\n", target,
                                  (int)host_len, host);
    for (int i = 0; i < n_headers; i++)
        len += (size_t)snprintf(g.request + len, cap - len, "%s\r\n", headers[i]);
    len += (size_t)snprintf(g.request + len, cap - len, "\r\n");
    g.request_len = len;
    free(target);
}

static void parse_args(int argc, char **argv)
{
    const char *url = NULL;
    char **headers = calloc((size_t)argc, sizeof *headers);
    int n_headers = 0;
    g.rate = 100;
    g.seconds = 10;
    g.max_conns = 512;
    g.deadline_ns = NS_PER_S;
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--connection-per-request") == 0) {
            g.new_conn = true;
            headers[n_headers++] = "connection: close";
            continue;
        }
        if (i + 1 >= argc)
            usage("an option lacks its value");
        const char *value = argv[++i];
        if (strcmp(name, "--url") == 0)
            url = value;
        else if (strcmp(name, "--rate") == 0)
            g.rate = atof(value);
        else if (strcmp(name, "--seconds") == 0)
            g.seconds = atof(value);
        else if (strcmp(name, "--warmup") == 0)
            g.warmup = atof(value);
        else if (strcmp(name, "--connections") == 0)
            g.max_conns = atoi(value);
        else if (strcmp(name, "--deadline-ms") == 0)
            g.deadline_ns = (int64_t)(atof(value) * 1e6);
        else if (strcmp(name, "--header") == 0) {
            if (!strchr(value, ':') || strpbrk(value, "\r\n"))
                usage("--header takes 'name: value'");
            headers[n_headers++] = argv[i];
        } else
            usage("unknown option");
    }
    if (!url)
        usage("--url is required");
    if (g.rate <= 0 || g.seconds <= 0 || g.max_conns <= 0 || g.warmup < 0 || g.deadline_ns <= 0)
        usage("--rate, --seconds, --connections and --deadline-ms must be positive, --warmup "
              "not negative");
    build_request(url, headers, n_headers);
    free(headers);
}

static void setup(void)
{
    /* the default 50 us of timer slack would let the kernel batch our wake-ups that late */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    g.warm = (long)(g.rate * g.warmup + 0.5);
    long measured = (long)(g.rate * g.seconds + 0.5);
    if (measured < 1)
        measured = 1;
    g.total = g.warm + measured;
    g.latencies = calloc((size_t)measured, sizeof *g.latencies);
    g.send_lag = calloc((size_t)measured, sizeof *g.send_lag);
    g.shed_lat = calloc((size_t)measured, sizeof *g.shed_lat);
    g.conns = calloc((size_t)g.max_conns, sizeof *g.conns);
    g.free_slots = calloc((size_t)g.max_conns, sizeof *g.free_slots);
    g.idle = calloc((size_t)g.max_conns, sizeof *g.idle);
    if (!g.latencies || !g.send_lag || !g.shed_lat || !g.conns || !g.free_slots || !g.idle) {
        fprintf(stderr, "openloop: out of memory\n");
        exit(1);
    }
    for (int i = g.max_conns - 1; i >= 0; i--)
        g.free_slots[g.n_free++] = i; /* slot 0 is taken first */
    g.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    g.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.epoll_fd < 0 || g.timer_fd < 0) {
        perror("openloop: epoll/timerfd");
        exit(1);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    epoll_ctl(g.epoll_fd, EPOLL_CTL_ADD, g.timer_fd, &ev);
    g.timer_armed = -1;
    g.t0 = now_ns() + 5 * 1000000LL; /* 5 ms to settle, as the Node generator did */
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setup();
    run();
    report(now_ns());
    return 0;
}
