// The seal milter as a server:
//     seal --listen unix:/var/spool/postfix/milter/seal.sock --public-key /etc/seal/2026-12.pub
// (--help for every option; docs/examples/seal.md).
#include "seal.hpp"

#include <cppmilter/asio/server.hpp>

// Boost.JSON compiled into this one file: Debian has no compiled libboost-json.
#include <boost/json/src.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::seal, argc, argv, examples::seal_options); }
