#include "support/hex.hpp"
#include "worked_example.hpp"

#include "support/result.hpp"

#include <cppmilter/proto.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>
#include <vector>

namespace proto = cppmilter::proto;
using cppmilter::test::why;
using cppmilter::test::from_hex;
using cppmilter::test::raw;
using cppmilter::test::to_hex;

long allocation_count() noexcept; // alloc_counter.cpp

namespace {

template <class T>
std::string print(const T& v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

std::string encoded(const proto::command& c) {
    std::string out;
    auto ok = proto::encode(out, c);
    BOOST_TEST_REQUIRE(ok.has_value(), print(c));
    return out;
}

std::string encoded(const proto::reply& r) {
    std::string out;
    auto ok = proto::encode(out, r);
    BOOST_TEST_REQUIRE(ok.has_value(), print(r));
    return out;
}

/// Decodes a whole stream; the decoder lives as long as the views it handed out.
template <class Decoder>
struct decoded {
    Decoder decoder;
    std::vector<std::decay_t<decltype(std::declval<Decoder&>().next()->value())>> items;

    explicit decoded(std::string_view bytes) {
        decoder.feed(bytes);
        while (auto r = decoder.next()) {
            BOOST_TEST_REQUIRE(r->has_value(), why(*r));
            items.push_back(r->value());
        }
        BOOST_TEST(decoder.at_packet_boundary());
    }
};
using decoded_commands = decoded<proto::command_decoder>;
using decoded_replies = decoded<proto::reply_decoder>;

// Every command kind, with every variant of its fields (CONNECT: each family).
const std::vector<proto::command>& sample_commands() {
    static const std::vector<proto::command> v{
        proto::optneg{6, proto::all_actions, proto::all_protocol},
        proto::optneg{2, proto::v1_actions, proto::v2_protocol},
        proto::macro{'C', proto::macro_pairs{raw("j\0mx\0{daemon_name}\0mx.example\0")}},
        proto::macro{'H', proto::macro_pairs{}},
        proto::macro{'L', proto::macro_pairs{raw("i\0ABC\0")}},
        proto::connect{"client.example.org", proto::address_family::inet, 54321, "192.0.2.10"},
        proto::connect{"[::1]", proto::address_family::inet6, 25, "::1"},
        proto::connect{"localhost", proto::address_family::unix_socket, 0, "/run/smtp.sock"},
        proto::connect{"localhost", proto::address_family::unix_socket, 0, ""},
        proto::connect{"unknown", proto::address_family::unknown, 0, {}},
        proto::helo{"client.example.org"},
        proto::helo{""},
        proto::mail{"<alice@example.org>", proto::string_list{raw("SIZE=100\0BODY=8BITMIME\0")}},
        proto::mail{"<>", proto::string_list{}},
        proto::rcpt{"<bob@example.com>", proto::string_list{}},
        proto::rcpt{"<c@example.com>", proto::string_list{raw("NOTIFY=NEVER\0ORCPT=rfc822;c@example.com\0")}},
        proto::header{"Subject", "Test"},
        proto::header{"X-Folded", "first\n\tsecond\n  third"},
        proto::header{"X-Empty", ""},
        proto::header{"X-8bit", "caf\xc3\xa9"},
        proto::end_of_headers{},
        proto::body{"Hello\r\n"},
        proto::body{raw("a\0b")},
        proto::end_of_body{},
        proto::end_of_body{"last chunk"},
        proto::data{},
        proto::unknown{"XFOO"},
        proto::abort{},
        proto::quit{},
        proto::quit_new_connection{},
    };
    return v;
}

const std::vector<proto::reply>& sample_replies() {
    static const std::vector<proto::reply> v{
        proto::optneg_reply{6, proto::action::add_headers, {}, {}},
        proto::optneg_reply{6, proto::action::add_headers | proto::action::set_symbol_list,
                            proto::protocol::skip | proto::protocol::header_leading_space,
                            {std::string_view{"j {client_addr}"}, std::nullopt, std::nullopt, std::nullopt,
                             std::nullopt, std::string_view{"i"}, std::string_view{""}}},
        proto::continue_{}, proto::accept{}, proto::reject{}, proto::tempfail{}, proto::discard{},
        proto::skip{}, proto::shutdown{}, proto::progress{},
        proto::smtp_reply{"550 5.7.1 sender blocked"},
        proto::smtp_reply{"550-5.7.1 first line\r\n550 5.7.1 second line"},
        proto::smtp_reply{"451 4.7.1 100%% busy"},
        proto::add_header{"X-Scanned", "yes"},
        proto::add_header{"X-Multi", " line1\n\tline2"},
        proto::add_header{"X-Empty", ""},
        proto::insert_header{0, "X-First", "1"},
        proto::change_header{1, "Subject", ""},
        proto::change_header{2, "X-Change", "changed"},
        proto::change_from{"<new@example.org>", ""},
        proto::change_from{"<new@example.org>", "RET=HDRS ENVID=x"},
        proto::add_rcpt{"<added@example.test>"},
        proto::add_rcpt_with_args{"<extra@example.test>", "NOTIFY=NEVER"},
        proto::add_rcpt_with_args{"<extra@example.test>", ""},
        proto::del_rcpt{"<gone@example.test>"},
        proto::replace_body{"body replaced\r\n"},
        proto::replace_body{""},
        proto::quarantine{"held"},
    };
    return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(codec)

BOOST_AUTO_TEST_CASE(every_command_round_trips) {
    std::string stream;
    for (const auto& c : sample_commands()) {
        const auto bytes = encoded(c);
        const decoded_commands decoded_back{bytes};
        const auto& back = decoded_back.items;
        BOOST_TEST_REQUIRE(back.size() == 1u, print(c));
        BOOST_TEST((back[0] == c), print(c) << " came back as " << print(back[0]));
        BOOST_TEST(encoded(back[0]) == bytes, print(c));
        stream += bytes;
    }
    BOOST_TEST(decoded_commands{stream}.items.size() == sample_commands().size());
}

BOOST_AUTO_TEST_CASE(every_reply_round_trips) {
    for (const auto& r : sample_replies()) {
        const auto bytes = encoded(r);
        const decoded_replies decoded_back{bytes};
        const auto& back = decoded_back.items;
        BOOST_TEST_REQUIRE(back.size() == 1u, print(r));
        BOOST_TEST((back[0] == r), print(r) << " came back as " << print(back[0]));
        BOOST_TEST(encoded(back[0]) == bytes, print(r));
    }
}

BOOST_AUTO_TEST_CASE(exact_bytes_of_known_packets) {
    // PROTOCOL.md §1.2, §3.3, §5.2.
    BOOST_TEST(to_hex(encoded(proto::continue_{})) == "0000000163");
    BOOST_TEST(to_hex(encoded(proto::connect{"client.example.org", proto::address_family::inet, 54321, "192.0.2.10"})) ==
               "0000002243636c69656e742e6578616d706c652e6f72670034d4313139322e302e322e313000");
    proto::optneg_reply with_lists{6, {}, {}, {}};
    with_lists.macros[0] = "j {client_addr}";
    with_lists.macros[5] = "i {mail_addr}";
    BOOST_TEST(to_hex(encoded(with_lists)).substr(10 + 24) ==
               "000000006a207b636c69656e745f616464727d00" "00000005692" "07b6d61696c5f616464727d00");
    BOOST_TEST(to_hex(encoded(proto::macro{'H', {}})) == "000000024448");
    BOOST_TEST(to_hex(encoded(proto::insert_header{1, "A", "b"})) == "00000009690000000141006200");
}

BOOST_AUTO_TEST_CASE(worked_example_decodes_and_reencodes_byte_for_byte) {
    std::string mta, filter;
    for (const auto& p : cppmilter::example::worked_example) (p.from_mta ? mta : filter) += from_hex(p.hex);
    const decoded_commands decoded_mta{mta};
    const decoded_replies decoded_filter{filter};
    const auto& commands = decoded_mta.items;
    const auto& replies = decoded_filter.items;
    BOOST_TEST(commands.size() == 21u);
    BOOST_TEST(replies.size() == 11u);
    std::string mta_again, filter_again;
    for (const auto& c : commands) mta_again += encoded(c);
    for (const auto& r : replies) filter_again += encoded(r);
    BOOST_TEST(to_hex(mta_again) == to_hex(mta));
    BOOST_TEST(to_hex(filter_again) == to_hex(filter));

    const auto& conn = std::get<proto::connect>(commands[2]);
    BOOST_TEST(conn.hostname == "client.example.org");
    BOOST_TEST(conn.port == 54321);
    const auto& from = std::get<proto::mail>(commands[6]);
    BOOST_TEST(from.address == "<alice@example.org>");
    BOOST_TEST(std::vector<std::string_view>(from.esmtp_args.begin(), from.esmtp_args.end()) ==
               std::vector<std::string_view>{"SIZE=100"});
    BOOST_TEST(std::get<proto::body>(commands[16]).chunk == "Hello\r\n");
    BOOST_TEST((replies[9] == proto::reply{proto::add_header{"X-Scanned", "yes"}}));
}

BOOST_AUTO_TEST_CASE(every_split_point_gives_the_same_packets) {
    // Every packet of the samples and of §9, as one stream, cut at every byte boundary (and fed
    // byte by byte): the decoder must yield the same commands every time.
    std::string stream;
    for (const auto& c : sample_commands()) stream += encoded(c);
    for (const auto& p : cppmilter::example::worked_example)
        if (p.from_mta) stream += from_hex(p.hex);
    const decoded_commands decoded_whole{stream};
    const auto& whole = decoded_whole.items;

    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        proto::command_decoder d;
        std::vector<proto::command> got;
        auto drain = [&] {
            while (auto r = d.next()) {
                if (!r->has_value()) BOOST_FAIL("cut " << cut << ": " << r->error());
                got.push_back(r->value());
            }
        };
        d.feed(std::string_view{stream}.substr(0, cut));
        // Views must survive until the next feed: compare those taken so far right away.
        drain();
        for (std::size_t i = 0; i < got.size(); ++i)
            if (!(got[i] == whole[i])) BOOST_FAIL("cut " << cut << " packet " << i);
        const auto before = got.size();
        got.clear();
        d.feed(std::string_view{stream}.substr(cut));
        drain();
        if (before + got.size() != whole.size()) BOOST_FAIL("cut " << cut << ": packets lost");
        for (std::size_t i = 0; i < got.size(); ++i)
            if (!(got[i] == whole[before + i])) BOOST_FAIL("cut " << cut << " packet " << before + i);
    }

    proto::command_decoder one_by_one;
    std::size_t n = 0;
    for (char ch : stream) {
        one_by_one.feed(std::string_view{&ch, 1});
        while (auto r = one_by_one.next()) {
            if (!r->has_value() || !(r->value() == whole[n])) BOOST_FAIL("byte by byte: packet " << n);
            ++n;
        }
    }
    BOOST_TEST(n == whole.size());
}

BOOST_AUTO_TEST_CASE(every_reply_split_point_gives_the_same_replies) {
    std::string stream;
    for (const auto& r : sample_replies()) stream += encoded(r);
    const decoded_replies decoded_whole{stream};
    const auto& whole = decoded_whole.items;
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        proto::reply_decoder d;
        std::size_t n = 0;
        for (auto part : {std::string_view{stream}.substr(0, cut), std::string_view{stream}.substr(cut)}) {
            d.feed(part);
            while (auto r = d.next()) {
                if (!r->has_value() || !(r->value() == whole[n])) BOOST_FAIL("cut " << cut << " reply " << n);
                ++n;
            }
        }
        if (n != whole.size()) BOOST_FAIL("cut " << cut << ": replies lost");
    }
}

BOOST_AUTO_TEST_CASE(prepare_commit_reads_in_place) {
    const std::string stream = encoded(proto::helo{"a"}) + encoded(proto::body{"xyz"});
    proto::command_decoder d;
    for (char ch : stream) { // an Asio read of one byte at a time
        auto room = d.prepare(1);
        BOOST_TEST_REQUIRE(room.size() >= 1u);
        room[0] = ch;
        d.commit(1);
    }
    auto first = d.next();
    auto second = d.next();
    BOOST_TEST_REQUIRE((first && second && *first && *second));
    BOOST_TEST((**first == proto::command{proto::helo{"a"}}));
    BOOST_TEST((**second == proto::command{proto::body{"xyz"}}));
    BOOST_TEST(!d.next().has_value());
}

BOOST_AUTO_TEST_CASE(bodies_are_split_at_65535_bytes) {
    const std::string big(70000, 'x');
    const auto body_bytes = encoded(proto::body{big});
    const decoded_commands decoded_body{body_bytes};
    const auto& body_packets = decoded_body.items;
    BOOST_TEST_REQUIRE(body_packets.size() == 2u);
    BOOST_TEST(std::get<proto::body>(body_packets[0]).chunk.size() == 65535u);
    BOOST_TEST(std::get<proto::body>(body_packets[1]).chunk.size() == 70000u - 65535u);

    const std::string huge(2 * 65535 + 1, 'y');
    const auto repl_bytes = encoded(proto::replace_body{huge});
    const decoded_replies decoded_repl{repl_bytes};
    const auto& repl = decoded_repl.items;
    BOOST_TEST_REQUIRE(repl.size() == 3u);
    std::string joined;
    for (const auto& r : repl) joined += std::get<proto::replace_body>(r).chunk;
    BOOST_TEST((joined == huge));
}

BOOST_AUTO_TEST_CASE(no_allocation_per_packet_after_warm_up) {
    std::string stream;
    for (const auto& p : cppmilter::example::worked_example)
        if (p.from_mta) stream += from_hex(p.hex);
    const std::string_view quit_free{stream.data(), stream.size() - 5}; // keep the session open

    proto::command_decoder d;
    proto::filter_session session{{.actions = proto::action::add_headers}};
    std::string out;
    auto run = [&](std::string_view bytes) {
        for (std::size_t at = 0; at < bytes.size(); at += 7) { // odd-sized reads
            d.feed(bytes.substr(at, 7));
            while (auto r = d.next()) {
                BOOST_TEST_REQUIRE(r->has_value());
                auto ev = session.on_command(r->value(), out);
                BOOST_TEST_REQUIRE(ev.has_value(), why(ev));
                if (ev->step == proto::session_step::call_hook) BOOST_TEST_REQUIRE(session.answer(proto::continue_{}, out).has_value());
            }
        }
    };
    out.reserve(4096);
    run(quit_free); // warm-up: buffers reach their size
    // The same traffic again, minus OPTNEG and CONNECT (a new message on the same connection).
    const auto msg = quit_free.substr(quit_free.find(from_hex("00000020444d")));
    run(msg);
    out.clear();
    const long before = allocation_count();
    for (int i = 0; i < 10; ++i) {
        run(msg);
        out.clear();
    }
    BOOST_TEST(allocation_count() - before == 0);
}

BOOST_AUTO_TEST_CASE(printing_is_readable) {
    BOOST_TEST(print(proto::command{proto::connect{"h", proto::address_family::inet6, 25, "::1"}}) ==
               "CONNECT hostname=\"h\" family=inet6 port=25 address=\"::1\"");
    BOOST_TEST(print(proto::command{proto::header{"X", "a\n\tb\x01"}}) == "HEADER name=\"X\" value=\"a\\n\\tb\\x01\"");
    BOOST_TEST(print(proto::reply{proto::change_header{1, "Subject", ""}}) ==
               "CHGHEADER index=1 name=\"Subject\" value=\"\"");
    BOOST_TEST(print(proto::reply{proto::tempfail{}}) == "TEMPFAIL");
    BOOST_TEST(print(proto::command{proto::body{std::string(100, 'z')}}).find("100 bytes") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(encoder_refuses_what_the_wire_cannot_carry) {
    std::string out;
    auto fails = [&](const proto::reply& r, proto::errc code, std::string_view field) {
        auto ok = proto::encode(out, r);
        BOOST_TEST_REQUIRE(!ok.has_value(), print(r));
        BOOST_TEST((ok.error().code == code), print(r) << ": " << why(ok));
        BOOST_TEST(ok.error().field == field, print(r));
        BOOST_TEST(out.empty());
    };
    fails(proto::quarantine{""}, proto::errc::empty_field, "reason");
    fails(proto::add_header{"", "v"}, proto::errc::empty_field, "name");
    fails(proto::add_header{raw("a\0b"), "v"}, proto::errc::embedded_nul, "name");
    fails(proto::add_rcpt{""}, proto::errc::empty_field, "address");
    fails(proto::smtp_reply{"250 ok"}, proto::errc::invalid_reply_text, "code must be 4xx or 5xx");
    fails(proto::optneg_reply{1, {}, {}, {}}, proto::errc::unsupported_version, "version");
    auto cmd = proto::encode(out, proto::helo{raw("a\0")});
    BOOST_TEST((!cmd && cmd.error().code == proto::errc::embedded_nul));
    auto fam = proto::encode(out, proto::connect{"h", static_cast<proto::address_family>('X'), 0, ""});
    BOOST_TEST((!fam && fam.error().code == proto::errc::unknown_address_family));
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(mta_side_helpers) {
    std::string out;
    const std::string_view args[] = {"SIZE=100"};
    BOOST_TEST_REQUIRE(proto::encode_mail(out, "<alice@example.org>", args).has_value());
    const std::pair<std::string_view, std::string_view> pairs[] = {{"{mail_addr}", "alice@example.org"}};
    std::string macros;
    BOOST_TEST_REQUIRE(proto::encode_macro(macros, 'M', pairs).has_value());
    BOOST_TEST(to_hex(macros + out) ==
               "00000020444d7b6d61696c5f616464727d00616c696365406578616d706c652e6f726700"
               "0000001e4d3c616c696365406578616d706c652e6f72673e0053495a453d31303000");
    std::string r;
    BOOST_TEST_REQUIRE(proto::encode_rcpt(r, "<bob@example.com>").has_value());
    BOOST_TEST(to_hex(r) == "00000013523c626f62406578616d706c652e636f6d3e00");
}

BOOST_AUTO_TEST_CASE(a_grown_buffer_is_given_back_only_when_empty) {
    // A 256 KiB body chunk grows the buffer; between messages it goes back, but never while
    // part of a packet is still buffered.
    proto::command_decoder d;
    std::string big;
    BOOST_TEST_REQUIRE(proto::encode(big, proto::body{std::string(256 * 1024, 'x')}).has_value());
    std::string eom;
    BOOST_TEST_REQUIRE(proto::encode(eom, proto::end_of_body{}).has_value());
    d.feed(big);
    d.feed(eom.substr(0, 2)); // half of the next packet's length
    BOOST_TEST(d.capacity() > 256u * 1024);
    int packets = 0;
    while (auto p = d.next()) {
        BOOST_TEST_REQUIRE(p->has_value());
        ++packets;
    }
    BOOST_TEST(packets >= 1);
    d.release_if_larger(1024);
    BOOST_TEST(d.capacity() > 256u * 1024); // the partial packet stays
    d.feed(eom.substr(2));
    auto last = d.next();
    BOOST_TEST_REQUIRE(last.has_value());
    BOOST_TEST((last->has_value() && proto::kind_of(**last) == proto::command_kind::end_of_body));
    BOOST_TEST(!d.next().has_value());
    d.release_if_larger(1024);
    BOOST_TEST(d.capacity() == 0u);
    d.feed(eom); // and it grows again as needed
    auto again = d.next();
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(again->has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reply_text)

BOOST_AUTO_TEST_CASE(single_and_multi_line) {
    BOOST_TEST(*proto::format_smtp_reply(550, "5.7.1", "sender blocked") == "550 5.7.1 sender blocked");
    BOOST_TEST(*proto::format_smtp_reply(550, "5.7.1", "first line\nsecond line") ==
               "550-5.7.1 first line\r\n550 5.7.1 second line");
    BOOST_TEST(*proto::format_smtp_reply(451, "", "a\r\nb") == "451-a\r\n451 b");
    BOOST_TEST(*proto::format_smtp_reply(421, "4.7.0", "100% busy") == "421 4.7.0 100%% busy");
}

BOOST_AUTO_TEST_CASE(rules_of_section_4_6) {
    auto rule = [](unsigned code, std::string_view x, std::string_view text) {
        auto r = proto::format_smtp_reply(code, x, text);
        BOOST_TEST_REQUIRE(!r.has_value(), code << ' ' << x << ' ' << text);
        BOOST_TEST((r.error().code == proto::errc::invalid_reply_text));
        return std::string{r.error().field};
    };
    BOOST_TEST(rule(250, "", "ok") == "code must be 4xx or 5xx");
    BOOST_TEST(rule(550, "4.1.1", "x") == "enhanced code class must match the reply code");
    BOOST_TEST(rule(550, "5.1", "x") == "enhanced code must be X.Y.Z");
    BOOST_TEST(rule(550, "5.7.1", std::string(981, 'a')) == "a line is longer than 980 bytes");
    std::string many;
    for (int i = 0; i < 33; ++i) many += "l\n";
    many.pop_back();
    BOOST_TEST(rule(550, "", many) == "more than 32 lines");
    BOOST_TEST(rule(550, "", "a\rb") == "text holds a bare CR");
    BOOST_TEST(rule(550, "", raw("a\0b")) == "text holds a NUL");
}

BOOST_AUTO_TEST_CASE(validation_of_wire_text) {
    BOOST_TEST(proto::validate_smtp_reply("550 5.7.1 no").has_value());
    BOOST_TEST(proto::validate_smtp_reply("421").has_value());
    BOOST_TEST(proto::validate_smtp_reply("550-5.7.1 a\r\n550 5.7.1 b").has_value());
    BOOST_TEST(proto::validate_smtp_reply("450 4.2.0 100%% full").has_value());
    for (std::string_view bad : {"250 ok", "55 x", "550 4.1.1 x", "550-a\r\n551 b", "550 a\r\n550 b", "550-a",
                                 "550 a\nb", "550 100% x", "550x", ""})
        BOOST_TEST(!proto::validate_smtp_reply(bad).has_value(), bad);
}

BOOST_AUTO_TEST_SUITE_END()
