#include <cppmilter/mail/domain.hpp>

#include <idn2.h>
#include <libpsl.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace cppmilter::mail {

namespace {

bool is_ascii(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Letters, digits, hyphens, and '_' (DKIM selectors, _dmarc, SRV names live in mail domains).
bool is_label_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// The checks libidn2 leaves to us: it passes empty labels, spaces and most ASCII through.
bool valid_ascii_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 253) return false;
    std::size_t label = 0;
    for (const char c : name) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (!is_label_char(c) || ++label > 63) {
            return false;
        }
    }
    return label != 0;
}

// Takes ownership of a string libidn2 allocated.
std::string take(char* s) {
    std::string copy{s};
    idn2_free(s);
    return copy;
}

} // namespace

std::optional<std::string> to_ascii(std::string_view domain) {
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    if (domain.empty() || domain.find('\0') != std::string_view::npos) return std::nullopt;
    std::string ascii;
    if (is_ascii(domain)) {
        // Lower case is all UTS #46 does to LDH labels (and libidn2 refuses a leading '-',
        // which real host names have); only A-labels need libidn2, to check their Punycode.
        ascii.reserve(domain.size());
        for (const char c : domain) ascii += c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
    }
    if (!is_ascii(domain) || ascii.find("xn--") != std::string::npos) {
        char* out = nullptr;
        const std::string input{domain};
        if (idn2_to_ascii_8z(input.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
            return std::nullopt;
        ascii = take(out);
    }
    if (!valid_ascii_name(ascii)) return std::nullopt;
    return ascii;
}

std::optional<std::string> to_unicode(std::string_view domain) {
    const std::optional<std::string> ascii = to_ascii(domain);
    if (!ascii) return std::nullopt;
    if (ascii->find("xn--") == std::string::npos) return ascii;
    char* out = nullptr;
    if (idn2_to_unicode_8z8z(ascii->c_str(), &out, 0) != IDN2_OK) return std::nullopt;
    return take(out);
}

bool same_domain(std::string_view a, std::string_view b) {
    const std::optional<std::string> x = to_ascii(a);
    const std::optional<std::string> y = to_ascii(b);
    if (x && y) return *x == *y;
    return !x && !y && a == b;
}

// ---- Public Suffix List --------------------------------------------------------------------

class public_suffix_list::impl {
public:
    impl(const psl_ctx_t* context, bool owned, std::string source)
        : context_{context}, owned_{owned}, source_{std::move(source)} {}
    ~impl() {
        if (owned_) psl_free(const_cast<psl_ctx_t*>(context_));
    }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    const psl_ctx_t* context() const noexcept { return context_; }
    const std::string& source() const noexcept { return source_; }

private:
    const psl_ctx_t* context_;
    bool owned_; // libpsl's built-in context is static
    std::string source_;
};

public_suffix_list::public_suffix_list(std::shared_ptr<const impl> data) noexcept
    : impl_{std::move(data)} {}

std::optional<public_suffix_list> public_suffix_list::load(const std::filesystem::path& file,
                                                           std::error_code& ec) {
    ec.clear();
    // libpsl only says "failed": open the file first for the reason.
    std::FILE* probe = std::fopen(file.c_str(), "rb");
    if (!probe) {
        ec = std::error_code{errno, std::generic_category()};
        return std::nullopt;
    }
    std::fclose(probe);
    psl_ctx_t* context = psl_load_file(file.c_str());
    // A text file with no rule in it is no list (a DAFSA file reports -1: "not counted").
    if (!context || psl_suffix_count(context) == 0) {
        if (context) psl_free(context);
        ec = std::make_error_code(std::errc::invalid_argument);
        return std::nullopt;
    }
    return public_suffix_list{std::make_shared<const impl>(context, true, file.string())};
}

public_suffix_list public_suffix_list::load(const std::filesystem::path& file) {
    std::error_code ec;
    std::optional<public_suffix_list> list = load(file, ec);
    if (!list) throw std::system_error{ec, "cannot load the public suffix list " + file.string()};
    return *std::move(list);
}

public_suffix_list public_suffix_list::builtin() {
    if (const psl_ctx_t* context = psl_builtin())
        return public_suffix_list{std::make_shared<const impl>(context, false, "builtin")};
    return minimal();
}

public_suffix_list public_suffix_list::minimal() {
    // The suffixes most mail comes from; a libpsl without built-in data and no file is rare
    // (Debian's has both), so this only has to keep the common cases right.
    static constexpr char rules[] =
        "com\nnet\norg\nedu\ngov\nmil\nint\ninfo\nbiz\nname\npro\nmobi\napp\ndev\nio\nme\n"
        "eu\nde\nfr\nnl\nbe\nch\nat\nit\nes\npt\nse\nno\ndk\nfi\npl\ncz\nru\nua\nus\nca\n"
        "uk\nco.uk\norg.uk\nac.uk\ngov.uk\nme.uk\nnet.uk\nltd.uk\nplc.uk\nsch.uk\nnhs.uk\n"
        "jp\nco.jp\nne.jp\nor.jp\nac.jp\ngo.jp\nad.jp\ned.jp\ngr.jp\nlg.jp\n"
        "au\ncom.au\nnet.au\norg.au\nedu.au\ngov.au\nid.au\nasn.au\n"
        "nz\nco.nz\nnet.nz\norg.nz\nac.nz\ngovt.nz\n"
        "br\ncom.br\nnet.br\norg.br\ngov.br\n"
        "cn\ncom.cn\nnet.cn\norg.cn\ngov.cn\nedu.cn\n"
        "in\nco.in\nnet.in\norg.in\nac.in\ngov.in\n"
        "za\nco.za\norg.za\n"
        "kr\nco.kr\nor.kr\n"
        "tw\ncom.tw\nnet.tw\norg.tw\n"
        "hk\ncom.hk\nnet.hk\norg.hk\n"
        "sg\ncom.sg\nnet.sg\norg.sg\n"
        "mx\ncom.mx\n"
        "ar\ncom.ar\n"
        "tr\ncom.tr\n";
    static const std::shared_ptr<const impl> data = [] {
        psl_ctx_t* context = nullptr;
        if (std::FILE* in = fmemopen(const_cast<char*>(rules), sizeof rules - 1, "r")) {
            context = psl_load_fp(in);
            std::fclose(in);
        }
        if (!context) std::abort(); // out of memory at start-up
        return std::make_shared<const impl>(context, true, "minimal");
    }();
    return public_suffix_list{data};
}

public_suffix_list public_suffix_list::load_or_builtin(const std::filesystem::path& file) {
    std::error_code ec;
    std::optional<public_suffix_list> from_file = load(file, ec);
    if (!from_file) return builtin();
    if (psl_builtin() == nullptr) return *std::move(from_file);
    // The newer of the two, as libpsl's psl_latest() decides: a static binary may carry a list
    // younger than the file of an old system, or older than the file of an updated one.
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && st.st_mtime < psl_builtin_file_time()) return builtin();
    return *std::move(from_file);
}

const public_suffix_list& public_suffix_list::system() {
    static const public_suffix_list list = load_or_builtin(std::filesystem::path{system_file});
    return list;
}

const std::string& public_suffix_list::source() const noexcept { return impl_->source(); }

bool public_suffix_list::is_public_suffix(std::string_view domain) const {
    const std::optional<std::string> ascii = to_ascii(domain);
    return ascii && psl_is_public_suffix(impl_->context(), ascii->c_str()) != 0;
}

std::optional<std::string> public_suffix_list::organizational_domain(std::string_view domain) const {
    std::optional<std::string> ascii = to_ascii(domain);
    if (!ascii) return std::nullopt;
    // Null when the name is a public suffix itself: then it is its own organisational domain.
    if (const char* registrable = psl_registrable_domain(impl_->context(), ascii->c_str()))
        ascii = std::string{registrable};
    if (is_ascii(domain)) return ascii;
    return to_unicode(*ascii);
}

std::optional<std::string> organizational_domain(std::string_view domain) {
    return public_suffix_list::system().organizational_domain(domain);
}

bool aligned(std::string_view a, std::string_view b, alignment mode) {
    const std::optional<std::string> x = to_ascii(a);
    const std::optional<std::string> y = to_ascii(b);
    if (!x || !y) return false;
    if (mode == alignment::strict) return *x == *y;
    const public_suffix_list& list = public_suffix_list::system();
    return list.organizational_domain(*x) == list.organizational_domain(*y);
}

} // namespace cppmilter::mail
