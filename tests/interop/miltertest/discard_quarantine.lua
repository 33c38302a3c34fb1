-- The two message-wide end-of-message outcomes of examples/showcase.hpp, as libmilter's
-- miltertest sees them:
--   QUARANTINE in a Subject -> QUARANTINE "held", the message accepted (X-Scenario still added)
--   DISCARD in a Subject    -> the answer to end of message is DISCARD (X-Scenario still sent)
--   both                    -> QUARANTINE "held" and DISCARD
-- and neither sticks to the connection: the next message is accepted untouched.
-- Run: run_miltertest.sh path/to/showcase discard_quarantine.lua
dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "./") .. "common.lua")

run(function()
    local function message(conn, label, subject, want)
        mail_from(conn, "<sender@example.org>")
        rcpt_to(conn, "<rcpt@example.test>")
        send_message(conn, {{"From", "sender@example.org"}, {"To", "rcpt@example.test"}, {"Subject", subject}})
        end_of_message(conn, label, want)
    end

    local conn = open_connection("discard/quarantine")

    message(conn, "QUARANTINE", "please QUARANTINE me", ACCEPTED)
    check(mt.eom_check(conn, MT_QUARANTINE, "held"), "QUARANTINE: no QUARANTINE with reason \"held\"")
    check_scenario_header(conn, "QUARANTINE")
    check(not mt.eom_check(conn, MT_BODYCHANGE), "QUARANTINE: body replaced")
    check(not mt.eom_check(conn, MT_HDRINSERT), "QUARANTINE: header inserted")
    check(not mt.eom_check(conn, MT_HDRCHANGE), "QUARANTINE: header changed")

    message(conn, "clean after QUARANTINE", "nothing special", ACCEPTED)
    check_untouched(conn, "clean after QUARANTINE")

    message(conn, "DISCARD", "please DISCARD me", SMFIR_DISCARD)
    check_scenario_header(conn, "DISCARD")
    check(not mt.eom_check(conn, MT_QUARANTINE), "DISCARD: quarantined as well")
    check(not mt.eom_check(conn, MT_BODYCHANGE), "DISCARD: body replaced")

    message(conn, "clean after DISCARD", "nothing special", ACCEPTED)
    check_untouched(conn, "clean after DISCARD")

    message(conn, "QUARANTINE+DISCARD", "DISCARD and QUARANTINE", SMFIR_DISCARD)
    check(mt.eom_check(conn, MT_QUARANTINE, "held"), "QUARANTINE+DISCARD: no QUARANTINE \"held\"")
    check_scenario_header(conn, "QUARANTINE+DISCARD")

    -- Lower case is no keyword.
    message(conn, "discard in lower case", "discard quarantine", ACCEPTED)
    check_untouched(conn, "discard in lower case")

    mt.disconnect(conn)

    -- DISCARD as the last message of a connection, then a fresh connection: accepted untouched.
    conn = open_connection("last DISCARD")
    message(conn, "last DISCARD", "DISCARD", SMFIR_DISCARD)
    mt.disconnect(conn)
    conn = open_connection("after last DISCARD")
    message(conn, "new connection after DISCARD", "plain", ACCEPTED)
    check_untouched(conn, "new connection after DISCARD")
    mt.disconnect(conn)
end)
