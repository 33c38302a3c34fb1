/* A small milter written against Sendmail's libmilter (Debian libmilter-dev), the peer of
 * client_libmilter_tests: proves the MTA-side client library talks to the reference milter
 * implementation, not only to cppmilter's own servers.
 *
 *     libmilter_stamp unix:/tmp/dir/milter.sock      (or inet:PORT@127.0.0.1)
 *
 * Every event continues. MAIL rejects senders containing "blocked" with 550 5.7.1. End of
 * message adds "X-Libmilter: 1"; when the message had "X-Do: all" it also replaces the body,
 * adds and deletes a recipient, changes the sender, changes the first Subject, inserts
 * "X-First: 1" at the top and quarantines the message. Runs until SIGTERM / SIGINT. */
#include <libmilter/mfapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct message_state {
    int do_all; /* the message had "X-Do: all" */
};

static struct message_state* state_of(SMFICTX* ctx) {
    struct message_state* s = (struct message_state*)smfi_getpriv(ctx);
    if (s == NULL) {
        s = (struct message_state*)calloc(1, sizeof *s);
        if (s != NULL) smfi_setpriv(ctx, s);
    }
    return s;
}

static void reset(SMFICTX* ctx) {
    struct message_state* s = (struct message_state*)smfi_getpriv(ctx);
    if (s != NULL) s->do_all = 0;
}

static sfsistat on_connect(SMFICTX* ctx, char* host, _SOCK_ADDR* addr) {
    (void)host;
    (void)addr;
    return state_of(ctx) != NULL ? SMFIS_CONTINUE : SMFIS_TEMPFAIL;
}

static sfsistat on_helo(SMFICTX* ctx, char* name) {
    (void)ctx;
    (void)name;
    return SMFIS_CONTINUE;
}

static sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    reset(ctx);
    if (argv[0] != NULL && strstr(argv[0], "blocked") != NULL) {
        smfi_setreply(ctx, "550", "5.7.1", "blocked by libmilter");
        return SMFIS_REJECT;
    }
    return SMFIS_CONTINUE;
}

static sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}

static sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    struct message_state* s = state_of(ctx);
    if (s != NULL && strcasecmp(name, "X-Do") == 0 && strcmp(value, "all") == 0) s->do_all = 1;
    return SMFIS_CONTINUE;
}

static sfsistat on_eoh(SMFICTX* ctx) {
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t length) {
    (void)ctx;
    (void)chunk;
    (void)length;
    return SMFIS_CONTINUE;
}

static sfsistat on_eom(SMFICTX* ctx) {
    struct message_state* s = state_of(ctx);
    static char new_body[] = "new body\r\n";
    if (smfi_addheader(ctx, "X-Libmilter", "1") != MI_SUCCESS) return SMFIS_TEMPFAIL;
    if (s != NULL && s->do_all) {
        if (smfi_replacebody(ctx, (unsigned char*)new_body, (int)strlen(new_body)) != MI_SUCCESS ||
            smfi_addrcpt(ctx, "<added@example.test>") != MI_SUCCESS ||
            smfi_delrcpt(ctx, "<gone@example.test>") != MI_SUCCESS ||
            smfi_chgfrom(ctx, "<new@example.test>", NULL) != MI_SUCCESS ||
            smfi_chgheader(ctx, "Subject", 1, "changed") != MI_SUCCESS ||
            smfi_insheader(ctx, 0, "X-First", "1") != MI_SUCCESS || smfi_quarantine(ctx, "held") != MI_SUCCESS)
            return SMFIS_TEMPFAIL;
    }
    reset(ctx);
    return SMFIS_CONTINUE;
}

static sfsistat on_abort(SMFICTX* ctx) {
    reset(ctx);
    return SMFIS_CONTINUE;
}

static sfsistat on_close(SMFICTX* ctx) {
    free(smfi_getpriv(ctx));
    smfi_setpriv(ctx, NULL);
    return SMFIS_CONTINUE;
}

int main(int argc, char** argv) {
    struct smfiDesc desc;
    memset(&desc, 0, sizeof desc);
    desc.xxfi_name = "libmilter_stamp";
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGFROM |
                      SMFIF_QUARANTINE;
    desc.xxfi_connect = on_connect;
    desc.xxfi_helo = on_helo;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_header = on_header;
    desc.xxfi_eoh = on_eoh;
    desc.xxfi_body = on_body;
    desc.xxfi_eom = on_eom;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;

    if (argc != 2) {
        fprintf(stderr, "usage: %s unix:/path | inet:PORT@HOST\n", argv[0]);
        return 64;
    }
    if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_settimeout(10) != MI_SUCCESS) {
        fprintf(stderr, "libmilter_stamp: bad connection spec %s\n", argv[1]);
        return 64;
    }
    if (smfi_register(desc) != MI_SUCCESS) {
        fprintf(stderr, "libmilter_stamp: smfi_register failed\n");
        return 70;
    }
    if (smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "libmilter_stamp: cannot listen on %s\n", argv[1]);
        return 71;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
