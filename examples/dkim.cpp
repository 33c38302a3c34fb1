// The dkim milter as a server (docs/examples/dkim.md):
//     dkim --listen unix:/var/spool/postfix/milter/dkim-sign.sock --mode sign
//          --domain example.org --selector s1 --key /etc/dkim/s1.pem
//     dkim --listen inet:127.0.0.1:8892 --mode verify --authserv-id mx.example.org
#include "dkim.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::dkim_milter, argc, argv, examples::dkim_config); }
