// The tagger milter as a server: tagger --listen unix:/run/tagger.sock
#include "tagger.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::tagger, argc, argv); }
