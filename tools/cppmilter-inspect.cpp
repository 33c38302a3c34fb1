// cppmilter-inspect: shows how the message toolkit (cppmilter::mail) reads a message's header
// section: every field raw, unfolded and decoded, and the mailboxes of the address fields
// with their IDNA and organisational domains, as JSON.
//
//     cppmilter-inspect mail.eml
//     cppmilter-inspect --compact --psl public_suffix_list.dat - < mail.eml
//
// Exit status: 0 done (problems in the message are reported in "errors"), 64 usage error,
// 66 the message or the --psl file cannot be read, 74 the output cannot be written.
#include <cppmilter/mail/address.hpp>
#include <cppmilter/mail/charset.hpp>
#include <cppmilter/mail/domain.hpp>
#include <cppmilter/mail/header.hpp>

// Boost.JSON compiled into this one file: Debian's libboost-json is not needed.
#include <boost/json/src.hpp>
#include <boost/program_options.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace json = boost::json;
namespace mail = cppmilter::mail;
namespace po = boost::program_options;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 64;
constexpr int exit_no_input = 66;
constexpr int exit_io_error = 74;

struct input_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string read_all(std::FILE* in, const std::string& name) {
    std::string text;
    std::array<char, 65536> buffer;
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), in)) > 0)
        text.append(buffer.data(), n);
    if (std::ferror(in)) throw input_error{name + ": " + std::generic_category().message(errno)};
    return text;
}

struct file_closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

std::string read_input(const std::string& file) {
    if (file == "-") return read_all(stdin, "standard input");
    const std::unique_ptr<std::FILE, file_closer> in{std::fopen(file.c_str(), "rb")};
    if (!in) throw input_error{file + ": " + std::generic_category().message(errno)};
    return read_all(in.get(), file);
}

struct header_field {
    std::string name;
    std::string
        raw; // as Postfix hands it to a milter: one leading space gone, lines joined by "\n"
};

struct header_section {
    std::vector<header_field> fields;
    std::vector<std::string> errors;
};

bool is_wsp(char c) noexcept {
    return c == ' ' || c == '\t';
}

// The field name of `line` ("Name:" or the obsolete "Name :"), or nothing if it is no field.
std::optional<std::string_view> field_name(std::string_view line) {
    std::size_t end = 0;
    while (end < line.size() && line[end] >= '!' && line[end] <= '~' && line[end] != ':')
        ++end;
    std::size_t colon = end;
    while (colon < line.size() && is_wsp(line[colon]))
        ++colon;
    if (end == 0 || colon == line.size() || line[colon] != ':') return std::nullopt;
    return line.substr(0, end);
}

std::string quoted_excerpt(std::string_view line) {
    constexpr std::size_t max_size = 40;
    // Appended piece by piece: `"\"" + std::string{...}` trips g++ 12's false -Wrestrict at -O3.
    std::string out{'"'};
    out.append(line.substr(0, max_size));
    if (line.size() > max_size) out.append("...");
    out.push_back('"');
    return out;
}

// The fields up to the first empty line (or the end). A line that is no field is reported and
// skipped with its continuation lines, so one bad line hides nothing after it.
header_section read_header_section(std::string_view message) {
    header_section section;
    bool skipping = false; // in the continuation lines of a reported line
    for (std::size_t number = 1; !message.empty(); ++number) {
        const auto nl = message.find('\n');
        std::string_view line = message.substr(0, nl);
        message = nl == std::string_view::npos ? std::string_view{} : message.substr(nl + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);

        if (line.empty()) break;
        if (is_wsp(line.front())) {
            if (skipping) continue;
            if (section.fields.empty()) {
                section.errors.push_back("line " + std::to_string(number) +
                                         ": continuation line before any header field");
                skipping = true;
                continue;
            }
            section.fields.back().raw.append("\n").append(line);
            continue;
        }
        if (number == 1 && line.starts_with("From "))
            continue; // an mbox separator, as in saved mail
        const auto name = field_name(line);
        if (!name) {
            section.errors.push_back("line " + std::to_string(number) +
                                     ": not a header field: " + quoted_excerpt(line));
            skipping = true;
            continue;
        }
        skipping = false;
        std::string_view value = line.substr(line.find(':') + 1);
        if (value.starts_with(' ')) value.remove_prefix(1);
        section.fields.push_back({std::string{*name}, std::string{value}});
    }
    return section;
}

struct address_field {
    std::string_view key;  // in "addresses"
    std::string_view name; // the header field
};
constexpr std::array address_fields{
    address_field{"from", "From"},
    address_field{"sender", "Sender"},
    address_field{"reply_to", "Reply-To"},
    address_field{"to", "To"},
    address_field{"cc", "Cc"},
    address_field{"bcc", "Bcc"},
};

json::value optional_string(const std::optional<std::string>& s) {
    if (s) return json::string{*s};
    return nullptr;
}

json::object mailbox_json(const mail::mailbox& m, const mail::public_suffix_list& psl) {
    return {
        {"display", m.display_name},
        {"local", m.local_part},
        {"domain", m.domain},
        {"domain_ascii", optional_string(mail::to_ascii(m.domain))},
        {"org_domain", optional_string(psl.organizational_domain(m.domain))},
    };
}

json::object inspect(const header_section& section, const mail::public_suffix_list& psl) {
    json::array headers;
    for (const auto& field : section.fields) {
        const mail::header_field_view view{field.name, field.raw};
        headers.push_back(json::object{
            {"name", field.name},
            {"raw", field.raw},
            {"unfolded", view.unfolded()},
            {"decoded", view.decoded()},
        });
    }

    json::array errors;
    for (const auto& e : section.errors)
        errors.emplace_back(e);

    json::object addresses;
    for (const auto& [key, name] : address_fields) {
        json::array mailboxes;
        for (const auto& field : section.fields) {
            if (!mail::iequals(field.name, name)) continue;
            const auto list = mail::parse_address_list(field.raw);
            for (const auto& m : list.mailboxes)
                mailboxes.push_back(mailbox_json(m, psl));
            if (list.error) errors.emplace_back(std::string{key} + ": " + list.error->message());
        }
        addresses[key] = std::move(mailboxes);
    }

    return {{"headers", std::move(headers)},
            {"addresses", std::move(addresses)},
            {"errors", std::move(errors)}};
}

// Boost.JSON 1.81 serialises in one line only.
void pretty_print(const json::value& v, std::string& out, std::string& indent) {
    const auto open = [&](char bracket) {
        out += bracket;
        out += '\n';
        indent.append(2, ' ');
    };
    const auto close = [&](char bracket) {
        indent.resize(indent.size() - 2);
        out += '\n';
        out += indent;
        out += bracket;
    };
    if (const auto* object = v.if_object(); object && !object->empty()) {
        open('{');
        for (auto it = object->begin(); it != object->end(); ++it) {
            if (it != object->begin()) out += ",\n";
            out += indent;
            out += json::serialize(it->key());
            out += ": ";
            pretty_print(it->value(), out, indent);
        }
        close('}');
    } else if (const auto* array = v.if_array(); array && !array->empty()) {
        open('[');
        for (auto it = array->begin(); it != array->end(); ++it) {
            if (it != array->begin()) out += ",\n";
            out += indent;
            pretty_print(*it, out, indent);
        }
        close(']');
    } else {
        out += json::serialize(v);
    }
}

// Boost.JSON writes the bytes of a string as they are, so a header in Latin-1 or broken UTF-8
// would make the output invalid JSON. Each maximal ill-formed subsequence becomes one U+FFFD
// (Unicode §3.9, as browsers decode), so one stray byte shows as one replacement character.
// ASCII is never part of an ill-formed subsequence, so this is safe on serialised JSON: it
// cannot touch quotes, escapes or structure.
std::string replace_invalid_utf8(std::string_view bytes) {
    if (mail::is_valid_utf8(bytes)) return std::string{bytes};
    constexpr std::string_view replacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(bytes.size() + bytes.size() / 8);
    std::size_t i = 0;
    while (i < bytes.size()) {
        const auto lead = static_cast<unsigned char>(bytes[i]);
        if (lead < 0x80) {
            out += bytes[i++];
            continue;
        }
        // Continuation bytes needed, and the range of the first one (RFC 3629 §4: no overlong
        // forms, no surrogates, nothing above U+10FFFF).
        std::size_t needed = 0;
        unsigned char low = 0x80, high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF)
            needed = 1;
        else if (lead >= 0xE0 && lead <= 0xEF) {
            needed = 2;
            if (lead == 0xE0) low = 0xA0;
            if (lead == 0xED) high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            needed = 3;
            if (lead == 0xF0) low = 0x90;
            if (lead == 0xF4) high = 0x8F;
        }
        std::size_t length = 1;
        while (length <= needed && i + length < bytes.size()) {
            const auto next = static_cast<unsigned char>(bytes[i + length]);
            if (next < low || next > high) break;
            low = 0x80;
            high = 0xBF;
            ++length;
        }
        if (needed > 0 && length == needed + 1)
            out.append(bytes.substr(i, length));
        else
            out.append(replacement);
        i += length;
    }
    return out;
}

const char* const help_notes = R"(
Prints the message's header fields and the mailboxes of From, Sender, Reply-To, To, Cc and
Bcc as JSON:
  {"headers": [{"name", "raw", "unfolded", "decoded"}, ...],
   "addresses": {"from": [{"display", "local", "domain", "domain_ascii", "org_domain"}, ...],
                 "sender": [...], "reply_to": [...], "to": [...], "cc": [...], "bcc": [...]},
   "errors": ["line 3: not a header field: \"...\"", "to: unterminated quoted string at offset 12", ...]}
The header section ends at the first empty line; lines may end in CRLF or LF.
"raw" is the value after "Name:" as Postfix hands it to a milter:
stripped of one leading space, folded lines joined by "\n" (no CR).
"unfolded" has the folding removed; "decoded" has its RFC 2047 encoded words decoded as
well (meant for unstructured fields; for address fields a display aid only).
Offsets in address errors count bytes of "raw". "domain_ascii" and "org_domain" are null
when the domain is no valid domain name. Bytes that are not UTF-8 are shown as U+FFFD.
A first line "From ..." (an mbox separator) is skipped.

Exit status: 0 done (problems in the message go to "errors"), 64 usage error,
66 input or --psl file unreadable, 74 output error.
)";

} // namespace

int main(int argc, char** argv) {
    std::string file, psl_file;
    po::options_description visible{
        "Usage: cppmilter-inspect [--compact] [--psl FILE] [FILE|-]\nOptions"};
    // clang-format off
    visible.add_options()
        ("help,h", "show this help")
        ("version", "show the version")
        ("compact", "print the JSON on one line")
        ("psl", po::value(&psl_file)->value_name("FILE"),
         "Public Suffix List file for org_domain (.dat or .dafsa; default: the system's)");
    // clang-format on
    po::options_description hidden;
    hidden.add_options()("file", po::value(&file)->default_value("-"), "message file");
    po::options_description all;
    all.add(visible).add(hidden);
    po::positional_options_description positional;
    positional.add("file", 1);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(),
                  vm);
        po::notify(vm);
    } catch (const std::exception& e) { // Boost.Program_options errors
        std::cerr << "cppmilter-inspect: " << e.what() << " (see --help)\n";
        return exit_usage;
    }
    if (vm.count("help")) {
        std::cout << visible << help_notes;
        return exit_ok;
    }
    if (vm.count("version")) {
        std::cout << "cppmilter-inspect " << CPPMILTER_VERSION << '\n';
        return exit_ok;
    }

    std::optional<mail::public_suffix_list> loaded_psl;
    if (!psl_file.empty()) {
        std::error_code ec;
        loaded_psl = mail::public_suffix_list::load(psl_file, ec);
        if (!loaded_psl) {
            std::cerr << "cppmilter-inspect: --psl " << psl_file << ": " << ec.message() << '\n';
            return exit_no_input;
        }
    }
    const mail::public_suffix_list& psl =
        loaded_psl ? *loaded_psl : mail::public_suffix_list::system();

    std::string message;
    try {
        message = read_input(file);
    } catch (const input_error& e) {
        std::cerr << "cppmilter-inspect: " << e.what() << '\n';
        return exit_no_input;
    }

    const json::value result = inspect(read_header_section(message), psl);
    std::string text;
    if (vm.count("compact")) {
        text = json::serialize(result);
    } else {
        std::string indent;
        pretty_print(result, text, indent);
    }
    std::cout << replace_invalid_utf8(text) << '\n' << std::flush;
    if (!std::cout) {
        std::cerr << "cppmilter-inspect: cannot write the output\n";
        return exit_io_error;
    }
    return exit_ok;
}
