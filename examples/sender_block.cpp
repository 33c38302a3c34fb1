// The smallest useful milter, as a server:
//     sender_block --listen unix:/run/sender_block.sock --block blocked.example
#include "sender_block.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::sender_block, argc, argv, examples::blocked_senders); }
