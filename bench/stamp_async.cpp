// examples::stamp with an asynchronous end-of-message hook that awaits nothing: what the
// coroutine path costs per message (bench/README.md; the "async" rows of bench/run.sh).
#include <cppmilter/asio/server.hpp>
#include <cppmilter/cppmilter.hpp>

#include <boost/asio/awaitable.hpp>

namespace cm = cppmilter;

inline constexpr auto stamp_async = cm::milter(
    cm::on_end_of_message([](const cm::end_of_message&) -> boost::asio::awaitable<cm::eom<cm::add_header>> {
        co_return cm::add_header{"X-Bench", "1"};
    }));

int main(int argc, char** argv) { return cppmilter::run(stamp_async, argc, argv); }
