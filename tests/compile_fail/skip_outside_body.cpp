// expect: skip can only be returned by a body hook \(on_body\)
// cm::skip ("seen enough of the body") returned by a header hook: only body hooks can skip.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_body([](const cm::body_chunk&) -> cm::body_verdict { return cm::skip; })
#else
    cm::on_header([](const cm::header&) -> cm::body_verdict { return cm::skip; })
#endif
);
