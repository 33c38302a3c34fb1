// examples::stamp with every hook typed cm::verdict: every command is answered, the round
// trips of a libmilter filter without a negotiate callback (bench/run.sh compares both).
#include "stamp.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::stamp_answering, argc, argv); }
