// cppmilter::dns (include/cppmilter/contrib/dns.hpp): TXT and address lookups against a fake
// DNS server started by the test (tests/examples/fake_dns.py on 127.0.0.1).
#define BOOST_TEST_MODULE cppmilter dns
#include "dkim_fake_dns.hpp"

#include <cppmilter/contrib/dns.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace dns = cppmilter::dns;
using cppmilter::test::fake_dns;
using namespace std::chrono_literals;

namespace {

const std::string long_record(400, 'x'); // two character-strings on the wire (a UDP answer under 512 bytes)

std::string zone() {
    return "one.example.test v=DKIM1; p=abc\n"
           "two.example.test first record\n"
           "two.example.test second record\n"
           "long.example.test " + long_record + "\n"
           "broken.example.test SERVFAIL\n"
           "v4.example.test A 127.0.0.1\n"
           "v4.example.test A 192.0.2.7\n"
           "v6.example.test AAAA 2001:db8::7\n"
           "both.example.test A 192.0.2.8\n"
           "both.example.test AAAA 2001:db8::8\n"
           "both.example.test not an address\n";
}

/// Runs `body` as a coroutine on a fresh io_context until it and everything it started ends.
template <class F>
void run(F body) {
    asio::io_context io;
    std::exception_ptr failure;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
}

dns::resolver_options at(const std::string& server) {
    dns::resolver_options o;
    o.servers = {server};
    return o;
}

dns::txt_result lookup(const std::string& server, std::string name, std::chrono::milliseconds timeout = 5s) {
    dns::txt_result r;
    run([&]() -> asio::awaitable<void> { r = co_await dns::resolve_txt(name, timeout, at(server)); });
    return r;
}

dns::address_result addresses(const std::string& server, std::string name,
                              std::chrono::milliseconds timeout = 5s) {
    dns::address_result r;
    run([&]() -> asio::awaitable<void> {
        dns::resolver resolver{co_await asio::this_coro::executor, at(server)};
        r = co_await resolver.resolve_addresses(name, timeout);
    });
    return r;
}

bool has(const dns::address_result& r, const char* address) {
    return std::ranges::find(r.addresses, asio::ip::make_address(address)) != r.addresses.end();
}

} // namespace

BOOST_AUTO_TEST_SUITE(dns_txt)

BOOST_AUTO_TEST_CASE(found_records_are_joined_and_kept_apart) {
    fake_dns server{zone()};
    auto one = lookup(server.server(), "one.example.test");
    BOOST_TEST(static_cast<int>(one.status) == static_cast<int>(dns::txt_status::found));
    BOOST_TEST(one.records == std::vector<std::string>{"v=DKIM1; p=abc"}, boost::test_tools::per_element());
    auto two = lookup(server.server(), "TWO.example.test."); // case and the root dot do not matter
    BOOST_TEST(two.records == (std::vector<std::string>{"first record", "second record"}), boost::test_tools::per_element());
    auto longer = lookup(server.server(), "long.example.test");
    BOOST_REQUIRE_EQUAL(longer.records.size(), 1u);
    BOOST_TEST(longer.records[0] == long_record);
}

BOOST_AUTO_TEST_CASE(no_record_and_temporary_failure_are_told_apart) {
    fake_dns server{zone()};
    auto nxdomain = lookup(server.server(), "absent.example.test");
    BOOST_TEST(static_cast<int>(nxdomain.status) == static_cast<int>(dns::txt_status::no_record));
    BOOST_TEST(nxdomain.records.empty());
    auto servfail = lookup(server.server(), "broken.example.test");
    BOOST_TEST(static_cast<int>(servfail.status) == static_cast<int>(dns::txt_status::temporary_failure));
    BOOST_TEST(!servfail.reason.empty());
}

BOOST_AUTO_TEST_CASE(a_silent_server_is_a_timeout) {
    fake_dns silent{zone(), true};
    auto r = lookup(silent.server(), "one.example.test", 300ms);
    BOOST_TEST(static_cast<int>(r.status) == static_cast<int>(dns::txt_status::temporary_failure));
    BOOST_TEST(r.reason == "timeout");
}

BOOST_AUTO_TEST_CASE(several_lookups_at_once_in_order) {
    fake_dns server{zone()};
    std::vector<dns::txt_result> results;
    // (built outside the coroutine: g++ 12 cannot compile an initializer list of strings in one)
    const std::vector<std::string> names{"two.example.test", "absent.example.test", "one.example.test"};
    run([&]() -> asio::awaitable<void> {
        dns::resolver r{co_await asio::this_coro::executor, at(server.server())};
        results = co_await r.resolve_txt(names, 5s);
    });
    BOOST_REQUIRE_EQUAL(results.size(), 3u);
    BOOST_TEST(results[0].records.size() == 2u);
    BOOST_TEST(static_cast<int>(results[1].status) == static_cast<int>(dns::txt_status::no_record));
    BOOST_TEST(results[2].records == std::vector<std::string>{"v=DKIM1; p=abc"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_waiting_lookup_does_not_block_its_thread) {
    // One thread. While a lookup waits for a server that never answers, another coroutine on
    // the same io_context runs to its end: it finishes first.
    fake_dns silent{zone(), true};
    std::vector<std::string> order;
    asio::io_context io;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        auto r = co_await dns::resolve_txt("one.example.test", 2s, at(silent.server()));
        order.push_back("lookup " + r.reason);
    }, asio::detached);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        asio::steady_timer t{co_await asio::this_coro::executor, 10ms};
        co_await t.async_wait(asio::use_awaitable);
        order.push_back("other");
    }, asio::detached);
    io.run();
    BOOST_TEST(order == (std::vector<std::string>{"other", "lookup timeout"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_server_addresses_are_refused_up_front) {
    BOOST_TEST(dns::resolver::check_servers({"127.0.0.1:53", "[::1]:5353"}).empty());
    BOOST_TEST(!dns::resolver::check_servers({"not an address"}).empty());
    asio::io_context io;
    BOOST_CHECK_THROW((dns::resolver{io.get_executor(), at("999.1.1.1")}), std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dns_addresses)

BOOST_AUTO_TEST_CASE(a_and_aaaa_records_are_found) {
    fake_dns server{zone()};
    auto v4 = addresses(server.server(), "v4.example.test");
    BOOST_TEST(static_cast<int>(v4.status) == static_cast<int>(dns::lookup_status::found));
    BOOST_TEST(v4.addresses.size() == 2u);
    BOOST_TEST(has(v4, "127.0.0.1"));
    BOOST_TEST(has(v4, "192.0.2.7"));
    auto v6 = addresses(server.server(), "v6.example.test");
    BOOST_TEST(static_cast<int>(v6.status) == static_cast<int>(dns::lookup_status::found));
    BOOST_REQUIRE_EQUAL(v6.addresses.size(), 1u);
    BOOST_TEST(v6.addresses[0] == asio::ip::make_address("2001:db8::7"));
    auto both = addresses(server.server(), "both.example.test"); // the TXT record is no address
    BOOST_TEST(both.addresses.size() == 2u);
    BOOST_TEST(has(both, "192.0.2.8"));
    BOOST_TEST(has(both, "2001:db8::8"));
    // A numeric name needs no server.
    auto numeric = addresses(server.server(), "192.0.2.9");
    BOOST_REQUIRE_EQUAL(numeric.addresses.size(), 1u);
    BOOST_TEST(numeric.addresses[0] == asio::ip::make_address("192.0.2.9"));
}

BOOST_AUTO_TEST_CASE(no_record_and_temporary_failure_are_told_apart) {
    fake_dns server{zone()};
    auto nxdomain = addresses(server.server(), "absent.example.test");
    BOOST_TEST(static_cast<int>(nxdomain.status) ==
               static_cast<int>(dns::lookup_status::no_record));
    BOOST_TEST(nxdomain.addresses.empty());
    BOOST_TEST_MESSAGE("NXDOMAIN: " << nxdomain.reason);
    BOOST_TEST(!nxdomain.reason.empty());
    auto nodata = addresses(server.server(), "one.example.test"); // TXT only
    BOOST_TEST(static_cast<int>(nodata.status) == static_cast<int>(dns::lookup_status::no_record));
    auto servfail = addresses(server.server(), "broken.example.test");
    BOOST_TEST(static_cast<int>(servfail.status) ==
               static_cast<int>(dns::lookup_status::temporary_failure));
    BOOST_TEST(!servfail.reason.empty());
}

BOOST_AUTO_TEST_CASE(a_silent_server_is_a_timeout_within_the_timeout) {
    fake_dns silent{zone(), true};
    const auto started = std::chrono::steady_clock::now();
    auto r = addresses(silent.server(), "v4.example.test", 300ms);
    const auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST(static_cast<int>(r.status) ==
               static_cast<int>(dns::lookup_status::temporary_failure));
    BOOST_TEST(r.reason == "timeout");
    BOOST_TEST(took >= 250ms);
    BOOST_TEST(took < 2s);
}

BOOST_AUTO_TEST_SUITE_END()
