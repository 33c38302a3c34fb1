// cppmilter-unseal: the operator's side of the seal milter (examples/seal.hpp). Finds the
// X-Sealed-Info headers of a message, opens each with the secret key and prints the JSON the
// milter sealed; or makes a key pair to start with.
//
//     cppmilter-unseal --secret-key /root/seal/2026-12.key delivered.eml
//     cppmilter-unseal --generate-keypair /root/seal/2026-12
//
// Exit status: 0 every sealed header opened, 1 none found or one did not open (changed on the
// way, sealed for another key, malformed), 64 usage error, 66 the message or a key file cannot
// be read or holds no key, 73 a key file cannot be created.
#include "seal.hpp"

// Boost.JSON compiled into this one file (seal.hpp uses it): Debian has no compiled libboost-json.
#include <boost/json/src.hpp>
#include <boost/program_options.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace po = boost::program_options;
namespace mail = cppmilter::mail;
namespace sealed = examples::sealed;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_not_opened = 1;
constexpr int exit_usage = 64;
constexpr int exit_no_input = 66;
constexpr int exit_cannot_create = 73;

struct input_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string read_message(const std::string& file) {
    if (file == "-") return {std::istreambuf_iterator<char>{std::cin}, {}};
    std::ifstream in{file, std::ios::binary};
    if (!in) throw input_error{file + ": " + std::generic_category().message(errno)};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    if (in.bad()) throw input_error{file + ": cannot be read"};
    return text;
}

// The values of the header fields called `name` in the header section (up to the first empty
// line), as an MTA hands them to a milter: one leading space removed, folded lines joined by LF.
std::vector<std::string> header_values(std::string_view message, std::string_view name) {
    std::vector<std::string> values;
    bool in_field = false; // the current field is one of ours: continuation lines belong to it
    while (!message.empty()) {
        const auto nl = message.find('\n');
        std::string_view line = message.substr(0, nl);
        message = nl == std::string_view::npos ? std::string_view{} : message.substr(nl + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') {
            if (in_field) values.back().append("\n").append(line);
            continue;
        }
        const auto colon = line.find(':');
        std::string_view field = line.substr(0, colon);
        while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
        in_field = colon != std::string_view::npos && mail::iequals(field, name);
        if (!in_field) continue;
        std::string_view value = line.substr(colon + 1);
        if (value.starts_with(' ')) value.remove_prefix(1);
        values.emplace_back(value);
    }
    return values;
}

// Opens one header value with the keys: first those named by its k=, then the others.
std::string unseal(std::string_view value, const std::vector<sealed::named_key>& keys) {
    const auto parsed = sealed::parse(value);
    const auto box = sealed::from_base64(parsed.data);
    if (!box) throw sealed::error{"d= is not base64"};
    std::vector<const sealed::named_key*> order;
    for (const auto& k : keys)
        if (k.id == parsed.key_id) order.push_back(&k);
    for (const auto& k : keys)
        if (k.id != parsed.key_id) order.push_back(&k);
    for (const auto* k : order) {
        const auto plain = sealed::open(*box, k->bytes);
        if (!plain) continue;
        // Anyone with the public key can seal: what opens is printed only if it is JSON, and
        // printed re-serialised, so that no control character reaches the terminal.
        boost::system::error_code ec;
        const auto json = boost::json::parse(*plain, ec);
        if (ec || !json.is_object()) throw sealed::error{"opens with key '" + k->id + "', but holds no JSON object"};
        return boost::json::serialize(json);
    }
    std::string tried;
    for (const auto& k : keys) tried += (tried.empty() ? "'" : ", '") + k.id + "'";
    throw sealed::error{"sealed for key '" + parsed.key_id + "', does not open with " + tried +
                        ": changed on the way, or sealed for another key"};
}

// Creates `path` with `mode` and `text`; never overwrites (an old secret key may still be needed).
void write_new_file(const std::string& path, mode_t mode, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) throw input_error{path + ": " + std::generic_category().message(errno)};
    bool ok = ::fchmod(fd, mode) == 0; // exactly `mode`, whatever the umask
    ok = ok && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
        const int saved = errno;
        ::unlink(path.c_str());
        throw input_error{path + ": " + std::generic_category().message(saved)};
    }
}

int generate_keypair(const std::string& prefix) {
    sealed::key_bytes public_key, secret_key;
    crypto_box_keypair(public_key.data(), secret_key.data());
    std::string secret_text = sealed::to_base64(secret_key.data(), secret_key.size()) + "\n";
    sodium_memzero(secret_key.data(), secret_key.size());
    const std::string key_file = prefix + ".key", pub_file = prefix + ".pub";
    try {
        write_new_file(key_file, 0600, secret_text);
        sodium_memzero(secret_text.data(), secret_text.size());
        try {
            write_new_file(pub_file, 0644, sealed::to_base64(public_key.data(), public_key.size()) + "\n");
        } catch (...) {
            ::unlink(key_file.c_str());
            throw;
        }
    } catch (const input_error& e) {
        sodium_memzero(secret_text.data(), secret_text.size());
        std::cerr << "cppmilter-unseal: " << e.what() << '\n';
        return exit_cannot_create;
    }
    const std::string id = prefix.substr(prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
    std::cout << "public key: " << pub_file << " (for the milter: --public-key " << pub_file << ")\n"
              << "secret key: " << key_file << " (mode 0600; keep it off the milter host)\n";
    if (sealed::valid_key_id(id))
        std::cout << "key id: " << id << '\n';
    else
        std::cout << "'" << id << "' is no key id: name the key with --public-key ID=" << pub_file << '\n';
    return exit_ok;
}

const char* const help_notes = R"(
MESSAGE is a message as delivered (a maildir file, an .eml; CRLF or LF line ends); - or
nothing reads standard input. Every header field called NAME (X-Sealed-Info) in its header
section is opened, and the JSON the milter sealed is printed, one line per field, in order:
  {"client_address", "client_port", "client_name", "helo", "auth_user", "tls_version",
   "tls_cipher", "tls_cipher_bits", "queue_id", "time"}   (null where the MTA said nothing)
The key named by the field's k= is tried first, then the other --secret-key keys.

A key file holds the base64 of 32 bytes. [ID=]FILE: without ID=, the key's id is the file
name without its directory and without .key. --generate-keypair PREFIX writes PREFIX.key
(the secret key, mode 0600) and PREFIX.pub (the public key, for the milter's --public-key);
it never overwrites a file.

Exit status: 0 every sealed field opened; 1 no such field, or one that does not open (changed
on the way, sealed for another key, malformed); 64 usage error; 66 the message or a key file
cannot be read or holds no key; 73 a key file cannot be created.
)";

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> secret_keys;
    std::string header = "X-Sealed-Info", file, prefix;
    po::options_description visible{"Usage: cppmilter-unseal --secret-key [ID=]FILE... [--header NAME] [MESSAGE|-]\n"
                                    "       cppmilter-unseal --generate-keypair PREFIX\nOptions"};
    // clang-format off
    visible.add_options()
        ("help,h", "show this help")
        ("secret-key", po::value(&secret_keys)->value_name("[ID=]FILE"),
         "a secret key (the base64 of 32 bytes); repeat for several (rotated keys)")
        ("header", po::value(&header)->value_name("NAME"), "the header field to open (default X-Sealed-Info)")
        ("generate-keypair", po::value(&prefix)->value_name("PREFIX"),
         "write a new key pair to PREFIX.key and PREFIX.pub, then exit");
    // clang-format on
    po::options_description hidden;
    hidden.add_options()("message", po::value(&file)->default_value("-"), "message file");
    po::options_description all;
    all.add(visible).add(hidden);
    po::positional_options_description positional;
    positional.add("message", 1);

    try {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << visible << help_notes;
            return exit_ok;
        }
        if (vm.count("generate-keypair") && (!secret_keys.empty() || !vm["message"].defaulted()))
            throw po::error{"--generate-keypair takes no --secret-key and no message"};
        if (!vm.count("generate-keypair") && secret_keys.empty()) throw po::error{"--secret-key is needed"};
        if (prefix.empty() && vm.count("generate-keypair")) throw po::error{"--generate-keypair: the prefix is empty"};
    } catch (const std::exception& e) { // Boost.Program_options errors
        std::cerr << "cppmilter-unseal: " << e.what() << " (see --help)\n";
        return exit_usage;
    }

    try {
        sealed::init_sodium();
    } catch (const sealed::error& e) {
        std::cerr << "cppmilter-unseal: " << e.what() << '\n';
        return exit_not_opened;
    }
    if (!prefix.empty()) return generate_keypair(prefix);

    std::vector<sealed::named_key> keys;
    std::string message;
    try {
        for (const auto& spec : secret_keys) keys.push_back(sealed::read_named_key(spec, "--secret-key", ".key"));
        message = read_message(file);
    } catch (const std::runtime_error& e) { // sealed::error, input_error
        std::cerr << "cppmilter-unseal: " << e.what() << '\n';
        for (auto& k : keys) sodium_memzero(k.bytes.data(), k.bytes.size());
        return exit_no_input;
    }

    const auto values = header_values(message, header);
    if (values.empty()) {
        std::cerr << "cppmilter-unseal: " << (file == "-" ? "the message" : file) << " has no " << header
                  << " header field\n";
        return exit_not_opened;
    }
    int status = exit_ok;
    for (std::size_t i = 0; i < values.size(); ++i) {
        try {
            std::cout << unseal(values[i], keys) << '\n';
        } catch (const sealed::error& e) {
            std::cout.flush();
            std::cerr << "cppmilter-unseal: " << header;
            if (values.size() > 1) std::cerr << " (" << i + 1 << " of " << values.size() << ")";
            std::cerr << ": " << e.what() << '\n';
            status = exit_not_opened;
        }
    }
    for (auto& k : keys) sodium_memzero(k.bytes.data(), k.bytes.size());
    std::cout.flush();
    return status;
}
