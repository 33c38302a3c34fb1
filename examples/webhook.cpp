// The webhook milter as a server:
//     webhook --listen unix:/var/spool/postfix/milter/webhook.sock --url
//     https://127.0.0.1:8443/policy
// (--help for every option; docs/examples/webhook.md).
#include "webhook.hpp"

#include <cppmilter/asio/server.hpp>

// Boost.JSON compiled into this one file: Debian has no compiled libboost-json.
#include <boost/json/src.hpp>

int main(int argc, char** argv) {
    return cppmilter::run(examples::webhook, argc, argv, examples::webhook_options);
}
