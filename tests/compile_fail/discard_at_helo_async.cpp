// expect: discard needs a message, and at CONNECT and HELO there is none yet
// The same through an asynchronous helo hook: the awaited result type tells.
#include <cppmilter/cppmilter.hpp>

#include <boost/asio/awaitable.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_mail_from([](const cm::mail_from&) -> boost::asio::awaitable<cm::discard_t> { co_return cm::discard; })
#else
    cm::on_helo([](const cm::helo_info&) -> boost::asio::awaitable<cm::discard_t> { co_return cm::discard; })
#endif
);
