// ratelimit, then stamp: the load generator wants "X-Bench: 1" at end of message (stamp adds
// it), and ratelimit adds its Redis call at MAIL FROM. Measured against stamp alone by
// bench/ratelimit/run.sh: the difference is what one EVALSHA per message costs.
#include "ratelimit.hpp"
#include "stamp.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) {
    static constexpr auto both = cppmilter::pipeline(examples::ratelimit, examples::stamp);
    return cppmilter::run(both, argc, argv, examples::ratelimit_settings);
}
