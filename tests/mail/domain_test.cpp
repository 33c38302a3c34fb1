#include <cppmilter/mail/domain.hpp>

#include "support/print_optional.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <fstream>
#include <string>
#include <system_error>


using namespace cppmilter::mail;
using namespace std::string_view_literals;

namespace {

std::optional<std::string> some(const char* s) { return std::string{s}; }

// A scratch file with the given text, removed at the end of the test.
class scratch_file {
public:
    explicit scratch_file(const std::string& text)
        : path_{std::filesystem::temp_directory_path() /
                ("cppmilter-psl-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) + ".dat")} {
        std::ofstream{path_} << text;
    }
    ~scratch_file() {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(domain)

// ---- IDNA ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(to_ascii_gives_lower_case_a_labels) {
    BOOST_TEST(to_ascii("bücher.example") == some("xn--bcher-kva.example"));
    BOOST_TEST(to_ascii("BÜCHER.example.") == some("xn--bcher-kva.example"));
    BOOST_TEST(to_ascii("XN--BCHER-KVA.Example") == some("xn--bcher-kva.example"));
    BOOST_TEST(to_ascii("Example.COM") == some("example.com"));
    BOOST_TEST(to_ascii("faß.de") == some("xn--fa-hia.de")); // non-transitional: ß stays
    BOOST_TEST(to_ascii("例子.测试") == some("xn--fsqu00a.xn--0zwm56d")); // IANA's IDN test name
    BOOST_TEST(to_ascii("selector._domainkey.example.com") == some("selector._domainkey.example.com"));
    BOOST_TEST(to_ascii("-lead.example") == some("-lead.example"));
}

BOOST_AUTO_TEST_CASE(to_ascii_refuses_what_is_no_domain) {
    const std::string_view bad_names[] = {"", ".", "a..b", ".a", "a b.com", "a@b.com", "[192.0.2.1]",
                                          "xn--zz.example", "\xff\xfe.com", "b\xc3\xbc\xff.example",
                                          std::string_view{"a\0b", 3}};
    for (const std::string_view bad : bad_names) {
        BOOST_TEST_INFO("input: " << bad);
        BOOST_TEST(!to_ascii(bad).has_value());
    }
    BOOST_TEST(!to_ascii(std::string(64, 'a') + ".com").has_value());
    BOOST_TEST(to_ascii(std::string(63, 'a') + ".com").has_value());
    std::string long_name;
    while (long_name.size() < 260) long_name += "abcdefghi.";
    BOOST_TEST(!to_ascii(long_name + "com").has_value());
}

BOOST_AUTO_TEST_CASE(to_unicode_gives_lower_case_u_labels) {
    BOOST_TEST(to_unicode("xn--bcher-kva.example") == some("bücher.example"));
    BOOST_TEST(to_unicode("XN--BCHER-KVA.EXAMPLE.") == some("bücher.example"));
    BOOST_TEST(to_unicode("BÜCHER.example") == some("bücher.example"));
    BOOST_TEST(to_unicode("Example.COM") == some("example.com"));
    BOOST_TEST(!to_unicode("xn--zz.example").has_value());
}

BOOST_AUTO_TEST_CASE(same_domain_is_case_and_idna_insensitive) {
    BOOST_TEST(same_domain("bücher.example", "xn--bcher-kva.example"));
    BOOST_TEST(same_domain("BÜCHER.example", "xn--bcher-kva.example."));
    BOOST_TEST(same_domain("BÜCHER.example", "bücher.EXAMPLE"));
    BOOST_TEST(same_domain("Example.com.", "example.COM"));
    BOOST_TEST(!same_domain("bucher.example", "bücher.example"));
    BOOST_TEST(!same_domain("example.com", "example.org"));
    BOOST_TEST(same_domain("[192.0.2.1]", "[192.0.2.1]")); // no domain: byte for byte
    BOOST_TEST(!same_domain("[192.0.2.1]", "192.0.2.1"));
}

// ---- Organisational domains ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(organizational_domains) {
    BOOST_TEST(organizational_domain("example.com") == some("example.com"));
    BOOST_TEST(organizational_domain("mail.Example.COM.") == some("example.com"));
    BOOST_TEST(organizational_domain("a.b.example.co.uk") == some("example.co.uk"));
    // Wildcard *.kawasaki.jp with the exception !city.kawasaki.jp.
    BOOST_TEST(organizational_domain("a.b.c.kawasaki.jp") == some("b.c.kawasaki.jp"));
    BOOST_TEST(organizational_domain("www.city.kawasaki.jp") == some("city.kawasaki.jp"));
    BOOST_TEST(organizational_domain("a.www.ck") == some("www.ck"));
    // An unknown TLD: the implicit "*" rule.
    BOOST_TEST(organizational_domain("mail.example.unknowntld") == some("example.unknowntld"));
    // IDN suffixes and names: in the form they were given.
    BOOST_TEST(organizational_domain("a.b.公司.cn") == some("b.公司.cn"));
    BOOST_TEST(organizational_domain("a.b.xn--55qx5d.cn") == some("b.xn--55qx5d.cn"));
    BOOST_TEST(organizational_domain("mail.BÜCHER.example") == some("bücher.example"));
    BOOST_TEST(!organizational_domain("a..b").has_value());
}

BOOST_AUTO_TEST_CASE(a_public_suffix_is_its_own_organizational_domain) {
    BOOST_TEST(organizational_domain("co.uk") == some("co.uk"));
    BOOST_TEST(organizational_domain("com") == some("com"));
    BOOST_TEST(organizational_domain("c.kawasaki.jp") == some("c.kawasaki.jp"));
    const public_suffix_list& list = public_suffix_list::system();
    BOOST_TEST(list.is_public_suffix("co.uk"));
    BOOST_TEST(list.is_public_suffix("CO.UK."));
    BOOST_TEST(list.is_public_suffix("anything.kawasaki.jp"));
    BOOST_TEST(!list.is_public_suffix("city.kawasaki.jp"));
    BOOST_TEST(!list.is_public_suffix("example.co.uk"));
    BOOST_TEST(!list.is_public_suffix(""));
}

BOOST_AUTO_TEST_CASE(dmarc_alignment) {
    BOOST_TEST(aligned("example.com", "EXAMPLE.com.", alignment::strict));
    BOOST_TEST(!aligned("mail.example.com", "example.com", alignment::strict));
    BOOST_TEST(aligned("mail.example.com", "example.com", alignment::relaxed));
    BOOST_TEST(aligned("a.example.co.uk", "b.example.co.uk", alignment::relaxed));
    BOOST_TEST(!aligned("example.co.uk", "other.co.uk", alignment::relaxed));
    BOOST_TEST(!aligned("example.co.uk", "co.uk", alignment::relaxed));
    BOOST_TEST(aligned("bücher.example", "mail.xn--bcher-kva.example", alignment::relaxed));
    BOOST_TEST(aligned("bücher.example", "XN--BCHER-KVA.example", alignment::strict));
    BOOST_TEST(!aligned("", "", alignment::strict));
    BOOST_TEST(!aligned("a..b", "a..b", alignment::relaxed));
}

// ---- Where the list comes from -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(system_list_is_loaded_once) {
    const public_suffix_list& a = public_suffix_list::system();
    BOOST_TEST(&a == &public_suffix_list::system());
    BOOST_TEST_MESSAGE("system public suffix list: " << a.source());
    BOOST_TEST(!a.source().empty());
}

BOOST_AUTO_TEST_CASE(load_reports_unreadable_files) {
    std::error_code ec;
    BOOST_TEST(!public_suffix_list::load("/nonexistent/public_suffix_list.dat", ec).has_value());
    BOOST_TEST((ec == std::errc::no_such_file_or_directory));
    BOOST_CHECK_THROW(public_suffix_list::load("/nonexistent/public_suffix_list.dat"), std::system_error);

    const scratch_file empty{"// only a comment\n"};
    BOOST_TEST(!public_suffix_list::load(empty.path(), ec).has_value());
    BOOST_TEST((ec == std::errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(load_reads_both_file_formats) {
    for (const char* file : {"/usr/share/publicsuffix/public_suffix_list.dafsa",
                             "/usr/share/publicsuffix/public_suffix_list.dat"}) {
        if (!std::filesystem::exists(file)) continue;
        BOOST_TEST_INFO("file: " << file);
        const public_suffix_list list = public_suffix_list::load(file);
        BOOST_TEST(list.source() == file);
        BOOST_TEST(list.organizational_domain("a.b.example.co.uk") == some("example.co.uk"));
    }
    const scratch_file own{"example\n*.wild.example\n!not.wild.example\n"};
    const public_suffix_list list = public_suffix_list::load(own.path());
    BOOST_TEST(list.organizational_domain("a.b.example") == some("b.example"));
    BOOST_TEST(list.organizational_domain("a.b.wild.example") == some("a.b.wild.example"));
    BOOST_TEST(list.organizational_domain("a.not.wild.example") == some("not.wild.example"));
}

BOOST_AUTO_TEST_CASE(a_missing_file_falls_back_to_the_builtin_list) {
    const public_suffix_list list = public_suffix_list::load_or_builtin("/nonexistent/public_suffix_list.dafsa");
    BOOST_TEST((list.source() == "builtin" || list.source() == "minimal"));
    BOOST_TEST(list.organizational_domain("a.b.example.co.uk") == some("example.co.uk"));
    BOOST_TEST(list.organizational_domain("www.city.kawasaki.jp") ==
               (list.source() == "builtin" ? some("city.kawasaki.jp") : some("kawasaki.jp")));
}

BOOST_AUTO_TEST_CASE(the_minimal_list_covers_the_common_cases) {
    const public_suffix_list list = public_suffix_list::minimal();
    BOOST_TEST(list.source() == "minimal");
    BOOST_TEST(list.organizational_domain("mail.example.com") == some("example.com"));
    BOOST_TEST(list.organizational_domain("a.b.example.co.uk") == some("example.co.uk"));
    BOOST_TEST(list.organizational_domain("a.example.com.au") == some("example.com.au"));
    BOOST_TEST(list.organizational_domain("x.y.example.co.jp") == some("example.co.jp"));
    BOOST_TEST(list.is_public_suffix("co.uk"));
}

BOOST_AUTO_TEST_SUITE_END()
