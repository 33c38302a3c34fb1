// The audit milter as a server:
//     audit --listen unix:/var/spool/postfix/milter/audit.sock --output /var/log/mail-audit.json
// (--help for every option; docs/examples/audit.md).
#include "audit.hpp"

#include <cppmilter/asio/server.hpp>

// Boost.JSON compiled into this one file: Debian has no compiled libboost-json.
#include <boost/json/src.hpp>

int main(int argc, char** argv) {
    return cppmilter::run(examples::audit, argc, argv, examples::audit_options);
}
