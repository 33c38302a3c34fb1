// expect: a message_scoped<T> state type must be default-constructible
// Per-message state without a default constructor: it is created fresh for every message.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

struct counts {
#ifdef CPPMILTER_FIXED
    counts() = default;
#endif
    explicit counts(int first) : rcpts{first} {}
    int rcpts = 0;
};

inline constexpr auto m = cm::milter<cm::message_scoped<counts>>(
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message().rcpts; }));
