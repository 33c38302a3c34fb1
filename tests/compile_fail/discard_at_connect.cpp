// expect: discard needs a message, and at CONNECT and HELO there is none yet
// A connect hook whose result type is cm::discard_t: there is no message to drop yet.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_connect([](const cm::connect_info&) { return cm::reject; })
#else
    cm::on_connect([](const cm::connect_info&) { return cm::discard; })
#endif
);
