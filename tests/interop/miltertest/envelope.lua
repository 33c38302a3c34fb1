-- Envelope verdicts of examples/showcase.hpp, as libmilter's miltertest sees them:
--   MAIL FROM ending in @blocked.example (any case, with or without <>) -> REPLYCODE
--   "550 5.7.1 sender blocked"; any other sender -> CONTINUE
--   RCPT TO whose local part is "tempfail" (any case) -> REPLYCODE "451 4.7.1 try later";
--   any other recipient -> CONTINUE
--   a transaction whose sender and recipients pass is accepted with only X-Scenario added.
-- Run: run_miltertest.sh path/to/showcase envelope.lua
dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "./") .. "common.lua")

run(function()
    local conn = open_connection("envelope")

    -- Blocked senders. miltertest keeps only the reply letter of a MAIL/RCPT answer, so the text
    -- is checked at packet level: "550 5.7.1 sender blocked" and its NUL are 25 bytes.
    for _, sender in ipairs({"<Mallory@BLOCKED.Example>", "<mallory@blocked.example>", "mallory@Blocked.Example"}) do
        mail_from(conn, sender, SMFIR_REPLYCODE)
        expect_packet("y", 25, "MAIL FROM:" .. sender .. " -> 550 5.7.1 sender blocked")
        -- The MTA rejects the MAIL command; the transaction never opens. Sendmail sends ABORT.
        ok("mt.abort", mt.abort(conn))
    end

    -- Senders that only look blocked.
    for _, sender in ipairs({"<alice@notblocked.example>", "<bob@blocked.example.org>", "<>",
                             "<blocked.example@example.org>"}) do
        mail_from(conn, sender, SMFIR_CONTINUE)
        ok("mt.abort", mt.abort(conn))
    end

    -- ESMTP parameters do not matter.
    ok("mt.mailfrom", mt.mailfrom(conn, "<carol@blocked.example>", "SIZE=1000", "BODY=8BITMIME"))
    expect_reply(conn, "MAIL FROM:<carol@blocked.example> SIZE=1000 BODY=8BITMIME", SMFIR_REPLYCODE)
    ok("mt.abort", mt.abort(conn))

    -- Recipients: one transaction, several RCPTs, some refused ("451 4.7.1 try later" + NUL: 20 bytes).
    mail_from(conn, "<sender@example.org>", SMFIR_CONTINUE, "4Q2D")
    rcpt_to(conn, "<TempFail@example.test>", SMFIR_REPLYCODE)
    expect_packet("y", 20, "RCPT TO:<TempFail@example.test> -> 451 4.7.1 try later")
    rcpt_to(conn, "<rcpt@example.test>", SMFIR_CONTINUE)
    rcpt_to(conn, "<tempfail@elsewhere.example>", SMFIR_REPLYCODE)
    expect_packet("y", 20, "RCPT TO:<tempfail@elsewhere.example> -> 451 4.7.1 try later")
    rcpt_to(conn, "tempfail@example.test", SMFIR_REPLYCODE)
    rcpt_to(conn, "<tempfail.not@example.test>", SMFIR_CONTINUE)
    rcpt_to(conn, "<not-tempfail@example.test>", SMFIR_CONTINUE)
    rcpt_to(conn, "<tempfail>", SMFIR_REPLYCODE)

    -- The transaction goes on with the accepted recipients and is accepted untouched.
    send_message(conn, {{"From", "sender@example.org"}, {"To", "rcpt@example.test"}, {"Subject", "plain message"}})
    end_of_message(conn, "envelope")
    check_untouched(conn, "envelope")

    mt.disconnect(conn)
end)
