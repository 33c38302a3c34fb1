// The align milter as a server (docs/examples/align.md):
//     align --listen unix:/var/spool/postfix/milter/align.sock --mode relaxed
#include "align.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) {
    return cppmilter::run(examples::align, argc, argv, examples::align_settings);
}
