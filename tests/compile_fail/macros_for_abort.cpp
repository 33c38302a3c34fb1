// expect: the MTA sends no macros for this stage
// Macros declared for a stage that has none (unknown, abort and close): declare them for the
// stage that delivers them; hooks of later stages can read them too.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

struct counts {
    int aborted_after_data = 0;
};

inline constexpr auto m = cm::milter<cm::connection_scoped<counts>>(
#ifdef CPPMILTER_FIXED
    cm::macros<cm::stage::data, "i">{},
#else
    cm::macros<cm::stage::abort, "i">{},
#endif
    cm::on_abort([](auto& ctx) {
        if (cm::macro<"i">(ctx)) ++ctx.connection().aborted_after_data; // a queue id: DATA was seen
    }));
