// cppmilter-send: plays an MTA against a milter. Reads an RFC 5322 message, runs one whole
// SMTP session through the milter as Postfix would, prints every command and reply, and the
// message as it would be delivered.
//
//     cppmilter-send --milter unix:/run/showcase.sock --from a@example.org --to b@example.org mail.eml
//
// Exit status: 0 accepted, 1 rejected / tempfailed / discarded, 2 error (connection,
// timeout, protocol violation), 64 usage error.
#include <cppmilter/asio/listen.hpp>
#include <cppmilter/asio/options.hpp>
#include <cppmilter/client/client.hpp>

#include <boost/program_options.hpp>

#include <arpa/inet.h>

#include <charconv>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace cl = cppmilter::client;
namespace po = boost::program_options;
namespace proto = cppmilter::proto;

namespace {

constexpr int exit_accepted = 0;
constexpr int exit_refused = 1;
constexpr int exit_error = 2;
constexpr int exit_usage = 64;

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// "30s", "500ms", "2m", "10" (seconds): the server's syntax.
std::chrono::milliseconds parse_duration(const std::string& text) {
    if (auto d = cppmilter::asio_server::parse_duration(text)) return *d;
    throw usage_error{"--timeout: '" + text + "' is not a duration (30, 30s, 500ms, 5m)"};
}

proto::optneg parse_offer(const std::string& name) {
    if (name == "postfix") return cl::postfix_offer();
    if (name == "sendmail") return cl::sendmail_offer();
    if (name == "v2") return cl::v2_offer();
    throw usage_error{"--offer: '" + name + "' is not postfix, sendmail or v2"};
}

std::string bracketed(const std::string& address) {
    if (!address.empty() && address.front() == '<') return address;
    return "<" + address + ">";
}

std::string read_input(const std::string& file) {
    if (file == "-") return {std::istreambuf_iterator<char>{std::cin}, {}};
    std::ifstream in{file, std::ios::binary};
    if (!in) throw usage_error{file + ": cannot open"};
    return {std::istreambuf_iterator<char>{in}, {}};
}

std::string without_cr(std::string s) {
    std::erase(s, '\r');
    return s;
}

} // namespace

int main(int argc, char** argv) {
    std::string milter, from, client_addr, client_name, helo, offer_name, timeout_text, file;
    std::vector<std::string> to;
    po::options_description visible{"Usage: cppmilter-send --milter SPEC --from ADDR --to ADDR [options] [FILE|-]\nOptions"};
    visible.add_options()
        ("help,h", "show this help")
        ("milter", po::value(&milter), "the milter's socket: inet:HOST:PORT, inet:PORT@HOST, inet6:[HOST]:PORT, unix:/path")
        ("from", po::value(&from), "envelope sender (MAIL FROM)")
        ("to", po::value(&to), "envelope recipient (RCPT TO); repeat for more")
        ("client-addr", po::value(&client_addr)->default_value("127.0.0.1"), "the SMTP client's IP address (CONNECT)")
        ("client-name", po::value(&client_name)->default_value("localhost"), "the SMTP client's host name (CONNECT)")
        ("helo", po::value(&helo)->default_value("localhost"), "the HELO name")
        ("offer", po::value(&offer_name)->default_value("postfix"), "what the MTA offers: postfix, sendmail or v2")
        ("timeout", po::value(&timeout_text), "bound on every wait (command and content timeouts; 30s and 300s by default): 500ms, 10s, 2m");
    po::options_description hidden;
    hidden.add_options()("file", po::value(&file)->default_value("-"), "message file");
    po::options_description all;
    all.add(visible).add(hidden);
    po::positional_options_description positional;
    positional.add("file", 1);

    cl::client_options options;
    cl::session_info session;
    try {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << visible << "\nExit status: 0 accepted, 1 rejected/tempfailed/discarded, 2 error, 64 usage.\n";
            return exit_accepted;
        }
        if (milter.empty() || from.empty() || to.empty()) throw usage_error{"--milter, --from and --to are required"};
        if (auto spec = cppmilter::asio_server::parse_listen_spec(milter); !spec) throw usage_error{"--milter: " + spec.error()};
        options.offer = parse_offer(offer_name);
        if (!timeout_text.empty()) options.command_timeout = options.content_timeout = parse_duration(timeout_text);
        unsigned char buf[16];
        if (::inet_pton(AF_INET, client_addr.c_str(), buf) == 1) session.family = proto::address_family::inet;
        else if (::inet_pton(AF_INET6, client_addr.c_str(), buf) == 1) session.family = proto::address_family::inet6;
        else throw usage_error{"--client-addr: '" + client_addr + "' is not an IPv4 or IPv6 address"};
        session.client_address = client_addr;
        session.client_name = client_name;
        session.helo = helo;
    } catch (const std::exception& e) { // usage_error and Boost.Program_options errors
        std::cerr << "cppmilter-send: " << e.what() << "\n(see --help)\n";
        return exit_usage;
    }

    cl::message msg;
    try {
        msg = cl::parse_rfc5322(read_input(file));
    } catch (const std::exception& e) {
        std::cerr << "cppmilter-send: " << e.what() << '\n';
        return exit_usage;
    }
    msg.sender = bracketed(from);
    for (const auto& r : to) msg.recipients.push_back(bracketed(r));

    try {
        cl::blocking_client c{options};
        c.trace = [](std::string_view line) { std::cout << line << '\n'; };
        c.connect(milter);
        const auto& n = c.negotiate();
        std::cout << "version:  " << n.version << '\n'
                  << "actions:  " << n.actions << '\n'
                  << "protocol: " << n.protocol << '\n';
        for (std::size_t i = 0; i < n.macros.size(); ++i)
            if (n.macros[i]) std::cout << "macros " << static_cast<proto::macro_stage>(i) << ": " << *n.macros[i] << '\n';
        const auto d = cl::deliver(c, session, msg);
        c.quit();

        std::cout << "result: " << cl::to_string(d.result);
        if (!d.decided_at.empty()) std::cout << " at " << d.decided_at << ": " << d.verdict;
        std::cout << '\n';
        for (const auto& r : d.rejected_recipients) std::cout << "rejected recipient: " << r << '\n';
        if (d.result != cl::disposition::accepted) return exit_refused;
        std::cout << "Sender: " << d.modified.sender << '\n' << "Recipients:";
        for (const auto& r : d.modified.recipients) std::cout << ' ' << r;
        std::cout << '\n';
        for (const auto& q : d.modified.quarantine) std::cout << "Quarantine: " << q << '\n';
        std::cout << '\n' << without_cr(cl::to_rfc5322(d.modified));
        return exit_accepted;
    } catch (const std::exception& e) {
        std::cout.flush();
        std::cerr << "cppmilter-send: " << e.what() << '\n';
        return exit_error;
    }
}
