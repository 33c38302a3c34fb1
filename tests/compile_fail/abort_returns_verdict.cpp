// expect: abort and close hooks cannot answer the MTA: return void
// An on_abort hook that returns a verdict: the MTA expects no answer to ABORT.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

struct counts {
    int aborted = 0;
};

inline constexpr auto m = cm::milter<cm::connection_scoped<counts>>(
#ifdef CPPMILTER_FIXED
    cm::on_abort([](auto& ctx) { ++ctx.connection().aborted; })
#else
    cm::on_abort([](auto& ctx) {
        ++ctx.connection().aborted;
        return cm::next;
    })
#endif
);
