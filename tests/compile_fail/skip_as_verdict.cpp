// expect: skip can only be returned by a body hook \(declare its return type as cm::body_verdict\)
// A body hook that returns cm::skip through a plain cm::verdict: only cm::body_verdict holds skip.
#include <cppmilter/cppmilter.hpp>

#include <string_view>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_body([](const cm::body_chunk& b) -> cm::body_verdict {
#else
    cm::on_body([](const cm::body_chunk& b) -> cm::verdict {
#endif
        if (b.chunk.find("PING") != std::string_view::npos) return cm::reject;
        return cm::skip;
    }));
