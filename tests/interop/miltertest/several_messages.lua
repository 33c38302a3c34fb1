-- Several transactions on one connection to examples/showcase.hpp, as libmilter's miltertest
-- sees them: the keywords of one message must not affect the next, whether that message ended
-- normally, was aborted after its headers (ABORT, as for RSET), or was rejected at MAIL/RCPT.
--   1. every keyword (modifications, QUARANTINE, DISCARD)  -> all actions, DISCARD
--   2. clean                                               -> only X-Scenario
--   3. ADDRCPT CHGFROM in Subject, aborted before the end of message
--   4. clean                                               -> only X-Scenario
--   5. blocked sender (550), then a tempfailed recipient (451) in the next MAIL
--   6. INSHDR                                              -> X-First only
--   7. clean                                               -> only X-Scenario
-- Run: run_miltertest.sh path/to/showcase several_messages.lua
dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "./") .. "common.lua")

run(function()
    local function headers(subject)
        return {{"From", "sender@example.org"}, {"To", "rcpt@example.test"}, {"X-Change", "one"}, {"Subject", subject}}
    end

    local function clean(conn, label, qid)
        mail_from(conn, "<sender@example.org>", SMFIR_CONTINUE, qid)
        rcpt_to(conn, "<rcpt@example.test>")
        send_message(conn, headers("an ordinary message"))
        end_of_message(conn, label)
        check_untouched(conn, label)
    end

    local conn = open_connection("several messages")

    -- 1
    local label = "1 all keywords"
    mail_from(conn, "<sender@example.org>", SMFIR_CONTINUE, "QID1")
    rcpt_to(conn, "<rcpt@example.test>")
    rcpt_to(conn, "<gone@example.test>")
    send_message(conn, headers("REPLACEBODY ADDRCPT DELRCPT CHGFROM QUARANTINE DISCARD CHGHDR INSHDR"))
    end_of_message(conn, label, SMFIR_DISCARD)
    expect_packet("e", 19, label .. ": CHGFROM <new@example.test>")
    check_scenario_header(conn, label)
    for keyword, seen in pairs(KEYWORD_ACTIONS) do
        check(seen(conn), label .. ": " .. keyword .. "'s action missing")
    end
    check(mt.eom_check(conn, MT_BODYCHANGE, "body replaced\r\n"), label .. ": body not \"body replaced\\r\\n\"")
    check(mt.eom_check(conn, MT_QUARANTINE, "held"), label .. ": quarantine reason not \"held\"")
    check(mt.eom_check(conn, MT_HDRCHANGE, "X-Change", "changed"), label .. ": X-Change not \"changed\"")
    check(mt.eom_check(conn, MT_HDRINSERT, "X-First", "1", 0), label .. ": X-First: 1 not at index 0")

    -- 2
    clean(conn, "2 clean after all keywords", "QID2")

    -- 3: aborted after the headers (the MTA's RSET or a lost client)
    mail_from(conn, "<sender@example.org>", SMFIR_CONTINUE, "QID3")
    rcpt_to(conn, "<rcpt@example.test>")
    send_message(conn, headers("ADDRCPT CHGFROM DISCARD"))
    ok("mt.abort", mt.abort(conn))

    -- 4
    clean(conn, "4 clean after an aborted message with keywords", "QID4")

    -- 5: rejected at MAIL, then at one RCPT; the transaction goes on with the other recipient
    mail_from(conn, "<spammer@blocked.example>", SMFIR_REPLYCODE, "QID5")
    ok("mt.abort", mt.abort(conn))
    mail_from(conn, "<sender@example.org>", SMFIR_CONTINUE, "QID5b")
    rcpt_to(conn, "<tempfail@example.test>", SMFIR_REPLYCODE)
    rcpt_to(conn, "<rcpt@example.test>")
    send_message(conn, headers("INSHDR"))
    end_of_message(conn, "6 INSHDR after rejections")
    check(mt.eom_check(conn, MT_HDRINSERT, "X-First", "1", 0), "6 INSHDR after rejections: X-First: 1 not at index 0")
    check_scenario_header(conn, "6 INSHDR after rejections")
    for keyword, seen in pairs(KEYWORD_ACTIONS) do
        if keyword ~= "INSHDR" then
            check(not seen(conn), "6 INSHDR after rejections: " .. keyword .. "'s action taken")
        end
    end
    expect_no_packet("e", "6 INSHDR after rejections: no CHGFROM")

    -- 7
    clean(conn, "7 clean at the end", "QID7")

    mt.disconnect(conn)
end)
