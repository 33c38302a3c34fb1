// Measures what one hook blocking for 1 s does to the other connections' verdict latency: MAIL
// round trips of `others` connections, unloaded and while one connection's MAIL hook sleeps 1 s
// again and again, with the hook declared cm::blocking and (for comparison) plain.
// Not a test (no timing assertions in tests): run it by hand,
//     dsl_blocking_latency [seconds per scenario] [other connections] [server threads]
#include "support/mta_client.hpp"

#include <cppmilter/asio/server.hpp>
#include <cppmilter/cppmilter.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace cm = cppmilter;
namespace srv = cppmilter::asio_server;
namespace proto = cppmilter::proto;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

cm::verdict lookup(const cm::mail_from& m) {
    if (m.address.starts_with("<slow@")) std::this_thread::sleep_for(1s); // a resolver that hangs
    return cm::next;
}
inline constexpr auto declared = cm::milter(cm::on_mail_from(cm::blocking([](const cm::mail_from& m) { return lookup(m); })));
inline constexpr auto plain = cm::milter(cm::on_mail_from([](const cm::mail_from& m) { return lookup(m); }));

struct figures {
    std::size_t verdicts = 0;
    double p50_us = 0, p99_us = 0, max_us = 0;
    int slow_done = 0;
};

template <class Pipeline>
figures measure(const Pipeline& pipeline, bool with_slow, std::chrono::seconds length, int others, unsigned threads) {
    srv::server_options o;
    o.listen = {"inet:127.0.0.1:0"};
    o.threads = threads;
    o.hook_timeout = 30s;
    o.shutdown_timeout = 5s;
    srv::server<Pipeline> s{pipeline, o};
    const auto address = s.start().at(0);
    std::atomic<bool> stop{false};
    std::atomic<int> slow_done{0};
    std::vector<std::vector<double>> samples(others);
    std::vector<std::thread> clients;
    const auto end = clock_type::now() + length;
    std::thread slow;
    if (with_slow)
        slow = std::thread{[&] {
            cppmilter::test::mta_client mta{30s};
            mta.connect(address);
            mta.negotiate();
            while (!stop) {
                mta.command(proto::mail{"<slow@example.test>", {}});
                mta.command(proto::abort{});
                ++slow_done;
            }
            mta.command(proto::quit{});
        }};
    for (int i = 0; i < others; ++i)
        clients.emplace_back([&, i] {
            cppmilter::test::mta_client mta{30s};
            mta.connect(address);
            mta.negotiate();
            while (clock_type::now() < end) {
                const auto t0 = clock_type::now();
                mta.command(proto::mail{"<fast@example.test>", {}});
                samples[i].push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
                mta.command(proto::abort{});
                std::this_thread::sleep_for(1ms); // an MTA's pace, not a flood
            }
            mta.command(proto::quit{});
        });
    for (auto& c : clients) c.join();
    stop = true;
    if (slow.joinable()) slow.join();
    s.request_stop();
    s.wait();
    std::vector<double> all;
    for (auto& v : samples) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    figures f;
    f.verdicts = all.size();
    if (!all.empty()) {
        f.p50_us = all[all.size() / 2];
        f.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
        f.max_us = all.back();
    }
    f.slow_done = slow_done;
    return f;
}

void print(const char* name, const figures& f) {
    std::printf("%-34s verdicts %7zu  p50 %8.0f us  p99 %9.0f us  max %9.0f us  slow calls done %d\n", name, f.verdicts,
                f.p50_us, f.p99_us, f.max_us, f.slow_done);
}

} // namespace

int main(int argc, char** argv) {
    const std::chrono::seconds length{argc > 1 ? std::atoi(argv[1]) : 10};
    const int others = argc > 2 ? std::atoi(argv[2]) : 8;
    const unsigned threads = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 2;
    std::printf("%lld s per scenario, %d other connections, %u server threads\n", static_cast<long long>(length.count()),
                others, threads);
    print("unloaded (cm::blocking)", measure(declared, false, length, others, threads));
    print("one hook blocking 1 s, cm::blocking", measure(declared, true, length, others, threads));
    print("one hook blocking 1 s, plain hook", measure(plain, true, length, others, threads));
    return 0;
}
