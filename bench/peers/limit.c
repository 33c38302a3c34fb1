/*
 * limit — "the limit" for the stamp benchmark: the least work any milter
 * could do on the same round trips. A single-threaded epoll server that
 * parses nothing beyond the milter framing and answers by command letter:
 *
 *   'O'  -> 'O' version 6, actions 0x01 (ADDHDRS), protocol PROTOCOL_HEX
 *   'D' 'A' 'K' -> nothing            'Q' -> close the connection
 *   'E'  -> 'h' "X-Bench\0" "1\0", then 'c'
 *   'C' 'H' 'M' 'R' 'T' 'L' 'N' 'B' 'U' -> 'c', unless PROTOCOL_HEX has the
 *        matching SMFIP_NR_* bit, then nothing
 *   anything else, or a length of 0 or above 1 MiB -> close the connection
 *
 * All replies produced by one read() go out in one write().
 *
 * Usage: limit PORT|unix:/PATH [PROTOCOL_HEX]
 *        PORT: listens on TCP 127.0.0.1:PORT only (TCP_NODELAY on accepted
 *        sockets); unix:/PATH: listens on that UNIX stream socket only (a
 *        stale socket file there is removed first, and the file again on
 *        SIGTERM/SIGINT).
 * Build: gcc -O2 -Wall -Wextra -Werror -o limit limit.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME (1u << 20)     /* largest accepted N (letter + payload) */
#define READ_CHUNK (64u * 1024u) /* bytes asked of one read() at least   */
#define MAX_EVENTS 256

struct conn {
    int fd;
    uint32_t events; /* what epoll currently watches for this fd */
    unsigned char *in;
    size_t in_len, in_cap;
    unsigned char *out;
    size_t out_off, out_len, out_cap;
    struct conn *prev, *next;
};

static int g_epfd = -1;
static uint32_t g_protocol;
static struct conn *g_conns; /* all open connections, for cleanup */
static int g_spare_fd = -1;  /* kept to shed connections on EMFILE */
static int g_tcp;            /* listening on TCP (not a UNIX socket) */

/* epoll tags for the two non-connection fds */
static char g_tag_listen, g_tag_signal;

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
           (uint32_t)p[3];
}

static void conn_close(struct conn *c)
{
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        g_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->in);
    free(c->out);
    free(c);
}

static int conn_watch(struct conn *c, uint32_t events)
{
    if (c->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g_epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return -1;
    c->events = events;
    return 0;
}

/* Appends one reply packet (letter + payload) to the output buffer. */
static int out_packet(struct conn *c, char letter, const void *payload, size_t len)
{
    size_t need = c->out_len + 5 + len;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < need)
            cap *= 2;
        unsigned char *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    unsigned char *w = c->out + c->out_len;
    put_u32(w, (uint32_t)(1 + len));
    w[4] = (unsigned char)letter;
    if (len)
        memcpy(w + 5, payload, len);
    c->out_len = need;
    return 0;
}

/* One write() of everything pending. 0: all sent, 1: some left, -1: error. */
static int out_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -1;
        }
        c->out_off += (size_t)n;
        if (c->out_off < c->out_len)
            return 1; /* partial: wait for EPOLLOUT rather than spin */
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* The reply to one command. 0: go on, 1: close after flushing, -1: close now. */
static int on_command(struct conn *c, unsigned char letter)
{
    static const unsigned char addheader[] = "X-Bench\0" "1"; /* + implicit NUL */
    uint32_t nr_bit;

    switch (letter) {
    case 'O': {
        unsigned char p[12];
        put_u32(p, 6);
        put_u32(p + 4, 0x01);
        put_u32(p + 8, g_protocol);
        return out_packet(c, 'O', p, sizeof p);
    }
    case 'D':
    case 'A':
    case 'K':
        return 0;
    case 'Q':
        return 1;
    case 'E':
        if (out_packet(c, 'h', addheader, sizeof addheader) != 0)
            return -1;
        return out_packet(c, 'c', NULL, 0);
    case 'C': nr_bit = 0x1000; break;
    case 'H': nr_bit = 0x2000; break;
    case 'M': nr_bit = 0x4000; break;
    case 'R': nr_bit = 0x8000; break;
    case 'T': nr_bit = 0x10000; break;
    case 'U': nr_bit = 0x20000; break;
    case 'N': nr_bit = 0x40000; break;
    case 'B': nr_bit = 0x80000; break;
    case 'L': nr_bit = 0x80; break;
    default:
        return -1;
    }
    if (g_protocol & nr_bit)
        return 0;
    return out_packet(c, 'c', NULL, 0);
}

/* Frames and answers every complete packet in the input buffer. */
static int process_input(struct conn *c)
{
    size_t pos = 0;
    int rc = 0;
    while (c->in_len - pos >= 4) {
        uint32_t n = get_u32(c->in + pos);
        if (n == 0 || n > MAX_FRAME) {
            rc = -1;
            break;
        }
        if (c->in_len - pos - 4 < n)
            break;
        rc = on_command(c, c->in[pos + 4]);
        pos += 4 + (size_t)n;
        if (rc != 0)
            break;
    }
    if (pos > 0 && rc == 0) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    return rc;
}

static void on_readable(struct conn *c)
{
    /* Room for at least READ_CHUNK more bytes, or the rest of a big frame. */
    size_t want = c->in_len + READ_CHUNK;
    if (c->in_len >= 4) {
        uint32_t n = get_u32(c->in);
        if (n > 0 && n <= MAX_FRAME && 4 + (size_t)n > want)
            want = 4 + (size_t)n;
    }
    if (want > c->in_cap) {
        unsigned char *p = realloc(c->in, want);
        if (!p) {
            conn_close(c);
            return;
        }
        c->in = p;
        c->in_cap = want;
    }

    ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        conn_close(c);
        return;
    }
    if (n == 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;

    int rc = process_input(c);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    int fl = c->out_len ? out_flush(c) : 0;
    if (rc > 0 || fl < 0) { /* QUIT (replies before it were sent) or error */
        conn_close(c);
        return;
    }
    if (fl > 0 && conn_watch(c, EPOLLOUT) != 0) /* stop reading until drained */
        conn_close(c);
}

static void on_writable(struct conn *c)
{
    int fl = out_flush(c);
    if (fl < 0) {
        conn_close(c);
        return;
    }
    if (fl == 0) {
        if (conn_watch(c, EPOLLIN) != 0) {
            conn_close(c);
            return;
        }
        /* Commands already buffered while we waited. */
        if (c->in_len >= 4) {
            int rc = process_input(c);
            if (rc < 0) {
                conn_close(c);
                return;
            }
            fl = c->out_len ? out_flush(c) : 0;
            if (rc > 0 || fl < 0)
                conn_close(c);
            else if (fl > 0 && conn_watch(c, EPOLLOUT) != 0)
                conn_close(c);
        }
    }
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && g_spare_fd >= 0) {
                /* Out of fds: accept and drop one so the backlog moves. */
                close(g_spare_fd);
                g_spare_fd = -1;
                fd = accept(lfd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                g_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                fprintf(stderr, "limit: out of file descriptors, connection dropped\n");
                continue;
            }
            return; /* EAGAIN, or an error to retry on the next event */
        }
        if (g_tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = g_conns;
        if (g_conns)
            g_conns->prev = c;
        g_conns = c;
    }
}

static int parse_port(const char *s)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
        return -1;
    return (int)v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT|unix:/PATH [PROTOCOL_HEX]\n", argv[0]);
        return 64;
    }
    int port = -1;
    const char *unix_path = NULL;
    struct sockaddr_un sun_addr;
    memset(&sun_addr, 0, sizeof sun_addr);
    if (strncmp(argv[1], "unix:", 5) == 0) {
        unix_path = argv[1] + 5;
        if (unix_path[0] != '/') {
            fprintf(stderr, "%s: bad socket path '%s' (must be absolute)\n", argv[0],
                    unix_path);
            return 64;
        }
        if (strlen(unix_path) >= sizeof sun_addr.sun_path) {
            fprintf(stderr, "%s: socket path '%s' too long\n", argv[0], unix_path);
            return 64;
        }
        sun_addr.sun_family = AF_UNIX;
        memcpy(sun_addr.sun_path, unix_path, strlen(unix_path) + 1);
    } else {
        port = parse_port(argv[1]);
        if (port < 0) {
            fprintf(stderr, "%s: bad port '%s'\n", argv[0], argv[1]);
            return 64;
        }
        g_tcp = 1;
    }
    if (argc == 3) {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(argv[2], &end, 16);
        if (errno != 0 || end == argv[2] || *end != '\0' || v > 0xFFFFFFFFul) {
            fprintf(stderr, "%s: bad PROTOCOL_HEX '%s'\n", argv[0], argv[2]);
            return 64;
        }
        g_protocol = (uint32_t)v;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) {
        perror("limit: sigprocmask");
        return 1;
    }
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        perror("limit: signalfd");
        return 1;
    }

    int lfd = socket(g_tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("limit: socket");
        return 1;
    }
    if (g_tcp) {
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            fprintf(stderr, "limit: bind 127.0.0.1:%d: %s\n", port, strerror(errno));
            return 1;
        }
    } else {
        /* Remove a stale socket file, but nothing else that is there. */
        struct stat st;
        if (stat(unix_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                fprintf(stderr, "limit: %s exists and is not a socket\n", unix_path);
                return 1;
            }
            if (unlink(unix_path) != 0) {
                fprintf(stderr, "limit: unlink %s: %s\n", unix_path, strerror(errno));
                return 1;
            }
        }
        if (bind(lfd, (struct sockaddr *)&sun_addr, sizeof sun_addr) != 0) {
            fprintf(stderr, "limit: bind %s: %s\n", unix_path, strerror(errno));
            return 1;
        }
    }
    if (listen(lfd, 4096) != 0) {
        perror("limit: listen");
        return 1;
    }
    g_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_epfd < 0) {
        perror("limit: epoll_create1");
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &g_tag_listen};
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, lfd, &ev) != 0) {
        perror("limit: epoll_ctl");
        return 1;
    }
    ev.data.ptr = &g_tag_signal;
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, sfd, &ev) != 0) {
        perror("limit: epoll_ctl");
        return 1;
    }

    struct epoll_event events[MAX_EVENTS];
    int running = 1;
    while (running) {
        int n = epoll_wait(g_epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("limit: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &g_tag_signal) {
                running = 0;
                break;
            }
            if (tag == &g_tag_listen) {
                on_accept(lfd);
                continue;
            }
            struct conn *c = tag;
            uint32_t e = events[i].events;
            if (c->events & EPOLLOUT) {
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    on_writable(c);
            } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(c);
            }
            /* c may be freed now; epoll reports an fd at most once per
             * batch, so no later entry of this batch points to it. */
        }
    }

    while (g_conns)
        conn_close(g_conns);
    close(lfd);
    if (unix_path)
        unlink(unix_path);
    close(sfd);
    close(g_epfd);
    if (g_spare_fd >= 0)
        close(g_spare_fd);
    return 0;
}
