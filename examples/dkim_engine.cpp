// The dkim milter's work (examples/dkim.hpp): settings, signing and verifying with
// libopendkim, key lookups with cppmilter::dns, the Authentication-Results header.
#include "dkim.hpp"

#include <cppmilter/asio/log.hpp>
#include <cppmilter/contrib/dns.hpp>
#include <cppmilter/mail/address.hpp>
#include <cppmilter/mail/domain.hpp>
#include <cppmilter/mail/header.hpp>

#include <boost/asio/this_coro.hpp>

// libopendkim's header is C99 (_Bool); C++'s bool has the same size and calling convention.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace examples {

using cm::asio_server::log_event;
using cm::asio_server::log_level;

namespace dkim {

namespace {

// The default signed set: RFC 6376 §5.4.1's list, and the fields whose change alters what a
// reader sees (Message-ID, the MIME structure). From is over-signed (--oversign-headers).
constexpr const char* default_sign_headers =
    "From,Reply-To,Subject,Date,To,Cc,Message-ID,In-Reply-To,References,MIME-Version,Content-Type,"
    "Content-Transfer-Encoding,Content-Disposition,Resent-Date,Resent-From,Resent-To,Resent-Cc,List-Id,"
    "List-Help,List-Unsubscribe,List-Unsubscribe-Post,List-Subscribe,List-Post,List-Owner,List-Archive";

std::string lower(std::string_view s) {
    std::string out{s};
    std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string trimmed(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return std::string{s.substr(first, last - first + 1)};
}

std::vector<std::string> split(std::string_view s, char by) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at <= s.size()) {
        auto next = s.find(by, at);
        if (next == std::string_view::npos) next = s.size();
        if (auto part = trimmed(s.substr(at, next - at)); !part.empty()) out.push_back(std::move(part));
        at = next + 1;
    }
    return out;
}

std::optional<std::string> read_file(const std::string& path, std::string& why) {
    std::ifstream in{path, std::ios::binary};
    if (!in) {
        why = std::strerror(errno);
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        why = "read error";
        return std::nullopt;
    }
    return text.str();
}

/// A DNS name's case and trailing dot do not matter: one spelling for map keys.
std::string key_name(std::string_view selector, std::string_view domain) {
    std::string d = lower(domain);
    if (d.ends_with('.')) d.pop_back();
    return lower(selector) + "._domainkey." + d;
}

bool plausible_domain(std::string_view d) {
    return !d.empty() && d.size() <= 253 && std::ranges::all_of(d, [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c >= 0x80;
    });
}

/// OpenSSL must never ask for a pass phrase on the terminal: an encrypted key is refused.
int no_passphrase(char*, int, int, void*) { return -1; }

} // namespace

/// libopendkim's library handle, set up once per settings value.
struct library {
    DKIM_LIB* handle = nullptr;
    ~library() {
        if (handle) dkim_close(handle);
    }
};

namespace {

/// Key records looked up per message, at most (distinct SELECTOR._domainkey.DOMAIN names).
constexpr std::size_t max_key_lookups = 10;

/// What a verification's key-lookup callback answers from: the records fetched before
/// libopendkim ran (libopendkim's own resolver would block the thread).
struct fetched_keys {
    std::map<std::string, cm::dns::txt_result> by_name;
    const cm::dns::txt_result* find(DKIM_SIGINFO* sig) const {
        const auto* d = dkim_sig_getdomain(sig);
        const auto* s = dkim_sig_getselector(sig);
        if (!d || !s) return nullptr;
        auto it = by_name.find(key_name(reinterpret_cast<const char*>(s), reinterpret_cast<const char*>(d)));
        return it == by_name.end() ? nullptr : &it->second;
    }
};

/// The one record of a key name: the first that says it is a DKIM key, else the first.
const std::string& chosen_record(const cm::dns::txt_result& r) {
    for (const auto& rec : r.records)
        if (trimmed(rec).starts_with("v=DKIM1")) return rec;
    return r.records.front();
}

DKIM_CBSTAT lookup_key(DKIM* dkim, DKIM_SIGINFO* sig, unsigned char* buf, size_t buflen) {
    const auto* keys = static_cast<const fetched_keys*>(dkim_get_user_context(dkim));
    const auto* r = keys ? keys->find(sig) : nullptr;
    if (!r) return DKIM_CBSTAT_NOTFOUND;
    switch (r->status) {
    case cm::dns::txt_status::found: {
        const std::string& rec = chosen_record(*r);
        if (rec.size() + 1 > buflen) return DKIM_CBSTAT_ERROR;
        std::memcpy(buf, rec.c_str(), rec.size() + 1);
        return DKIM_CBSTAT_CONTINUE;
    }
    case cm::dns::txt_status::no_record: return DKIM_CBSTAT_NOTFOUND;
    case cm::dns::txt_status::temporary_failure: return DKIM_CBSTAT_TRYAGAIN;
    }
    return DKIM_CBSTAT_ERROR;
}

/// A NULL-terminated array of C strings for dkim_options (which copies it).
struct c_string_array {
    explicit c_string_array(const std::vector<std::string>& v) {
        for (const auto& s : v) pointers.push_back(s.c_str());
        pointers.push_back(nullptr);
    }
    void* data() { return pointers.data(); }
    std::vector<const char*> pointers;
};

bool valid_header_name(std::string_view n) {
    return !n.empty() && std::ranges::all_of(n, [](unsigned char c) { return c > 32 && c < 127 && c != ':'; });
}

std::optional<network> parse_network(std::string_view text) {
    network n;
    std::string address{text};
    int prefix = -1;
    if (auto slash = address.find('/'); slash != std::string::npos) {
        const auto digits = address.substr(slash + 1);
        if (digits.empty() || digits.size() > 3 || !std::ranges::all_of(digits, ::isdigit)) return std::nullopt;
        prefix = std::stoi(digits);
        address.resize(slash);
    }
    if (inet_pton(AF_INET, address.c_str(), n.address) == 1) {
        n.v6 = false;
        n.prefix = prefix < 0 ? 32 : prefix;
        if (n.prefix > 32) return std::nullopt;
    } else if (inet_pton(AF_INET6, address.c_str(), n.address) == 1) {
        n.v6 = true;
        n.prefix = prefix < 0 ? 128 : prefix;
        if (n.prefix > 128) return std::nullopt;
    } else {
        return std::nullopt;
    }
    return n;
}

bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, int bits) {
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
        if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
}

signing_key load_key(std::string domain, std::string selector, std::string file, const std::string& option) {
    domain = lower(domain);
    if (domain.ends_with('.')) domain.pop_back();
    if (!plausible_domain(domain)) throw cm::settings_error{option + ": '" + domain + "' is not a domain"};
    if (selector.empty() || !std::ranges::all_of(selector, [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_'; }))
        throw cm::settings_error{option + ": '" + selector + "' is not a selector"};
    std::string why;
    auto pem = read_file(file, why);
    if (!pem) throw cm::settings_error{option + ": cannot read key file " + file + ": " + why};
    BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, &no_passphrase, nullptr) : nullptr;
    BIO_free(bio);
    if (!key) throw cm::settings_error{option + ": " + file + " holds no PEM private key (or an encrypted one)"};
    signing_key k{domain, std::move(selector), file, std::move(*pem), false};
    const int type = EVP_PKEY_get_base_id(key);
    const int bits = EVP_PKEY_get_bits(key);
    EVP_PKEY_free(key);
    if (type == EVP_PKEY_ED25519) {
        k.ed25519 = true;
    } else if (type == EVP_PKEY_RSA) {
        if (bits < 2048)
            throw cm::settings_error{option + ": " + file + " is a " + std::to_string(bits) +
                                     "-bit RSA key; at least 2048 bits are needed"};
    } else {
        throw cm::settings_error{option + ": " + file + " is neither an RSA nor an Ed25519 key"};
    }
    return k;
}

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
    return name;
}

} // namespace

// ---------------------------------------------------------------------------------------
// Header text

std::string header_line(std::string_view name, std::string_view value) {
    std::string line;
    line.reserve(name.size() + value.size() + 8);
    line.append(name).append(": "); // the space Postfix took (PROTOCOL.md §3.6)
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) line += '\r';
        line += value[i];
    }
    return line;
}

std::map<std::string, std::string> parse_tags(std::string_view value) {
    std::map<std::string, std::string> tags;
    for (const auto& part : split(value, ';')) {
        const auto eq = part.find('=');
        if (eq == std::string::npos) return {};
        std::string name = trimmed(std::string_view{part}.substr(0, eq));
        std::string v;
        for (char c : std::string_view{part}.substr(eq + 1))
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') v += c;
        tags.emplace(std::move(name), std::move(v)); // the first of a duplicated tag, as libopendkim
    }
    return tags;
}

} // namespace dkim

// ---------------------------------------------------------------------------------------
// Settings

void dkim_settings::declare(cm::option_list<dkim_settings>& o) {
    // Signing is CPU work (an RSA-2048 signature is ~0.25 ms of a core): every core, unless
    // --threads says otherwise; the server's usual default leaves half to the MTA.
    o.default_threads(std::max(1u, std::thread::hardware_concurrency()));
    o("mode", &dkim_settings::mode, {{"sign", mode_type::sign}, {"verify", mode_type::verify}}, "required");
    o("domain", &dkim_settings::domain, "DOMAIN", "sign: the signing domain (d=) of --key");
    o("selector", &dkim_settings::selector, "SELECTOR", "sign: the selector (s=) of --key");
    o("key", &dkim_settings::key, "FILE", "sign: PEM private key file (RSA >= 2048 bits or Ed25519)");
    o("signing-key", &dkim_settings::signing_keys, "DOMAIN:SELECTOR:FILE",
      "sign: one more key (repeatable; every key of the chosen domain signs)");
    o("key-table", &dkim_settings::key_table, "FILE", "sign: more keys, one 'DOMAIN SELECTOR FILE' per line");
    o("canonicalization", &dkim_settings::canonicalization, "HEADER/BODY",
      "sign: simple or relaxed for each (default relaxed/relaxed)");
    o("sign-headers", &dkim_settings::sign_headers, "NAME,...",
      "sign: the header fields to sign (default: RFC 6376 5.4.1's list and the MIME fields)");
    o("oversign-headers", &dkim_settings::oversign_headers, "NAME,...",
      "sign: fields signed once more than present, so that none can be added (default From)");
    o("sign", &dkim_settings::sign_which,
      {{"auth", which_messages::auth}, {"internal", which_messages::internal}, {"all", which_messages::all}},
      "sign: which messages: authenticated (SMTP AUTH), from --internal-hosts, all (default auth)");
    o("internal-hosts", &dkim_settings::internal_hosts, "CIDR,...",
      "sign: client networks for --sign internal (repeatable; default 127.0.0.0/8,::1/128)");
    o("authserv-id", &dkim_settings::authserv_id, "ID",
      "verify: the authserv-id of Authentication-Results (default: the host name)");
    o("dns-server", &dkim_settings::dns_servers, "IP[:PORT]",
      "verify: name server for key lookups (repeatable; default: those of /etc/resolv.conf)");
    o("dns-timeout", &dkim_settings::dns_timeout, "DURATION", "verify: time allowed for the key lookups (default 5s)");
    o("key-records", &dkim_settings::key_records, "FILE",
      "verify: no DNS, keys from 'SELECTOR._domainkey.DOMAIN RECORD' lines");
    o("on-error", &dkim_settings::on_error, {{"accept", error_action::accept}, {"tempfail", error_action::tempfail}},
      "when libopendkim fails: let the message pass (unsigned, or dkim=temperror; default) or tempfail");
}

void dkim_settings::check() {
    using dkim::lower;
    if (mode == mode_type::unset) throw cm::settings_error{"--mode sign or --mode verify is required"};
    signing = mode == mode_type::sign;

    // Canonicalization: "relaxed/simple", or one word for the header (the body then simple, as in c=).
    {
        const auto slash = canonicalization.find('/');
        const std::string h = lower(canonicalization.substr(0, slash));
        const std::string b = slash == std::string::npos ? "simple" : lower(canonicalization.substr(slash + 1));
        auto known = [](const std::string& c) { return c == "simple" || c == "relaxed"; };
        if (!known(h) || !known(b))
            throw cm::settings_error{"--canonicalization: '" + canonicalization + "' is not HEADER/BODY of simple or relaxed"};
        relaxed_header = h == "relaxed";
        relaxed_body = b == "relaxed";
    }
    std::vector<std::string> networks;
    for (const auto& entry : internal_hosts)
        for (auto& n : dkim::split(entry, ',')) networks.push_back(n);
    if (internal_hosts.empty()) networks = {"127.0.0.0/8", "::1/128"};
    internal.clear();
    for (const auto& n : networks) {
        auto parsed = dkim::parse_network(n);
        if (!parsed) throw cm::settings_error{"--internal-hosts: '" + n + "' is not an address or CIDR network"};
        internal.push_back(*parsed);
    }

    // Keys: --domain/--selector/--key, --signing-key, --key-table.
    keys.clear();
    if (!domain.empty() || !selector.empty() || !key.empty()) {
        if (domain.empty() || selector.empty() || key.empty())
            throw cm::settings_error{"--domain, --selector and --key go together: one is missing"};
        keys.push_back(dkim::load_key(domain, selector, key, "--key"));
    }
    for (const auto& spec : signing_keys) {
        const auto first = spec.find(':');
        const auto second = first == std::string::npos ? first : spec.find(':', first + 1);
        if (second == std::string::npos)
            throw cm::settings_error{"--signing-key: '" + spec + "' is not DOMAIN:SELECTOR:FILE"};
        keys.push_back(dkim::load_key(spec.substr(0, first), spec.substr(first + 1, second - first - 1),
                                      spec.substr(second + 1), "--signing-key"));
    }
    if (!key_table.empty()) {
        std::string why;
        auto text = dkim::read_file(key_table, why);
        if (!text) throw cm::settings_error{"--key-table: cannot read " + key_table + ": " + why};
        std::istringstream lines{*text};
        std::string line;
        for (int number = 1; std::getline(lines, line); ++number) {
            line = dkim::trimmed(line);
            if (line.empty() || line.starts_with('#')) continue;
            std::istringstream fields{line};
            std::string d, s, f, extra;
            if (!(fields >> d >> s >> f) || (fields >> extra))
                throw cm::settings_error{"--key-table: " + key_table + " line " + std::to_string(number) +
                                         ": expected DOMAIN SELECTOR FILE"};
            keys.push_back(dkim::load_key(d, s, f, "--key-table " + key_table + " line " + std::to_string(number)));
        }
    }
    if (signing && keys.empty())
        throw cm::settings_error{"--mode sign needs a key: --domain, --selector and --key, --signing-key or --key-table"};

    std::vector<std::string> signed_names = dkim::split(sign_headers.empty() ? dkim::default_sign_headers : sign_headers, ',');
    std::vector<std::string> oversigned = dkim::split(oversign_headers, ',');
    for (const auto& names : {signed_names, oversigned})
        for (const auto& n : names)
            if (!dkim::valid_header_name(n)) throw cm::settings_error{"--sign-headers/--oversign-headers: '" + n + "' is not a header field name"};

    // Verifying.
    if (authserv_id.empty()) authserv_id = dkim::host_name();
    if (!std::ranges::all_of(authserv_id, [](unsigned char c) { return c > 32 && c < 127 && c != ';' && c != '(' && c != '"'; }))
        throw cm::settings_error{"--authserv-id: '" + authserv_id + "' is not a token (no space, ';', '(' or '\"')"};
    if (auto why = cm::dns::resolver::check_servers(dns_servers); !why.empty())
        throw cm::settings_error{"--dns-server: " + why};
    if (dns_timeout <= std::chrono::milliseconds::zero()) throw cm::settings_error{"--dns-timeout: must be more than 0"};
    records.reset();
    if (!key_records.empty()) {
        std::string why;
        auto text = dkim::read_file(key_records, why);
        if (!text) throw cm::settings_error{"--key-records: cannot read " + key_records + ": " + why};
        auto table = std::make_shared<std::map<std::string, std::string>>();
        std::istringstream lines{*text};
        std::string line;
        for (int number = 1; std::getline(lines, line); ++number) {
            line = dkim::trimmed(line);
            if (line.empty() || line.starts_with('#')) continue;
            const auto space = line.find_first_of(" \t");
            if (space == std::string::npos)
                throw cm::settings_error{"--key-records: " + key_records + " line " + std::to_string(number) +
                                         ": expected NAME RECORD"};
            std::string name = lower(line.substr(0, space));
            if (name.ends_with('.')) name.pop_back();
            (*table)[name] = dkim::trimmed(line.substr(space));
        }
        records = std::move(table);
    }

    // libopendkim, set up for these settings.
    auto l = std::make_shared<dkim::library>();
    l->handle = dkim_init(nullptr, nullptr);
    if (!l->handle) throw cm::settings_error{"libopendkim: dkim_init failed"};
    if (std::ranges::any_of(keys, &dkim::signing_key::ed25519) && !dkim_libfeature(l->handle, DKIM_FEATURE_ED25519))
        throw cm::settings_error{"this libopendkim has no Ed25519 support"};
    // A broken signature still gets a result (permerror); keys are asked for at end of message,
    // where a key lookup that failed for now affects its signature only.
    unsigned flags = DKIM_LIBFLAGS_BADSIGHANDLES | DKIM_LIBFLAGS_DELAYSIGPROC;
    dkim::c_string_array sign_list{signed_names}, over_list{oversigned};
    if (dkim_options(l->handle, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
        dkim_options(l->handle, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign_list.data(), sizeof(char**)) != DKIM_STAT_OK ||
        dkim_options(l->handle, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, over_list.data(), sizeof(char**)) != DKIM_STAT_OK ||
        dkim_set_key_lookup(l->handle, &dkim::lookup_key) != DKIM_STAT_OK)
        throw cm::settings_error{"libopendkim refused the header lists (--sign-headers, --oversign-headers)"};
    lib = std::move(l);
}

bool dkim_settings::is_internal(std::string_view address) const {
    std::string a{address};
    if (a.size() > 5 && dkim::lower(a.substr(0, 5)) == "ipv6:") a.erase(0, 5); // Sendmail's spelling
    std::uint8_t bytes[16] = {};
    bool v6 = false;
    if (inet_pton(AF_INET, a.c_str(), bytes) != 1) {
        if (inet_pton(AF_INET6, a.c_str(), bytes) != 1) return false;
        v6 = true;
        static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(bytes, mapped, 12) == 0) { // ::ffff:192.0.2.1 is 192.0.2.1
            std::memmove(bytes, bytes + 12, 4);
            v6 = false;
        }
    }
    return std::ranges::any_of(internal, [&](const dkim::network& n) {
        return n.v6 == v6 && dkim::prefix_equal(n.address, bytes, n.prefix);
    });
}

std::vector<const dkim::signing_key*> dkim_settings::keys_for(std::string_view from_domain) const {
    std::string d = dkim::lower(from_domain);
    if (d.ends_with('.')) d.pop_back();
    for (std::string_view candidate = d; !candidate.empty();) {
        std::vector<const dkim::signing_key*> found;
        for (const auto& k : keys)
            if (k.domain == candidate) found.push_back(&k);
        if (!found.empty()) return found;
        const auto dot = candidate.find('.');
        if (dot == std::string_view::npos) break;
        candidate.remove_prefix(dot + 1);
    }
    return {};
}

// ---------------------------------------------------------------------------------------
// Signing

namespace dkim {

namespace {

struct dkim_handle {
    DKIM* h = nullptr;
    ~dkim_handle() {
        if (h) dkim_free(h);
    }
};

/// Feeds the message to a signing or verifying handle. Returns "" or what went wrong. A
/// DKIM-Signature libopendkim refuses outright goes to `refused_signatures` (when verifying)
/// instead: the other signatures are still checked.
std::string feed(DKIM* h, const cm::whole_message& msg, std::vector<std::string>* refused_signatures = nullptr) {
    for (const auto& field : msg.headers) {
        auto line = header_line(field.name, field.value);
        if (DKIM_STAT st = dkim_header(h, reinterpret_cast<unsigned char*>(line.data()), line.size()); st != DKIM_STAT_OK) {
            if (refused_signatures && cm::mail::iequals(field.name, DKIM_SIGNHEADER)) {
                refused_signatures->push_back(field.value);
                continue;
            }
            return "header " + field.name + ": " + dkim_getresultstr(st);
        }
    }
    if (DKIM_STAT st = dkim_eoh(h); st != DKIM_STAT_OK && st != DKIM_STAT_NOSIG)
        return std::string{"end of headers: "} + (dkim_geterror(h) ? dkim_geterror(h) : dkim_getresultstr(st));
    if (!msg.body.empty()) {
        // libopendkim only reads the body; its API is not const-correct.
        auto* body = reinterpret_cast<unsigned char*>(const_cast<char*>(msg.body.data()));
        if (DKIM_STAT st = dkim_body(h, body, msg.body.size()); st != DKIM_STAT_OK)
            return std::string{"body: "} + dkim_getresultstr(st);
    }
    return {};
}

/// Folds libopendkim's one-line signature ("v=1; a=...; b=SIG") for the MTA (LF breaks,
/// PROTOCOL.md §4.5) where the signature's hash cannot see it: inside the b= value always
/// (verifiers delete it with its white space), and at the spaces between tags only for relaxed
/// header canonicalization (which unfolds and collapses white space). libopendkim's own folding
/// is not used: it decides to break before b= for RSA keys only, so with simple header
/// canonicalization an Ed25519 signature would not match what was hashed (2.11.0~beta2).
std::string fold_signature(std::string_view flat, bool relaxed_header) {
    constexpr std::size_t width = 76;
    const auto b_at = flat.rfind(" b=");
    if (b_at == std::string_view::npos) return std::string{flat};
    std::string_view before = flat.substr(0, b_at + 1), b_value = flat.substr(b_at + 3);
    std::string out;
    std::size_t column = std::strlen(DKIM_SIGNHEADER ": ");
    auto put = [&](std::string_view word, bool may_break) { // word without its leading space
        if (!out.empty()) {
            if (may_break && column + 1 + word.size() > width) {
                out += "\n\t";
                column = 8;
            } else {
                out += ' ';
                ++column;
            }
        }
        out.append(word);
        column += word.size();
    };
    if (relaxed_header) {
        while (!before.empty() && before.back() == ' ') before.remove_suffix(1);
        for (const auto& word : split(before, ' ')) put(word, true);
        put("b=", true);
    } else {
        out = std::string{before} + "b=";
        column += out.size();
    }
    while (!b_value.empty()) {
        const std::size_t room = column < width ? width - column : 0;
        if (room == 0) {
            out += "\n\t";
            column = 8;
            continue;
        }
        const auto chunk = b_value.substr(0, room);
        out.append(chunk);
        column += chunk.size();
        b_value.remove_prefix(chunk.size());
    }
    return out;
}

std::optional<std::string> sign_one(const dkim_settings& s, const signing_key& key, const cm::whole_message& msg,
                                    const std::string& queue_id, std::string& why) {
    DKIM_STAT st = DKIM_STAT_OK;
    dkim_handle d{dkim_sign(s.lib->handle, reinterpret_cast<const unsigned char*>(queue_id.c_str()), nullptr,
                            reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(key.pem.c_str())),
                            reinterpret_cast<const unsigned char*>(key.selector.c_str()),
                            reinterpret_cast<const unsigned char*>(key.domain.c_str()),
                            s.relaxed_header ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE,
                            s.relaxed_body ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE,
                            key.ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st)};
    if (!d.h) {
        why = std::string{"dkim_sign: "} + dkim_getresultstr(st);
        return std::nullopt;
    }
    // One line: we fold it ourselves (fold_signature), where no canonicalization can tell.
    if (st = dkim_set_margin(d.h, 0); st != DKIM_STAT_OK) {
        why = std::string{"dkim_set_margin: "} + dkim_getresultstr(st);
        return std::nullopt;
    }
    if (why = feed(d.h, msg); !why.empty()) return std::nullopt;
    if (st = dkim_eom(d.h, nullptr); st != DKIM_STAT_OK) {
        why = std::string{"dkim_eom: "} + (dkim_geterror(d.h) ? dkim_geterror(d.h) : dkim_getresultstr(st));
        return std::nullopt;
    }
    unsigned char* text = nullptr;
    size_t length = 0;
    if (st = dkim_getsighdr_d(d.h, std::strlen(DKIM_SIGNHEADER ": "), &text, &length); st != DKIM_STAT_OK) {
        why = std::string{"dkim_getsighdr_d: "} + dkim_getresultstr(st);
        return std::nullopt;
    }
    return fold_signature({reinterpret_cast<const char*>(text), length}, s.relaxed_header);
}

} // namespace

result sign(const dkim_settings& s, const cm::whole_message& msg, bool authenticated, std::string_view client,
            std::string_view queue_id_view) {
    const std::string queue_id{queue_id_view};
    if (!s.lib) return cm::next; // settings never checked (cannot happen under cm::run)
    using which = dkim_settings::which_messages;
    const bool wanted = s.sign_which == which::all || (s.sign_which == which::auth && authenticated) ||
                        (s.sign_which == which::internal && s.is_internal(client));
    if (!wanted) return cm::next;
    const auto froms = msg.all("From");
    if (froms.size() != 1) {
        log_event(log_level::info, 0, "dkim_not_signed",
                  std::string{"not signed: "} + (froms.empty() ? "no From header" : "several From headers"),
                  {{"queue_id", queue_id}});
        return cm::next;
    }
    const auto from = cm::mail::parse_mailbox(froms.front());
    if (!from.ok()) {
        log_event(log_level::info, 0, "dkim_not_signed", "not signed: From holds no single address", {{"queue_id", queue_id}});
        return cm::next;
    }
    const std::string domain = cm::mail::to_ascii(from.value->domain).value_or(lower(from.value->domain));
    const auto keys = s.keys_for(domain);
    if (keys.empty()) {
        log_event(log_level::info, 0, "dkim_not_signed", "not signed: no key for the From domain",
                  {{"queue_id", queue_id}, {"domain", domain}});
        return cm::next;
    }
    result r;
    for (const auto* key : keys) {
        std::string why;
        auto value = sign_one(s, *key, msg, queue_id, why);
        if (!value) {
            log_event(log_level::error, 0, "dkim_sign_failed", "signing failed: " + why,
                      {{"queue_id", queue_id}, {"d", key->domain}, {"s", key->selector}});
            if (s.on_error == dkim_settings::error_action::tempfail) return cm::tempfail;
            continue;
        }
        r.add(cm::insert_header{0, DKIM_SIGNHEADER, std::move(*value)});
        log_event(log_level::info, 0, "dkim_signed", "signed", {{"queue_id", queue_id}, {"d", key->domain}, {"s", key->selector}});
    }
    return r;
}

// ---------------------------------------------------------------------------------------
// Verifying

namespace {

/// RFC 8601 §2.7.1 results, from what libopendkim says of one signature (and of its key
/// lookup: a lookup that failed for now is a temperror whatever else is wrong).
struct sig_outcome {
    std::string result, reason, domain, selector, b;
};

sig_outcome judge(DKIM_SIGINFO* sig, const fetched_keys& keys) {
    sig_outcome o;
    if (auto* d = dkim_sig_getdomain(sig)) o.domain = reinterpret_cast<const char*>(d);
    if (auto* s = dkim_sig_getselector(sig)) o.selector = reinterpret_cast<const char*>(s);
    if (auto* b = dkim_sig_gettagvalue(sig, false, reinterpret_cast<unsigned char*>(const_cast<char*>("b"))))
        for (const char* p = reinterpret_cast<const char*>(b); *p && o.b.size() < 8; ++p)
            if (!std::isspace(static_cast<unsigned char>(*p))) o.b += *p;
    const unsigned flags = dkim_sig_getflags(sig);
    const int error = dkim_sig_geterror(sig);
    auto reason = [&] {
        const char* text = dkim_sig_geterrorstr(error);
        return std::string{text ? text : "unknown error"};
    };
    if (dkim_alg_t alg{}; dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK && alg == DKIM_SIGN_RSASHA1) {
        o.result = "permerror"; // RFC 8301 §3.1: verifiers must not consider SHA-1 signatures valid
        o.reason = "rsa-sha1 is not accepted";
        return o;
    }
    if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
        o.result = "pass";
        return o;
    }
    if (const auto* r = keys.find(sig); r && r->status == cm::dns::txt_status::temporary_failure) {
        o.result = "temperror";
        o.reason = "key lookup: " + r->reason;
        return o;
    }
    if ((flags & DKIM_SIGFLAG_PROCESSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
        o.result = "fail";
        o.reason = "body hash mismatch";
        return o;
    }
    switch (error) {
    case DKIM_SIGERROR_NOKEY:
        o.result = "permerror";
        o.reason = "no key for signature";
        break;
    case DKIM_SIGERROR_OK:
    case DKIM_SIGERROR_UNKNOWN:
        if (flags & DKIM_SIGFLAG_PROCESSED) {
            o.result = "fail";
            o.reason = "signature verification failed";
        } else {
            o.result = "neutral";
            o.reason = "signature not processed";
        }
        break;
    case DKIM_SIGERROR_BADSIG:
        o.result = "fail";
        o.reason = reason();
        break;
    case DKIM_SIGERROR_KEYFAIL:
        o.result = "temperror";
        o.reason = reason();
        break;
    case DKIM_SIGERROR_EXPIRED:
    case DKIM_SIGERROR_FUTURE:
    case DKIM_SIGERROR_TOOLARGE_L:
    case DKIM_SIGERROR_KEYTOOSMALL:
        o.result = "neutral";
        o.reason = reason();
        break;
    default: // the key record or the signature is malformed, absent, revoked, unusable
        o.result = "permerror";
        o.reason = reason();
        break;
    }
    return o;
}

// (A function of its own: g++ 12 miscompiles some braced initialisers inside coroutines.)
cm::dns::resolver_options resolver_options(const dkim_settings& s) {
    cm::dns::resolver_options o;
    o.servers = s.dns_servers;
    return o;
}

/// RFC 2045 value: a token, or a quoted string when it holds a tspecial ('/', '=', ...).
std::string ar_value(std::string_view v) {
    if (!v.empty() && v.find_first_of("()<>@,;:\\\"/[]?= \t") == std::string_view::npos) return std::string{v};
    std::string q = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    return q + '"';
}

std::string ar_result(const sig_outcome& o) {
    std::string text = "dkim=" + o.result;
    if (!o.reason.empty()) text += " reason=" + ar_value(o.reason);
    if (!o.domain.empty()) text += " header.d=" + ar_value(o.domain);
    if (!o.selector.empty()) text += " header.s=" + ar_value(o.selector);
    if (!o.b.empty()) text += " header.b=" + ar_value(o.b);
    return text;
}

/// The authserv-id an Authentication-Results value starts with (RFC 8601 §2.2), comments
/// and folding skipped.
std::string authserv_id_of(std::string_view value) {
    std::size_t i = 0;
    for (;;) {
        while (i < value.size() && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
        if (i < value.size() && value[i] == '(') {
            int depth = 0;
            for (; i < value.size(); ++i) {
                if (value[i] == '\\') ++i;
                else if (value[i] == '(') ++depth;
                else if (value[i] == ')' && --depth == 0) { ++i; break; }
            }
            continue;
        }
        break;
    }
    const auto end = value.find_first_of("; \t\r\n(", i);
    return std::string{value.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i)};
}

} // namespace

namespace {

/// The key records the message's signatures name, looked up at once (at most
/// max_key_lookups of them), or read from --key-records.
boost::asio::awaitable<fetched_keys> fetch_keys(const dkim_settings& s, const cm::whole_message& msg,
                                                const std::string& queue_id) {
    std::vector<std::string> names;
    for (auto value : msg.all(DKIM_SIGNHEADER)) {
        auto tags = parse_tags(value);
        const auto d = tags.find("d"), sel = tags.find("s");
        if (d == tags.end() || sel == tags.end() || !plausible_domain(d->second) || sel->second.empty()) continue;
        auto name = key_name(sel->second, d->second);
        if (std::ranges::find(names, name) == names.end()) names.push_back(std::move(name));
    }
    // A message with a hundred signatures must not make us send a hundred queries: the keys
    // past the first few are not looked up, and their signatures are reported as temperror.
    std::vector<std::string> skipped;
    if (names.size() > max_key_lookups) {
        skipped.assign(names.begin() + max_key_lookups, names.end());
        names.resize(max_key_lookups);
    }
    fetched_keys keys;
    if (s.records) {
        for (const auto& name : names) {
            auto it = s.records->find(name);
            keys.by_name[name] = it == s.records->end()
                                     ? cm::dns::txt_result{cm::dns::txt_status::no_record, {}, "not in --key-records"}
                                     : cm::dns::txt_result{cm::dns::txt_status::found, {it->second}, {}};
        }
    } else if (!names.empty()) {
        try {
            cm::dns::resolver resolver{co_await boost::asio::this_coro::executor, resolver_options(s)};
            auto found = co_await resolver.resolve_txt(names, s.dns_timeout);
            for (std::size_t i = 0; i < names.size(); ++i) keys.by_name[names[i]] = std::move(found[i]);
        } catch (const std::exception& e) { // c-ares could not start: every key is a temporary failure
            log_event(log_level::error, 0, "dkim_dns_failed", std::string{"DNS: "} + e.what(), {{"queue_id", queue_id}});
            for (const auto& name : names) keys.by_name[name] = {cm::dns::txt_status::temporary_failure, {}, e.what()};
        }
    }
    for (const auto& name : skipped)
        keys.by_name[name] = {cm::dns::txt_status::temporary_failure, {}, "more than " + std::to_string(max_key_lookups) + " keys"};
    for (const auto& [name, r] : keys.by_name)
        if (r.status == cm::dns::txt_status::temporary_failure)
            log_event(log_level::warning, 0, "dkim_key_lookup_failed", "key lookup failed for now: " + r.reason,
                      {{"queue_id", queue_id}, {"key", name}});
    co_return keys;
}

/// Every signature checked by libopendkim with the keys fetched: one Authentication-Results
/// entry each, in message order. `failure` says why libopendkim could not do its part.
std::vector<std::string> check_signatures(const dkim_settings& s, const cm::whole_message& msg, const fetched_keys& keys,
                                          const std::string& queue_id, std::string& failure) {
    std::vector<std::string> results;
    auto report = [&](const sig_outcome& o) {
        log_event(log_level::info, 0, "dkim_result", ar_result(o), {{"queue_id", queue_id}});
        results.push_back(ar_result(o));
    };
    DKIM_STAT st = DKIM_STAT_OK;
    dkim_handle d{dkim_verify(s.lib->handle, reinterpret_cast<const unsigned char*>(queue_id.c_str()), nullptr, &st)};
    if (!d.h) {
        failure = std::string{"dkim_verify: "} + dkim_getresultstr(st);
        return results;
    }
    dkim_set_user_context(d.h, const_cast<fetched_keys*>(&keys)); // read only, by lookup_key
    std::vector<std::string> refused;
    if (failure = feed(d.h, msg, &refused); !failure.empty()) return results;
    for (const auto& value : refused) {
        auto tags = parse_tags(value);
        report({"permerror", "signature syntax error", tags["d"], tags["s"], tags["b"].substr(0, 8)});
    }
    st = dkim_eom(d.h, nullptr); // its verdict is per signature, read below
    DKIM_SIGINFO** sigs = nullptr;
    int count = 0;
    if (dkim_getsiglist(d.h, &sigs, &count) == DKIM_STAT_OK) {
        for (int i = 0; i < count; ++i) {
            const unsigned flags = dkim_sig_getflags(sigs[i]);
            if (!(flags & DKIM_SIGFLAG_PROCESSED) && !(flags & DKIM_SIGFLAG_IGNORE))
                (void)dkim_sig_process(d.h, sigs[i]); // dkim_eom stops at the first good one
            report(judge(sigs[i], keys));
        }
    }
    if (count == 0 && refused.empty()) failure = std::string{"no signature handle: "} + dkim_getresultstr(st);
    return results;
}

} // namespace

boost::asio::awaitable<result> verify(std::shared_ptr<const dkim_settings> s, const cm::whole_message& msg,
                                      std::string queue_id) {
    if (!s->lib) co_return cm::next; // settings never checked (cannot happen under cm::run)
    std::vector<std::string> results;
    if (!msg.all(DKIM_SIGNHEADER).empty()) {
        const auto keys = co_await fetch_keys(*s, msg, queue_id);
        std::string failure;
        results = check_signatures(*s, msg, keys, queue_id, failure);
        if (!failure.empty()) {
            log_event(log_level::error, 0, "dkim_verify_failed", "verification failed: " + failure, {{"queue_id", queue_id}});
            if (s->on_error == dkim_settings::error_action::tempfail) co_return cm::tempfail;
            results = {"dkim=temperror reason=" + ar_value("internal error")};
        }
    }
    if (results.empty()) results.push_back("dkim=none");

    result r;
    // Forged results: an Authentication-Results that claims our authserv-id did not come from
    // us (we add ours now). Deleted bottom up, before the insertion, so that every occurrence
    // number still means what it meant (PROTOCOL.md: CHGHEADER counts per name).
    const auto existing = msg.all("Authentication-Results");
    for (std::size_t k = existing.size(); k-- > 0;) {
        if (cm::mail::iequals(authserv_id_of(existing[k]), s->authserv_id)) {
            r.add(cm::delete_header{"Authentication-Results", static_cast<std::uint32_t>(k + 1)});
            log_event(log_level::info, 0, "dkim_forged_results_removed",
                      "removed an Authentication-Results that claims our authserv-id", {{"queue_id", queue_id}});
        }
    }
    std::string value = s->authserv_id + ";";
    for (std::size_t i = 0; i < results.size(); ++i) value += (i ? ";\n\t" : "\n\t") + results[i];
    r.add(cm::insert_header{0, "Authentication-Results", std::move(value)});
    co_return r;
}

} // namespace dkim
} // namespace examples
