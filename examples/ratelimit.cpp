// The ratelimit milter as a server (docs/examples/ratelimit.md):
//     ratelimit --listen unix:/var/spool/postfix/milter/ratelimit.sock --limit 100/1h --redis 127.0.0.1:6379
#include "ratelimit.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) {
    return cppmilter::run(examples::ratelimit, argc, argv, examples::ratelimit_settings);
}
