// The MTA-side client library (cppmilter::client) against in-process servers (the showcase and
// stamp examples, an asynchronous milter) on TCP and UNIX sockets, and against fake filters on
// raw sockets that stay silent or break the protocol.
#define BOOST_TEST_MODULE cppmilter client
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"

using namespace test_client;

// =============================================================================================
BOOST_AUTO_TEST_SUITE(client_session)

BOOST_AUTO_TEST_CASE(showcase_negotiation_and_events_on_tcp_and_unix) {
    temp_dir dir;
    running s{examples::showcase, {"inet:127.0.0.1:0", "unix:" + dir.path + "/milter.sock"}};
    BOOST_TEST_REQUIRE(s.addresses.size() == 2u);
    for (const auto& address : s.addresses) {
        BOOST_TEST_CONTEXT(address) {
            cl::blocking_client c{quick()};
            std::vector<std::string> trace;
            c.trace = [&](std::string_view line) { trace.emplace_back(line); };
            c.connect(address);
            const auto& n = c.negotiate();
            BOOST_TEST(n.version == 6u);
            BOOST_TEST(proto::to_string(n.actions) == "ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM");
            BOOST_TEST(n.protocol.has(proto::protocol::no_connect));
            // NO* bits: not sent; NR* bits: sent, nothing read.
            BOOST_TEST(c.connect_info("client.example", proto::address_family::inet, 25, "192.0.2.1") == "(not sent)");
            BOOST_TEST(c.helo("client.example") == "(not sent)");
            BOOST_TEST(c.mail_from("<alice@example.test>") == "CONTINUE");
            BOOST_TEST(c.rcpt("<bob@example.test>") == "CONTINUE");
            BOOST_TEST(c.data() == "(not sent)");
            auto h = c.header("Subject", "plain");
            BOOST_TEST(h.sent());
            BOOST_TEST(h == "(no answer)");
            BOOST_TEST(c.end_of_headers() == "(not sent)");
            BOOST_TEST(c.body("Hello.\r\n") == "(not sent)");
            auto eom = c.end_of_message();
            BOOST_TEST(eom.all == R"(ADDHEADER name="X-Scenario" value="seen"; CONTINUE)");
            c.abort();
            c.quit();
            BOOST_TEST(!c.is_open());
            BOOST_TEST((std::find(trace.begin(), trace.end(), "> MAIL address=\"<alice@example.test>\"") != trace.end()));
            BOOST_TEST((std::find(trace.begin(), trace.end(), "- DATA (not sent)") != trace.end()));
            BOOST_TEST((std::find(trace.begin(), trace.end(), "< CONTINUE") != trace.end()));
        }
    }
}

BOOST_AUTO_TEST_CASE(stamp_gets_every_command_answered) {
    running s{examples::stamp_answering, {"inet:127.0.0.1:0"}};
    cl::blocking_client c{quick()};
    c.connect(s.addresses.at(0));
    BOOST_TEST(c.negotiate().protocol.empty());
    c.macros('C', {{"j", "mx.example"}, {"{daemon_name}", "smtpd"}});
    BOOST_TEST(c.connect_info("client.example", proto::address_family::inet6, 25, "2001:db8::1") == "CONTINUE");
    BOOST_TEST(c.helo("client.example") == "CONTINUE");
    BOOST_TEST(c.mail_from("<a@example.test>", {"SIZE=100", "BODY=8BITMIME"}) == "CONTINUE");
    BOOST_TEST(c.rcpt("<b@example.test>") == "CONTINUE");
    BOOST_TEST(c.data() == "CONTINUE");
    BOOST_TEST(c.header("Subject", "x") == "CONTINUE");
    BOOST_TEST(c.end_of_headers() == "CONTINUE");
    BOOST_TEST(c.body(std::string(150000, 'x')) == "CONTINUE"); // three chunks, each answered
    BOOST_TEST(c.end_of_message().all == R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)");
    c.abort();
    BOOST_TEST(c.unknown("HELP") == "CONTINUE");
    c.quit_new_connection();
    BOOST_TEST(c.connect_info("again.example", proto::address_family::unix_socket, 0, "") == "CONTINUE");
    c.quit();
}

BOOST_AUTO_TEST_CASE(stamp_is_answered_only_at_end_of_message) {
    running s{examples::stamp, {"inet:127.0.0.1:0"}};
    cl::blocking_client c{quick()};
    c.connect(s.addresses.at(0));
    BOOST_TEST(proto::to_string(c.negotiate().protocol) ==
               "NR_HDR|NR_CONN|NR_HELO|NR_MAIL|NR_RCPT|NR_DATA|NR_UNKN|NR_EOH|NR_BODY");
    BOOST_TEST(c.connect_info("client.example", proto::address_family::inet, 25, "192.0.2.1") == "(no answer)");
    BOOST_TEST(c.mail_from("<a@example.test>") == "(no answer)");
    BOOST_TEST(c.header("Subject", "x") == "(no answer)");
    BOOST_TEST(c.body(std::string(150000, 'x')) == "(no answer)");
    BOOST_TEST(c.end_of_message().all == R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)");
    c.quit();
}

BOOST_AUTO_TEST_CASE(v2_offer_sends_no_data_and_no_unknown) {
    running s{examples::stamp_answering, {"inet:127.0.0.1:0"}};
    auto o = quick();
    o.offer = cl::v2_offer();
    cl::blocking_client c{o};
    c.connect(s.addresses.at(0));
    BOOST_TEST(c.negotiate().version == 2u);
    BOOST_TEST(c.connect_info("c", proto::address_family::inet, 25, "192.0.2.1") == "CONTINUE");
    BOOST_TEST(c.mail_from("<a@example.test>") == "CONTINUE");
    BOOST_TEST(c.data() == "(not sent)");
    BOOST_TEST(c.unknown("HELP") == "(not sent)");
    BOOST_TEST(c.end_of_message().all == R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)");
    c.quit();
}

BOOST_AUTO_TEST_CASE(sendmail_offer_and_deliver) {
    running s{examples::stamp_answering, {"inet:127.0.0.1:0"}};
    auto o = quick();
    o.offer = cl::sendmail_offer();
    o.postfix_macros = false;
    const auto d = deliver_to(s.addresses.at(0), make_message("plain"), o);
    BOOST_TEST(cl::to_string(d.result) == "accepted");
    BOOST_TEST(header_of(d.modified, "X-Bench").value_or("") == "1");
}

BOOST_AUTO_TEST_CASE(progress_is_followed_and_counted) {
    running s{slow, {"inet:127.0.0.1:0"}};
    auto o = quick();
    o.content_timeout = 400ms; // shorter than the hook: only PROGRESS keeps the session alive
    cl::blocking_client c{o};
    c.connect(s.addresses.at(0));
    c.negotiate();
    c.mail_from("<a@example.test>");
    const auto eom = c.end_of_message();
    BOOST_TEST(eom.all == R"(ADDHEADER name="X-Slow" value="done"; CONTINUE)");
    BOOST_TEST(eom.progress >= 1u);
    BOOST_TEST(c.progress_count() == eom.progress);
    c.quit();
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(client_showcase)

BOOST_AUTO_TEST_CASE(every_behaviour_through_deliver) {
    running s{examples::showcase, {"inet:127.0.0.1:0"}};
    const auto& address = s.addresses.at(0);

    auto plain = deliver_to(address, make_message("plain"));
    BOOST_TEST(cl::to_string(plain.result) == "accepted");
    BOOST_TEST(plain.decided_at.empty());
    BOOST_TEST(plain.eom.all == R"(ADDHEADER name="X-Scenario" value="seen"; CONTINUE)");
    BOOST_TEST(plain.modified.headers.back().first == "X-Scenario");

    auto body = deliver_to(address, make_message("REPLACEBODY"));
    BOOST_TEST(body.modified.body == "body replaced\r\n");

    auto rcpts = deliver_to(address, make_message("ADDRCPT DELRCPT", {"<bob@example.test>", "<gone@example.test>"}));
    BOOST_TEST(rcpts.modified.recipients == (std::vector<std::string>{"<bob@example.test>", "<added@example.test>"}),
               boost::test_tools::per_element());

    auto from = deliver_to(address, make_message("CHGFROM"));
    BOOST_TEST(from.modified.sender == "<new@example.test>");

    auto chg = deliver_to(address, make_message("CHGHDR"));
    BOOST_TEST(header_of(chg.modified, "X-Change").value_or("") == "changed");

    auto ins = deliver_to(address, make_message("INSHDR"));
    BOOST_TEST(ins.modified.headers.at(0).first == "X-First");
    BOOST_TEST(ins.modified.headers.at(0).second == "1");

    auto held = deliver_to(address, make_message("QUARANTINE"));
    BOOST_TEST(held.modified.quarantine == std::vector<std::string>{"held"}, boost::test_tools::per_element());
    BOOST_TEST(cl::to_string(held.result) == "accepted");

    auto discarded = deliver_to(address, make_message("DISCARD"));
    BOOST_TEST(cl::to_string(discarded.result) == "discarded");
    BOOST_TEST(discarded.verdict == "DISCARD");
    BOOST_TEST(discarded.decided_at == "BODYEOB");
    BOOST_TEST(discarded.eom.all == R"(ADDHEADER name="X-Scenario" value="seen"; DISCARD)");
}

BOOST_AUTO_TEST_CASE(reject_and_tempfail) {
    running s{examples::showcase, {"inet:127.0.0.1:0"}};
    const auto& address = s.addresses.at(0);

    auto blocked = deliver_to(address, make_message("x", {"<bob@example.test>"}, "<eve@blocked.example>"));
    BOOST_TEST(cl::to_string(blocked.result) == "rejected");
    BOOST_TEST(blocked.decided_at == "MAIL");
    BOOST_TEST(blocked.verdict.find("550 5.7.1 sender blocked") != std::string::npos);

    auto one_later = deliver_to(address, make_message("x", {"<tempfail@example.test>", "<bob@example.test>"}));
    BOOST_TEST(cl::to_string(one_later.result) == "accepted");
    BOOST_TEST(one_later.rejected_recipients == std::vector<std::string>{"<tempfail@example.test>"},
               boost::test_tools::per_element());
    BOOST_TEST(one_later.modified.recipients == std::vector<std::string>{"<bob@example.test>"},
               boost::test_tools::per_element());

    auto all_later = deliver_to(address, make_message("x", {"<tempfail@example.test>"}));
    BOOST_TEST(cl::to_string(all_later.result) == "tempfailed");
    BOOST_TEST(all_later.decided_at == "RCPT");
    BOOST_TEST(all_later.verdict == R"(REPLYCODE text="451 4.7.1 try later")");
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(client_failures)

BOOST_AUTO_TEST_CASE(silent_milter_times_out) {
    fake_filter silent;
    auto o = quick();
    o.command_timeout = 300ms;
    cl::blocking_client c{o};
    c.connect(silent.address());
    const auto t0 = clock_type::now();
    const auto what = error_of([&] { c.negotiate(); });
    const auto took = clock_type::now() - t0;
    BOOST_TEST(what == "no answer from the milter within the timeout");
    BOOST_TEST(took >= 250ms);
    BOOST_TEST(took < 3s);
    BOOST_TEST(!c.is_open());
}

BOOST_AUTO_TEST_CASE(connection_refused_and_bad_spec) {
    cl::blocking_client c{quick()};
    BOOST_TEST(error_of([&] { c.connect("unix:/nonexistent/milter.sock"); }).find("cannot connect") != std::string::npos);
    BOOST_TEST(error_of([&] { c.connect("inet:abc@127.0.0.1"); }).find("port") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(modification_outside_end_of_message) {
    fake_filter f{scripted({6, proto::all_actions, {}, {}}, {proto::add_header{"X", "y"}, proto::continue_{}})};
    cl::blocking_client c{quick()};
    c.connect(f.address());
    c.negotiate();
    BOOST_TEST(error_of([&] { c.mail_from("<a@example.test>"); }) ==
               "protocol violation: ADDHEADER in answer to MAIL (modifications only at end of message)");
    BOOST_TEST(!c.is_open());
}

BOOST_AUTO_TEST_CASE(skip_outside_body) {
    fake_filter f{scripted({6, proto::all_actions, proto::protocol::skip, {}}, {proto::skip{}})};
    cl::blocking_client c{quick()};
    c.connect(f.address());
    c.negotiate();
    BOOST_TEST(error_of([&] { c.mail_from("<a@example.test>"); }) ==
               "protocol violation: SKIP in answer to MAIL (SKIP only after BODY)");
}

BOOST_AUTO_TEST_CASE(optneg_reply_checked) {
    {
        fake_filter f{scripted({6, proto::all_actions, {}, {}}, {})};
        auto o = quick();
        o.offer = cl::v2_offer();
        cl::blocking_client c{o};
        c.connect(f.address());
        BOOST_TEST(error_of([&] { c.negotiate(); }) == "OPTNEG reply: version 6 not within 2..2");
    }
    {
        fake_filter f{scripted({2, proto::all_actions, {}, {}}, {})};
        auto o = quick();
        o.offer = cl::v2_offer();
        cl::blocking_client c{o};
        c.connect(f.address());
        BOOST_TEST(error_of([&] { c.negotiate(); }) == "OPTNEG reply: actions not offered: CHGFROM|ADDRCPT_PAR|SETSYMLIST");
    }
    {
        fake_filter f{[](const proto::command&, std::string& out) { (void)proto::encode(out, proto::continue_{}); }};
        cl::blocking_client c{quick()};
        c.connect(f.address());
        BOOST_TEST(error_of([&] { c.negotiate(); }) == "OPTNEG answered with CONTINUE instead of an OPTNEG reply");
    }
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(client_messages)

BOOST_AUTO_TEST_CASE(parse_and_write_rfc5322) {
    const auto m = cl::parse_rfc5322("Subject: a\r\n\tfolded\r\nX-Empty:\r\nTo:  b@example\n\nline 1\nline 2");
    BOOST_TEST_REQUIRE(m.headers.size() == 3u);
    BOOST_TEST(m.headers[0].first == "Subject");
    BOOST_TEST(m.headers[0].second == "a\n\tfolded");
    BOOST_TEST(m.headers[1].second == "");
    BOOST_TEST(m.headers[2].second == "b@example");
    BOOST_TEST(m.body == "line 1\r\nline 2\r\n");
    BOOST_TEST(cl::to_rfc5322(m) == "Subject: a\r\n\tfolded\r\nX-Empty: \r\nTo: b@example\r\n\r\nline 1\r\nline 2\r\n");
    BOOST_TEST(cl::parse_rfc5322("no header here\n\nx\n").body == "no header here\r\n\r\nx\r\n");
}

BOOST_AUTO_TEST_CASE(apply_modifications) {
    std::string bytes;
    auto add = [&](const proto::reply& r) { BOOST_TEST_REQUIRE(bool(proto::encode(bytes, r))); };
    add(proto::change_header{2, "x-a", "second"});   // second occurrence, name case-insensitive
    add(proto::change_header{1, "Drop", ""});        // empty value deletes
    add(proto::change_header{3, "X-A", "appended"}); // no third occurrence: appended
    add(proto::change_header{1, "Missing", ""});     // nothing to delete
    add(proto::insert_header{0, "Top", "1"});
    add(proto::insert_header{99, "Bottom", "2"});
    add(proto::add_header{"Added", "3"});
    add(proto::replace_body{"part 1,"});
    add(proto::replace_body{" part 2"});
    add(proto::add_rcpt{"<new@example>"});
    add(proto::add_rcpt_with_args{"<par@example>", "NOTIFY=NEVER"});
    add(proto::del_rcpt{"<OLD@example>"});
    add(proto::change_from{"<from@example>", ""});
    add(proto::quarantine{"why"});
    add(proto::continue_{});
    cl::eom_result eom{cl::answers{bytes}, 0};

    cl::message m;
    m.sender = "<a@example>";
    m.recipients = {"old@example", "<keep@example>"};
    m.headers = {{"X-A", "1"}, {"Drop", "d"}, {"X-A", "2"}};
    m.body = "old body\r\n";
    cl::apply(eom, m);

    std::string headers;
    for (const auto& [n, v] : m.headers) headers += n + "=" + v + ";";
    BOOST_TEST(headers == "Top=1;X-A=1;X-A=second;X-A=appended;Bottom=2;Added=3;");
    BOOST_TEST(m.body == "part 1, part 2");
    BOOST_TEST(m.recipients == (std::vector<std::string>{"<keep@example>", "<new@example>", "<par@example>"}),
               boost::test_tools::per_element());
    BOOST_TEST(m.sender == "<from@example>");
    BOOST_TEST(m.quarantine == std::vector<std::string>{"why"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(separate_replacebody_runs_start_over) {
    std::string bytes;
    (void)proto::encode(bytes, proto::replace_body{"first"});
    (void)proto::encode(bytes, proto::add_header{"X", "y"});
    (void)proto::encode(bytes, proto::replace_body{"second"});
    (void)proto::encode(bytes, proto::continue_{});
    cl::message m;
    cl::apply(cl::eom_result{cl::answers{bytes}, 0}, m);
    BOOST_TEST(m.body == "second");
}

BOOST_AUTO_TEST_CASE(testing_answers_is_the_client_one) {
    static_assert(std::is_same_v<cm::testing::answers, cl::answers>);
    BOOST_TEST(cl::answers{} == "(no answer)");
    BOOST_TEST(cl::answers({}, false) == "(not sent)");
}

BOOST_AUTO_TEST_SUITE_END()
