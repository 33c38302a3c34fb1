// The showcase milter as a server: showcase --listen unix:/run/showcase.sock
#include "showcase.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::showcase, argc, argv); }
