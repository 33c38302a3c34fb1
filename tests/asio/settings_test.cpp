// A milter's own settings (cppmilter/settings.hpp) as parse_command_line reads them: every kind
// of option, the --config file beside the command line, and the errors with their exit codes.
#include <cppmilter/asio/options.hpp>
#include <cppmilter/settings.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace cm = cppmilter;
namespace srv = cppmilter::asio_server;
using namespace std::chrono_literals;

namespace {

enum class colour { red, green };

struct every_kind {
    std::string name = "default";
    bool loud = false;
    unsigned count = 1;
    std::chrono::milliseconds wait = 5s;
    std::vector<std::string> tags;
    colour hue = colour::red;
    int checks = 0; // how often check() ran on this value

    static void declare(cm::option_list<every_kind>& o) {
        o("name", &every_kind::name, "TEXT", "a string");
        o("loud", &every_kind::loud, "a switch");
        o("count", &every_kind::count, "N", "a number");
        o("wait", &every_kind::wait, "DURATION", "a duration");
        o("tag", &every_kind::tags, "TAG", "repeatable");
        o("hue", &every_kind::hue, {{"red", colour::red}, {"green", colour::green}}, "a choice");
    }
    void check() {
        ++checks;
        if (name == "refused") throw cm::settings_error{"--name: 'refused' is refused"};
    }
};

template <class T>
srv::command_line parse(cm::settings<T>& s, std::vector<std::string> args) {
    args.insert(args.begin(), "milter");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return srv::parse_command_line(static_cast<int>(argv.size()), argv.data(), "milter", "1", &s);
}

struct temp_file {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("cppmilter-settings-" + std::to_string(::getpid()) + ".conf");
    explicit temp_file(std::string_view text) { std::ofstream{path} << text; }
    ~temp_file() { std::filesystem::remove(path); }
};

} // namespace

BOOST_AUTO_TEST_SUITE(milter_settings)

BOOST_AUTO_TEST_CASE(defaults_until_parsed_then_every_kind_of_option) {
    cm::settings<every_kind> s;
    BOOST_TEST(s.current().name == "default");
    BOOST_TEST(s.current().checks == 0); // the default value is not checked

    const auto cli = parse(s, {"--name", "x", "--loud", "--count", "7", "--wait", "250ms", "--tag", "a", "--tag", "b",
                               "--hue", "green"});
    BOOST_TEST(static_cast<int>(cli.what) == static_cast<int>(srv::command_line::action::serve));
    const auto& v = s.current();
    BOOST_TEST(v.name == "x");
    BOOST_TEST(v.loud);
    BOOST_TEST(v.count == 7u);
    BOOST_TEST(v.wait.count() == 250);
    BOOST_TEST(v.tags == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
    BOOST_TEST((v.hue == colour::green));
    BOOST_TEST(v.checks == 1);
}

BOOST_AUTO_TEST_CASE(the_config_file_fills_in_and_the_command_line_wins) {
    temp_file f{"# comment\nname = from-file\ncount = 3\ntag = file\nloud = true\nhue = green\n"};
    cm::settings<every_kind> s;
    const auto cli = parse(s, {"--config", f.path.string(), "--count", "9", "--tag", "cli"});
    BOOST_TEST(cli.exit_code == 0, cli.message);
    BOOST_TEST(s.current().name == "from-file");
    BOOST_TEST(s.current().count == 9u);
    BOOST_TEST(s.current().loud);
    BOOST_TEST((s.current().hue == colour::green));
    // Repeatable options join the two (command line first).
    BOOST_TEST(s.current().tags == (std::vector<std::string>{"cli", "file"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(errors_name_the_option_and_keep_the_current_value) {
    cm::settings<every_kind> s;
    parse(s, {"--name", "kept"});
    struct bad {
        std::vector<std::string> args;
        int exit_code;
        std::string message;
    };
    const bad cases[] = {
        {{"--hue", "blue"}, 64, "milter: --hue: 'blue' is not one of red|green"},
        {{"--count", "many"}, 64, "milter: --count: 'many' is not a number in range"},
        {{"--count", "-1"}, 64, "milter: --count: '-1' is not a number in range"},
        {{"--wait", "soon"}, 64, "milter: --wait: 'soon' is not a duration (30, 30s, 500ms, 5m, 1h)"},
        {{"--name", "refused"}, 78, "milter: --name: 'refused' is refused"},
        {{"--config", "/nonexistent/x.conf"}, 78, "milter: --config /nonexistent/x.conf: cannot be read"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.args.front() << " " << c.args.back()) {
            const auto cli = parse(s, c.args);
            BOOST_TEST(static_cast<int>(cli.what) == static_cast<int>(srv::command_line::action::exit));
            BOOST_TEST(cli.exit_code == c.exit_code);
            BOOST_TEST(cli.message == c.message);
            BOOST_TEST(s.current().name == "kept");
        }
    }
}

BOOST_AUTO_TEST_CASE(help_lists_the_options_and_print_negotiation_does_not_check_them) {
    cm::settings<every_kind> s;
    const auto help = parse(s, {"--help"});
    BOOST_TEST(help.exit_code == 0);
    BOOST_TEST(help.message.find("milter options:") != std::string::npos, help.message);
    BOOST_TEST(help.message.find("--hue red|green") != std::string::npos, help.message);
    BOOST_TEST(help.message.find("--count N") != std::string::npos, help.message);

    // A milter whose check() would refuse (a key file not at hand) still prints its negotiation.
    const auto n = parse(s, {"--name", "refused", "--print-negotiation"});
    BOOST_TEST(static_cast<int>(n.what) == static_cast<int>(srv::command_line::action::print_negotiation));
    BOOST_TEST(s.current().name == "default");
    // ... but an option it does not know is still an error.
    BOOST_TEST(parse(s, {"--hue", "blue", "--print-negotiation"}).exit_code == 64);
}

struct cpu_heavy {
    static void declare(cm::option_list<cpu_heavy>& o) { o.default_threads(3); }
};

BOOST_AUTO_TEST_CASE(a_milter_may_choose_its_default_threads) {
    // The server's own default: half the hardware threads, at least one.
    cm::settings<every_kind> plain;
    BOOST_TEST(parse(plain, {"--listen", "unix:/tmp/x.sock"}).options.threads == srv::default_threads());
    BOOST_TEST(srv::default_threads() == std::max(1u, std::thread::hardware_concurrency() / 2));

    cm::settings<cpu_heavy> heavy;
    BOOST_TEST(parse(heavy, {"--listen", "unix:/tmp/x.sock"}).options.threads == 3u);
    BOOST_TEST(parse(heavy, {"--listen", "unix:/tmp/x.sock", "--threads", "5"}).options.threads == 5u); // the command line wins
    const auto help = parse(heavy, {"--help"});
    BOOST_TEST(help.message.find("this milter: 3)") != std::string::npos, help.message);
}

BOOST_AUTO_TEST_CASE(set_checks_and_pin_keeps_a_value_across_a_reload) {
    auto named = [](std::string name) {
        every_kind v;
        v.name = std::move(name);
        return v;
    };
    cm::settings<every_kind> s;
    s.set(named("first"));
    const auto pinned = s.pin();
    BOOST_TEST(s.current().checks == 1);
    s.set(named("second"));
    BOOST_TEST(pinned->name == "first");
    BOOST_TEST(s.current().name == "second");
    BOOST_CHECK_THROW(s.set(named("refused")), cm::settings_error);
    BOOST_TEST(s.current().name == "second");
}

BOOST_AUTO_TEST_SUITE_END()
