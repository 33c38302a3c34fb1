// A large body goes to an unlinked temporary file and is read back through a mapping: the
// spool on its own (threshold, exact bytes, release, errors), then whole-message hooks in the
// harness, synchronous, asynchronous and editable, and --body-spill-threshold.
#define BOOST_TEST_MODULE cppmilter body spool
#include <cppmilter/asio/options.hpp>
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/dsl/body_spool.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sys/resource.h>
#include <unistd.h>

namespace cm = cppmilter;
namespace fs = std::filesystem;

namespace {

std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator{"/proc/self/fd"}) ++n;
    return n;
}

/// The path /proc/self/maps gives for the mapping that holds `p` ("" for anonymous memory);
/// nullopt if no mapping holds it.
std::optional<std::string> mapping_of(const void* p) {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    std::ifstream maps{"/proc/self/maps"};
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream fields{line};
        std::string range, perms, offset, device, inode, path;
        fields >> range >> perms >> offset >> device >> inode;
        std::getline(fields >> std::ws, path);
        const auto dash = range.find('-');
        const auto low = std::stoull(range.substr(0, dash), nullptr, 16);
        const auto high = std::stoull(range.substr(dash + 1), nullptr, 16);
        if (at >= low && at < high) return path;
    }
    return std::nullopt;
}

/// Every byte value, NUL and CR LF included, in an order that is not periodic in any chunk size.
std::string pattern(std::size_t size) {
    std::string s(size, '\0');
    std::uint32_t x = 2463534242u;
    for (auto& c : s) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5; // xorshift32
        c = static_cast<char>(x & 0xff);
    }
    return s;
}

std::uint64_t fnv1a(std::string_view bytes) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    return h;
}

/// Sets the process-wide threshold for one test and puts the default back.
struct threshold_for_test {
    explicit threshold_for_test(std::size_t bytes) { cm::set_body_spill_threshold(bytes); }
    ~threshold_for_test() { cm::set_body_spill_threshold(cm::default_body_spill_threshold); }
};

/// Sets TMPDIR for one test and puts the previous value back.
struct tmpdir_for_test {
    explicit tmpdir_for_test(const std::string& dir) {
        if (const char* old = std::getenv("TMPDIR")) previous = old;
        ::setenv("TMPDIR", dir.c_str(), 1);
    }
    ~tmpdir_for_test() {
        if (previous) ::setenv("TMPDIR", previous->c_str(), 1);
        else ::unsetenv("TMPDIR");
    }
    std::optional<std::string> previous;
};

/// A fresh empty directory, removed at the end of the test.
struct scratch_directory {
    scratch_directory() {
        std::string templ = (fs::temp_directory_path() / "cppmilter-spool-test-XXXXXX").string();
        if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
        path = templ;
    }
    ~scratch_directory() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    fs::path path;
};

/// Files may grow to `bytes` only (a full disk, for one test); SIGXFSZ ignored so that write()
/// fails with EFBIG instead of killing the process.
struct file_size_limit_for_test {
    explicit file_size_limit_for_test(rlim_t bytes) {
        ::getrlimit(RLIMIT_FSIZE, &previous);
        old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lower = previous;
        lower.rlim_cur = bytes;
        ::setrlimit(RLIMIT_FSIZE, &lower);
    }
    ~file_size_limit_for_test() {
        ::setrlimit(RLIMIT_FSIZE, &previous);
        std::signal(SIGXFSZ, old_handler);
    }
    rlimit previous{};
    void (*old_handler)(int) = nullptr;
};

} // namespace

BOOST_AUTO_TEST_SUITE(body_spool)

BOOST_AUTO_TEST_CASE(up_to_the_threshold_in_memory_above_it_in_a_file) {
    threshold_for_test threshold{100};
    const std::string bytes = pattern(101);
    cm::body_spool spool;
    spool.append(std::string_view{bytes}.substr(0, 60));
    spool.append(std::string_view{bytes}.substr(60, 40));
    BOOST_TEST(spool.size() == 100u);
    BOOST_TEST(!spool.spilled()); // at the threshold: still in memory
    BOOST_TEST(spool.view() == std::string_view{bytes}.substr(0, 100));
    spool.append(std::string_view{bytes}.substr(100));
    BOOST_TEST(spool.spilled());
    BOOST_TEST(spool.size() == 101u);
    BOOST_TEST(spool.view() == bytes);
    BOOST_TEST(mapping_of(spool.view().data()).value_or("?").find("(deleted)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(exact_bytes_across_the_threshold_in_odd_chunks) {
    threshold_for_test threshold{1000};
    const std::string bytes = pattern(20011);
    for (std::size_t step : {1u, 7u, 13u, 999u, 1001u, 4093u}) {
        BOOST_TEST_CONTEXT("chunks of " << step) {
            cm::body_spool spool;
            std::size_t at = 0;
            for (std::size_t i = 0; at < bytes.size(); ++i) {
                const std::size_t n = std::min(step + i % 3, bytes.size() - at); // sizes vary a little
                spool.append(std::string_view{bytes}.substr(at, n));
                at += n;
                // view() between appends: the mapping follows the file as it grows
                if (i % 97 == 0 || at == bytes.size()) BOOST_TEST((spool.view() == std::string_view{bytes}.substr(0, at)));
            }
            BOOST_TEST(spool.spilled());
            BOOST_TEST(fnv1a(spool.view()) == fnv1a(bytes));
        }
    }
}

BOOST_AUTO_TEST_CASE(clear_closes_the_file_and_the_spool_is_reusable) {
    threshold_for_test threshold{1000};
    const std::string bytes = pattern(5000);
    const std::size_t before = open_descriptors();
    cm::body_spool spool;
    spool.append(bytes);
    BOOST_TEST(spool.view() == bytes);
    BOOST_TEST(open_descriptors() == before + 1);
    spool.clear();
    BOOST_TEST(open_descriptors() == before);
    BOOST_TEST(!spool.spilled());
    BOOST_TEST(spool.view().empty());
    spool.append("small");
    BOOST_TEST(spool.view() == "small");
    BOOST_TEST(!spool.spilled());
    spool.append(bytes);
    BOOST_TEST(spool.view() == "small" + bytes);
    BOOST_TEST(open_descriptors() == before + 1);
}

BOOST_AUTO_TEST_CASE(destruction_and_move_keep_one_owner) {
    threshold_for_test threshold{10};
    const std::size_t before = open_descriptors();
    {
        cm::body_spool first;
        first.append("0123456789abcdef");
        cm::body_spool second{std::move(first)};
        BOOST_TEST(second.spilled());
        BOOST_TEST(second.view() == "0123456789abcdef");
        BOOST_TEST(first.view().empty()); // NOLINT(bugprone-use-after-move): moved-from is empty
        cm::body_spool third;
        third.append("other");
        third = std::move(second);
        BOOST_TEST(third.view() == "0123456789abcdef");
        BOOST_TEST(open_descriptors() == before + 1);
    }
    BOOST_TEST(open_descriptors() == before);
}

BOOST_AUTO_TEST_CASE(the_temporary_file_has_no_name) {
    threshold_for_test threshold{10};
    scratch_directory dir;
    tmpdir_for_test tmpdir{dir.path.string()};
    cm::body_spool spool;
    spool.append(pattern(4096));
    BOOST_TEST(spool.spilled());
    BOOST_TEST(fs::is_empty(dir.path)); // nothing to clean up if the process dies
    BOOST_TEST(spool.view().size() == 4096u);
}

BOOST_AUTO_TEST_CASE(zero_threshold_never_spills) {
    threshold_for_test threshold{0};
    const std::string bytes = pattern(3 << 20);
    cm::body_spool spool;
    for (std::size_t at = 0; at < bytes.size(); at += 65535) spool.append(std::string_view{bytes}.substr(at, 65535));
    BOOST_TEST(!spool.spilled());
    BOOST_TEST(fnv1a(spool.view()) == fnv1a(bytes));
}

BOOST_AUTO_TEST_CASE(a_missing_tmpdir_is_a_clear_error_until_clear) {
    threshold_for_test threshold{10};
    tmpdir_for_test tmpdir{"/nonexistent/cppmilter-spool"};
    const std::size_t before = open_descriptors();
    cm::body_spool spool;
    spool.append("0123456789");
    std::string what;
    try {
        spool.append("more");
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    BOOST_TEST(what.find("cannot create a temporary file") != std::string::npos, what);
    BOOST_TEST(what.find("/nonexistent/cppmilter-spool") != std::string::npos, what);
    BOOST_TEST(what.find("No such file or directory") != std::string::npos, what);
    spool.append("ignored"); // failed: later chunks are dropped, not reported again
    BOOST_CHECK_EXCEPTION(spool.view(), std::runtime_error,
                          [&](const std::runtime_error& e) { return std::string_view{e.what()}.ends_with(": " + what); });
    BOOST_TEST(open_descriptors() == before);
    spool.clear();
    BOOST_TEST(spool.view().empty()); // a new message starts afresh
    // What run() logs at start:
    const std::string problem = cm::body_spill_problem();
    BOOST_TEST(problem.find("/nonexistent/cppmilter-spool (TMPDIR): No such file or directory") != std::string::npos, problem);
}

BOOST_AUTO_TEST_CASE(a_usable_tmpdir_is_no_problem) {
    scratch_directory dir;
    tmpdir_for_test tmpdir{dir.path.string()};
    const std::size_t before = open_descriptors();
    BOOST_TEST(cm::body_spill_problem().empty());
    BOOST_TEST(open_descriptors() == before);
    BOOST_TEST(fs::is_empty(dir.path));
}

BOOST_AUTO_TEST_CASE(a_full_disk_is_a_clear_error) {
    threshold_for_test threshold{1000};
    const std::string bytes = pattern(64 * 1024);
    cm::body_spool spool;
    std::string what;
    {
        file_size_limit_for_test limit{16 * 1024};
        try {
            for (std::size_t at = 0; at < bytes.size(); at += 4096) spool.append(std::string_view{bytes}.substr(at, 4096));
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
    }
    BOOST_TEST(what.find("cannot write a large body to its temporary file") != std::string::npos, what);
    BOOST_TEST(what.find("File too large") != std::string::npos, what);
    BOOST_CHECK_THROW(spool.view(), std::runtime_error);
    BOOST_TEST(!spool.spilled()); // the file is closed at once
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// What the end-of-message hooks saw, for the test to compare.
struct seen_body {
    std::size_t size = 0;
    std::uint64_t hash = 0;
    std::string mapping; // where the bytes were: a deleted file, or anonymous memory
    int calls = 0;
};
seen_body seen;

void record(std::string_view body) {
    ++seen.calls;
    seen.size = body.size();
    seen.hash = fnv1a(body);
    seen.mapping = mapping_of(body.data()).value_or("?");
}

inline constexpr auto whole = cm::milter(cm::on_end_of_message([](const cm::whole_message& m) -> cm::verdict {
    record(m.body);
    return cm::accept;
}));

inline const auto whole_async =
    cm::milter(cm::on_end_of_message([](const cm::whole_message& m) -> boost::asio::awaitable<cm::verdict> {
        record(m.body);
        co_return cm::accept;
    }));

// Replaces a large body with its first line: the edit is diffed against the spilled original.
inline constexpr auto edit_body = cm::milter(cm::on_end_of_message([](cm::editable<cm::edit::body>& msg) {
    record(msg.body());
    msg.replace_body(std::string{msg.body().substr(0, msg.body().find("\r\n") + 2)});
}));

// A body hook as well: its chunks are answered, so a failed spill is answered at once.
inline constexpr auto with_body_hook = cm::milter(
    cm::on_body([](const cm::body_chunk&) -> cm::verdict { return cm::next; }),
    cm::on_end_of_message([](const cm::whole_message& m) -> cm::verdict {
        record(m.body);
        return cm::accept;
    }));

std::string five_mebibytes() {
    std::string body = "first line\r\n" + pattern(5 << 20);
    return body;
}

template <class Milter>
void sees_the_exact_large_body(const Milter& milter) {
    threshold_for_test threshold{1 << 20};
    const std::string body = five_mebibytes();
    seen = {};
    cm::testing::harness h{milter};
    // A small message first: it stays in memory, and the harness has opened what it opens
    // (an asynchronous one, its io_context's descriptors).
    BOOST_TEST(h.message("<a@example.org>", {"<b@example.net>"}, {{"Subject", "small"}}, "hello\r\n") == "ACCEPT");
    BOOST_TEST(seen.size == 7u);
    BOOST_TEST(seen.mapping.find("(deleted)") == std::string::npos, seen.mapping);
    const std::size_t with_harness = open_descriptors();
    BOOST_TEST(h.message("<a@example.org>", {"<b@example.net>"}, {{"Subject", "big"}}, body) == "ACCEPT");
    BOOST_TEST(seen.size == body.size());
    BOOST_TEST(seen.hash == fnv1a(body));
    BOOST_TEST(seen.mapping.find("(deleted)") != std::string::npos, seen.mapping); // read from the unlinked file
    BOOST_TEST(open_descriptors() == with_harness); // the message is over: the file is closed
    BOOST_TEST(h.take_hook_error().empty());
    BOOST_TEST(seen.calls == 2);
}

} // namespace

BOOST_AUTO_TEST_SUITE(body_spool_harness)

BOOST_AUTO_TEST_CASE(a_whole_message_hook_reads_a_5_MiB_body_from_the_file) { sees_the_exact_large_body(whole); }

BOOST_AUTO_TEST_CASE(an_asynchronous_hook_too) { sees_the_exact_large_body(whole_async); }

BOOST_AUTO_TEST_CASE(the_editable_message_diffs_against_the_spilled_body) {
    threshold_for_test threshold{1 << 20};
    const std::string body = five_mebibytes();
    seen = {};
    cm::testing::harness h{edit_body};
    BOOST_TEST(h.message("<a@example.org>", {"<b@example.net>"}, {{"Subject", "big"}}, body) ==
               "REPLBODY 12 bytes \"first line\\r\\n\"; CONTINUE");
    BOOST_TEST(seen.hash == fnv1a(body));
    BOOST_TEST(seen.mapping.find("(deleted)") != std::string::npos, seen.mapping);
}

BOOST_AUTO_TEST_CASE(a_body_that_cannot_be_spilled_is_answered_with_the_fallback) {
    threshold_for_test threshold{1 << 20};
    tmpdir_for_test tmpdir{"/nonexistent/cppmilter-spool"};
    const std::string body = five_mebibytes();
    seen = {};
    cm::testing::harness h{whole}; // no body hook: chunks go unanswered (NR), end of message answers
    BOOST_TEST(h.message("<a@example.org>", {"<b@example.net>"}, {{"Subject", "big"}}, body) == "TEMPFAIL");
    BOOST_TEST(seen.calls == 0); // never shown a truncated body
    const std::string failure = h.take_hook_error(); // the end of message's, naming the cause
    BOOST_TEST(failure.find("the body was not kept") != std::string::npos, failure);
    BOOST_TEST(failure.find("cannot create a temporary file") != std::string::npos, failure);
    BOOST_TEST(failure.find("/nonexistent/cppmilter-spool") != std::string::npos, failure);

    cm::testing::harness answered{with_body_hook, cm::testing::postfix_offer, {}, cm::reject};
    answered.mail_from("<a@example.org>");
    answered.data();
    answered.end_of_headers();
    BOOST_TEST(answered.body(std::string_view{body}.substr(0, 65535)) == "CONTINUE");
    std::string answers;
    for (std::size_t at = 65535; at < body.size() && answers != "REJECT"; at += 65535)
        answers = answered.body(std::string_view{body}.substr(at, 65535)).str();
    BOOST_TEST(answers == "REJECT"); // the chunk that crossed the threshold gets the fallback
    BOOST_TEST(answered.take_hook_error().find("cannot create a temporary file") != std::string::npos);
    answered.abort();
    // The next message on the connection starts afresh.
    BOOST_TEST(answered.message("<a@example.org>", {"<b@example.net>"}, {}, "small\r\n") == "ACCEPT");
    BOOST_TEST(seen.size == 7u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(body_spool_option)

namespace {
cm::asio_server::command_line parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"milter"};
    argv.insert(argv.end(), args);
    return cm::asio_server::parse_command_line(static_cast<int>(argv.size()), argv.data(), "milter", "1");
}
} // namespace

BOOST_AUTO_TEST_CASE(body_spill_threshold_option) {
    BOOST_TEST(parse({}).options.body_spill_threshold == 1048576u);
    BOOST_TEST(parse({"--body-spill-threshold", "0"}).options.body_spill_threshold == 0u);
    BOOST_TEST(parse({"--body-spill-threshold", "65536"}).options.body_spill_threshold == 65536u);
    const auto bad = parse({"--body-spill-threshold", "1M"});
    BOOST_TEST(bad.exit_code == 64);
    BOOST_TEST(bad.message.find("--body-spill-threshold") != std::string::npos, bad.message);
}

BOOST_AUTO_TEST_SUITE_END()
