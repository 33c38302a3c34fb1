/*
 * libmilter_stamp — the "stamp" benchmark milter written against Sendmail's
 * libmilter, the way a typical libmilter user writes it: every callback
 * continues, end of message adds "X-Bench: 1". No xxfi_negotiate, so
 * libmilter negotiates with its defaults.
 *
 * Usage: libmilter_stamp PORT | unix:/PATH
 *        PORT: listens on TCP 127.0.0.1:PORT only ("inet:PORT@127.0.0.1");
 *        unix:/PATH: listens on that UNIX stream socket only, passed to
 *        smfi_setconn as is. smfi_opensocket(1) removes a stale socket
 *        file first; this program removes the file again on SIGTERM/SIGINT.
 * Build: gcc -O2 -Wall -Wextra -o libmilter_stamp libmilter_stamp.c -lmilter -lpthread
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

static sfsistat stamp_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void)ctx; (void)host; (void)addr;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_helo(SMFICTX *ctx, char *helo)
{
    (void)ctx; (void)helo;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_envfrom(SMFICTX *ctx, char **argv)
{
    (void)ctx; (void)argv;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_envrcpt(SMFICTX *ctx, char **argv)
{
    (void)ctx; (void)argv;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_data(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_header(SMFICTX *ctx, char *name, char *value)
{
    (void)ctx; (void)name; (void)value;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_eoh(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    (void)ctx; (void)chunk; (void)len;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_eom(SMFICTX *ctx)
{
    if (smfi_addheader(ctx, "X-Bench", "1") != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_abort(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_close(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat stamp_unknown(SMFICTX *ctx, const char *cmd)
{
    (void)ctx; (void)cmd;
    return SMFIS_CONTINUE;
}

static struct smfiDesc stamp_desc = {
    "libmilter_stamp", /* xxfi_name */
    SMFI_VERSION,      /* xxfi_version */
    SMFIF_ADDHDRS,     /* xxfi_flags */
    stamp_connect,     /* xxfi_connect */
    stamp_helo,        /* xxfi_helo */
    stamp_envfrom,     /* xxfi_envfrom */
    stamp_envrcpt,     /* xxfi_envrcpt */
    stamp_header,      /* xxfi_header */
    stamp_eoh,         /* xxfi_eoh */
    stamp_body,        /* xxfi_body */
    stamp_eom,         /* xxfi_eom */
    stamp_abort,       /* xxfi_abort */
    stamp_close,       /* xxfi_close */
    stamp_unknown,     /* xxfi_unknown */
    stamp_data,        /* xxfi_data */
    NULL,              /* xxfi_negotiate: libmilter's defaults */
};

/*
 * smfi_main runs in its own thread so that the main thread can sigwait for
 * SIGTERM/SIGINT. kill(2) offers a process-directed signal to the main
 * thread first, so the signal lands here rather than in libmilter's own
 * signal thread, whose smfi_stop path only takes effect at the listener's
 * next poll timeout (about 5 s). The milter itself runs unchanged.
 */
static void *milter_thread(void *arg)
{
    (void)arg;
    /* smfi_main returns only after a stop or a fatal listener error. */
    _exit(smfi_main() == MI_SUCCESS ? 0 : 1);
    return NULL;
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
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT | unix:/PATH\n", argv[0]);
        return 64;
    }
    char conn[sizeof "unix:" + sizeof ((struct sockaddr_un *)0)->sun_path];
    const char *unix_path = NULL;
    if (strncmp(argv[1], "unix:", 5) == 0) {
        unix_path = argv[1] + 5;
        if (unix_path[0] != '/') {
            fprintf(stderr, "%s: bad socket path '%s' (must be absolute)\n", argv[0],
                    unix_path);
            return 64;
        }
        /* libmilter's own limit: the path and its NUL must fit sun_path
         * with a byte to spare. */
        if (strlen(unix_path) + 1 >= sizeof ((struct sockaddr_un *)0)->sun_path) {
            fprintf(stderr, "%s: socket path '%s' too long\n", argv[0], unix_path);
            return 64;
        }
        /* smfi_opensocket(1) unlinks a stale socket but refuses (in syslog
         * only) anything else there: say so here. */
        struct stat st;
        if (stat(unix_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "%s: %s exists and is not a socket\n", argv[0], unix_path);
            return 1;
        }
        snprintf(conn, sizeof conn, "%s", argv[1]);
    } else {
        int port = parse_port(argv[1]);
        if (port < 0) {
            fprintf(stderr, "%s: bad port '%s'\n", argv[0], argv[1]);
            return 64;
        }
        snprintf(conn, sizeof conn, "inet:%d@127.0.0.1", port);
    }

    /* Allow many concurrent connections: soft fd limit up to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }

    if (smfi_setconn(conn) != MI_SUCCESS) {
        fprintf(stderr, "%s: smfi_setconn(%s) failed\n", argv[0], conn);
        return 1;
    }
    if (smfi_setbacklog(4096) != MI_SUCCESS) {
        fprintf(stderr, "%s: smfi_setbacklog failed\n", argv[0]);
        return 1;
    }
    if (smfi_settimeout(30) != MI_SUCCESS) {
        fprintf(stderr, "%s: smfi_settimeout failed\n", argv[0]);
        return 1;
    }
    if (smfi_register(stamp_desc) != MI_SUCCESS) {
        fprintf(stderr, "%s: smfi_register failed\n", argv[0]);
        return 1;
    }
    /* 1 = rmsocket: for unix: libmilter unlinks a stale socket file first. */
    if (smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "%s: cannot listen on %s\n", argv[0], conn);
        return 1;
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* inherited by every thread */

    pthread_t tid;
    int rc = pthread_create(&tid, NULL, milter_thread, NULL);
    if (rc != 0) {
        fprintf(stderr, "%s: pthread_create: %s\n", argv[0], strerror(rc));
        return 1;
    }
    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    /* Not smfi_stop(): it blocks until the listener's next poll timeout
     * (measured: about 4.5 s). Sessions still open are simply dropped.
     * Nor does libmilter remove its socket file on that path (nor, as root,
     * on any), so do it here. */
    if (unix_path)
        (void)unlink(unix_path);
    _exit(0);
}
