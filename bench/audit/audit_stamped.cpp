// The audit milter with the stamp milter behind it, for bench/audit/run.sh: loadgen counts a
// message only when end of message adds "X-Bench: 1", which audit (it only observes) never
// does. The stamp's cost is in the baseline it is compared with (the stamp milter alone).
#include "audit.hpp"
#include "stamp.hpp"

#include <cppmilter/asio/server.hpp>

#include <boost/json/src.hpp>

inline constexpr auto audit_stamped = cppmilter::pipeline(examples::audit, examples::stamp);

int main(int argc, char** argv) {
    return cppmilter::run(audit_stamped, argc, argv, examples::audit_options);
}
