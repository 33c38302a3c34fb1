// expect: abort and close hooks run synchronously \(nothing waits for them\)
// An on_close hook that returns an awaitable: nothing awaits a hook when the MTA has gone.
#include <cppmilter/cppmilter.hpp>

#include <boost/asio/awaitable.hpp>

namespace cm = cppmilter;

struct counts {
    int closed = 0;
};

inline constexpr auto m = cm::milter<cm::connection_scoped<counts>>(
#ifdef CPPMILTER_FIXED
    cm::on_close([](auto& ctx) { ++ctx.connection().closed; })
#else
    cm::on_close([](auto& ctx) -> boost::asio::awaitable<void> {
        ++ctx.connection().closed;
        co_return;
    })
#endif
);
