#include <cppmilter/asio/options.hpp>

#include <cppmilter/asio/listen.hpp>
#include <cppmilter/settings.hpp>

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

namespace cppmilter::asio_server {

unsigned default_threads() noexcept { return std::max(1u, std::thread::hardware_concurrency() / 2); }

std::string_view to_string(fallback_verdict f) noexcept {
    switch (f) {
    case fallback_verdict::tempfail: return "tempfail";
    case fallback_verdict::reject: return "reject";
    case fallback_verdict::accept: return "accept";
    }
    return "?";
}

namespace {

namespace po = boost::program_options;
constexpr int usage_error = 64;  // EX_USAGE
constexpr int config_error = 78; // EX_CONFIG

struct usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct bad_config : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <class T>
T parse_number(const std::string& option, std::string_view text, T low, T high) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
        std::ostringstream os;
        os << "--" << option << ": '" << text << "' is not a number from " << low << " to " << high;
        throw usage{os.str()};
    }
    return value;
}

std::chrono::milliseconds parse_duration(const std::string& option, std::string_view text) {
    if (auto d = cppmilter::parse_duration(text)) return *d;
    throw usage{"--" + option + ": '" + std::string{text} + "' is not a duration (30, 30s, 500ms, 5m, 1h)"};
}

} // namespace

command_line parse_command_line(int argc, const char* const* argv, std::string_view program, std::string_view version,
                                settings_binding* user) {
    command_line result;
    auto& o = result.options;
    std::vector<std::string> listen;
    std::string blocking_threads, blocking_queue, body_spill;
    std::string log_format_text, config, threads, max_connections, timeout, write_timeout, hook_timeout, progress, shutdown, max_packet, mode, fallback, level;

    const unsigned milter_threads = user != nullptr ? user->default_threads() : 0; // the milter's own default
    const std::string threads_help =
        milter_threads != 0 ? "worker threads, each an event loop (default for this milter: " + std::to_string(milter_threads) + ")"
                            : "worker threads, each an event loop (default: half the hardware threads, at least 1)";
    po::options_description desc{std::string{program} + " options"};
    desc.add_options()
        ("config", po::value(&config)->value_name("FILE"), "read options from FILE (name = value lines, # comments; the command line wins); the milter options are re-read on SIGHUP")
        ("listen,l", po::value(&listen)->composing(), "socket to listen on (repeatable): inet:PORT@HOST, inet:HOST:PORT, inet6:PORT@HOST, [::1]:PORT, unix:/path, local:/path, fd:N; none: systemd socket activation")
        ("threads", po::value(&threads), threads_help.c_str())
        ("max-connections", po::value(&max_connections), "concurrent MTA connections before new ones are closed (default 4096)")
        ("timeout", po::value(&timeout), "close a connection whose MTA sends nothing for this long (default 10m)")
        ("write-timeout", po::value(&write_timeout), "close a connection whose MTA has not read an answer after this long (default 5m)")
        ("hook-timeout", po::value(&hook_timeout), "give up on an asynchronous or blocking hook after this long and answer the fallback (default 60s)")
        ("blocking-threads", po::value(&blocking_threads)->value_name("N"), "threads that run hooks declared cm::blocking, started only if the milter has one (default 16)")
        ("blocking-queue", po::value(&blocking_queue)->value_name("N"), "blocking calls that may wait for a free thread; one more is answered with the fallback (default 256)")
        ("progress-interval", po::value(&progress), "send PROGRESS this often while an end-of-message hook runs (default 10s)")
        ("shutdown-timeout", po::value(&shutdown), "on SIGTERM/SIGINT, wait this long for open connections (default 30s)")
        ("max-packet", po::value(&max_packet), "largest packet payload accepted, in bytes (default 1048575)")
        ("body-spill-threshold", po::value(&body_spill)->value_name("BYTES"), "a message body larger than this, kept for an end-of-message hook, goes to an unlinked temporary file in $TMPDIR (or /tmp) instead of memory; 0: always in memory (default 1048576)")
        ("socket-mode", po::value(&mode), "permissions of UNIX sockets, octal (default 0660)")
        ("fallback", po::value(&fallback), "answer when a hook fails: tempfail, reject or accept (default tempfail)")
        ("log-level", po::value(&level), "debug, info, warning or error (default warning)")
        ("log-format", po::value(&log_format_text), "text or json: one JSON object per line (default text)")
        ("metrics-listen", po::value(&o.metrics_listen)->value_name("SPEC"), "serve Prometheus metrics at http://SPEC/metrics (e.g. inet:9100@127.0.0.1)")
        ("log-file", po::value(&o.log_file)->value_name("FILE"), "append the log to FILE instead of stderr; reopened on SIGHUP (logrotate)")
        ("print-negotiation", "print what this milter asks of the MTA, then exit")
        ("print-postfix-config", "print the main.cf lines Postfix needs for this milter as configured (its socket, protocol, timeouts, macros), then exit")
        ("help,h", "print this help, then exit")
        ("version", "print the version, then exit");
    po::options_description all;
    all.add(desc);
    po::options_description mine{"milter options"};
    const std::vector<option_spec>* user_options = user ? &user->begin() : nullptr;
    if (user_options) {
        for (const auto& o : *user_options) {
            using kind = option_spec::kind;
            if (o.how == kind::flag) mine.add_options()(o.name.c_str(), po::bool_switch(), o.help.c_str());
            else if (o.how == kind::value)
                mine.add_options()(o.name.c_str(), po::value<std::string>()->value_name(o.value_name), o.help.c_str());
            else
                mine.add_options()(o.name.c_str(), po::value<std::vector<std::string>>()->composing()->value_name(o.value_name),
                                   o.help.c_str());
        }
        all.add(mine);
    }

    try {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
        if (auto c = vm.find("config"); c != vm.end()) {
            const auto& path = c->second.as<std::string>();
            std::ifstream file{path};
            if (!file) throw bad_config{"--config " + path + ": cannot be read"};
            try {
                po::store(po::parse_config_file(file, all), vm);
            } catch (const po::error& e) {
                throw bad_config{"--config " + path + ": " + e.what()};
            }
        }
        po::notify(vm);
        if (vm.count("help")) {
            std::ostringstream os;
            os << "usage: " << program << " [options]\n" << all;
            result.what = command_line::action::exit;
            result.message = os.str();
            return result;
        }
        if (vm.count("version")) {
            result.what = command_line::action::exit;
            result.message = std::string{program} + " " + std::string{version};
            return result;
        }
        for (const auto& text : listen)
            if (auto spec = parse_listen_spec(text); !spec) throw usage{"--listen: " + spec.error()};
        o.listen = listen;
        if (!o.metrics_listen.empty())
            if (auto spec = parse_listen_spec(o.metrics_listen); !spec) throw usage{"--metrics-listen: " + spec.error()};
        if (!threads.empty()) o.threads = parse_number<unsigned>("threads", threads, 1, 1024);
        if (o.threads == 0) o.threads = milter_threads != 0 ? milter_threads : default_threads();
        if (!max_connections.empty()) o.max_connections = parse_number<std::size_t>("max-connections", max_connections, 1, 1'000'000);
        if (!timeout.empty()) o.read_timeout = parse_duration("timeout", timeout);
        if (!write_timeout.empty()) o.write_timeout = parse_duration("write-timeout", write_timeout);
        if (!hook_timeout.empty()) o.hook_timeout = parse_duration("hook-timeout", hook_timeout);
        if (!blocking_threads.empty()) o.blocking_threads = parse_number<unsigned>("blocking-threads", blocking_threads, 1, 1024);
        if (!blocking_queue.empty()) o.blocking_queue = parse_number<std::size_t>("blocking-queue", blocking_queue, 0, 1'000'000);
        if (!progress.empty()) o.progress_interval = parse_duration("progress-interval", progress);
        if (!shutdown.empty()) o.shutdown_timeout = parse_duration("shutdown-timeout", shutdown);
        if (!max_packet.empty()) o.max_packet = parse_number<std::size_t>("max-packet", max_packet, 65535, 64u << 20);
        if (!body_spill.empty())
            o.body_spill_threshold = parse_number<std::size_t>("body-spill-threshold", body_spill, 0, std::size_t{1} << 40);
        if (!mode.empty()) {
            unsigned m = 0;
            auto [end, ec] = std::from_chars(mode.data(), mode.data() + mode.size(), m, 8);
            if (ec != std::errc{} || end != mode.data() + mode.size() || m > 0777)
                throw usage{"--socket-mode: '" + mode + "' is not an octal mode from 0 to 0777"};
            o.socket_mode = m;
        }
        if (!fallback.empty()) {
            if (fallback == "tempfail") o.fallback = fallback_verdict::tempfail;
            else if (fallback == "reject") o.fallback = fallback_verdict::reject;
            else if (fallback == "accept") o.fallback = fallback_verdict::accept;
            else throw usage{"--fallback: '" + fallback + "' is not one of tempfail, reject, accept"};
        }
        if (!level.empty()) {
            auto l = parse_log_level(level);
            if (!l) throw usage{"--log-level: '" + level + "' is not one of debug, info, warning, error"};
            o.level = *l;
        }
        if (!log_format_text.empty()) {
            if (log_format_text == "text") o.format = log_format::text;
            else if (log_format_text == "json") o.format = log_format::json;
            else throw usage{"--log-format: '" + log_format_text + "' is not one of text, json"};
        }
        if (vm.count("print-negotiation")) result.what = command_line::action::print_negotiation;
        if (vm.count("print-postfix-config")) result.what = command_line::action::print_postfix_config;
        // --print-negotiation and --print-postfix-config need no key files: the milter's
        // settings are read (a typo is still an error) but not checked or published.
        if (user_options) {
            for (std::size_t i = 0; i < user_options->size(); ++i) {
                const auto& o = (*user_options)[i];
                auto found = vm.find(o.name.substr(0, o.name.find(',')));
                if (found == vm.end() || found->second.empty()) continue;
                using kind = option_spec::kind;
                if (o.how == kind::flag) {
                    if (found->second.as<bool>()) user->assign(i, "");
                } else if (o.how == kind::value) {
                    user->assign(i, found->second.as<std::string>());
                } else {
                    for (const auto& text : found->second.as<std::vector<std::string>>()) user->assign(i, text);
                }
            }
            if (result.what != command_line::action::serve) return result;
            try {
                user->publish();
            } catch (const std::exception& e) {
                throw bad_config{e.what()};
            }
        }
    } catch (const bad_config& e) {
        result.what = command_line::action::exit;
        result.exit_code = config_error;
        result.message = std::string{program} + ": " + e.what();
    } catch (const settings_error& e) {
        result.what = command_line::action::exit;
        result.exit_code = usage_error;
        result.message = std::string{program} + ": " + e.what();
    } catch (const usage& e) {
        result.what = command_line::action::exit;
        result.exit_code = usage_error;
        result.message = std::string{program} + ": " + e.what();
    } catch (const po::error& e) {
        result.what = command_line::action::exit;
        result.exit_code = usage_error;
        result.message = std::string{program} + ": " + e.what() + " (see --help)";
    }
    return result;
}

} // namespace cppmilter::asio_server
