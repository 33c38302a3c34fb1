// The benchmark milter as a server: stamp --listen inet:9000@127.0.0.1
#include "stamp.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::stamp, argc, argv); }
