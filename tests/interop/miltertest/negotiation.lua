-- Option negotiation with examples/showcase.hpp, and the same verdicts whatever the MTA offers,
-- as libmilter's miltertest sees them:
--   * offered everything (libmilter's defaults): showcase asks for every action it takes
--     (ADDHDRS CHGHDRS CHGBODY ADDRCPT DELRCPT CHGFROM QUARANTINE) and not for NOHDRS;
--   * whatever the offer, showcase asks only for protocol options the MTA offered;
--   * an MTA that offers no protocol option but NOUNKNOWN (so CONNECT, HELO, DATA, every
--     header, end of headers and body chunks are sent and answered), and one that offers none
--     (libmilter then assumes version 1's set, NOCONNECT..NOHDRS): blocked sender 550,
--     tempfailed recipient 451, each step before end of message answered CONTINUE, and at end
--     of message X-Scenario, the body replaced (after body chunks were sent) and CHGFROM.
-- Note: mt.negotiate's arguments are (conn, version, protocol options, actions) in miltertest
-- 1.6.0; its manual page lists actions before options. nil means "libmilter's default: all".
-- Run: run_miltertest.sh path/to/showcase negotiation.lua
dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "./") .. "common.lua")

local function has_bit(value, bit)
    return math.floor(value / bit) % 2 == 1
end

-- Every SMFIP_* miltertest knows; each the milter asks for must have been offered.
local OPTIONS = {"SMFIP_NOCONNECT", "SMFIP_NOHELO", "SMFIP_NOMAIL", "SMFIP_NORCPT", "SMFIP_NOBODY", "SMFIP_NOHDRS",
                 "SMFIP_NOEOH", "SMFIP_NR_HDR", "SMFIP_NOUNKNOWN", "SMFIP_NODATA", "SMFIP_SKIP", "SMFIP_RCPT_REJ",
                 "SMFIP_NR_CONN", "SMFIP_NR_HELO", "SMFIP_NR_MAIL", "SMFIP_NR_RCPT", "SMFIP_NR_DATA", "SMFIP_NR_UNKN",
                 "SMFIP_NR_EOH", "SMFIP_NR_BODY", "SMFIP_HDR_LEADSPC"}

local function check_only_offered(conn, label, offered)
    for _, name in ipairs(OPTIONS) do
        local bit = _G[name]
        if bit ~= nil and mt.test_option(conn, bit) then
            check(has_bit(offered, bit), label .. ": showcase asked for " .. name .. ", which the MTA did not offer")
        end
    end
end

-- The whole conversation with an MTA that offered `offered` (nil: everything).
local function session(label, offered, effective)
    local conn = mt.connect(socket, 40, 0.25)
    check(conn ~= nil, "mt.connect(" .. socket .. ") failed")
    ok(label .. ": mt.negotiate", mt.negotiate(conn, 6, offered, nil))
    if effective then check_only_offered(conn, label, effective) end
    local function skips(option) return mt.test_option(conn, option) end
    local function answered(option, what)
        if not mt.test_option(conn, option) then expect_reply(conn, label .. ": " .. what, SMFIR_CONTINUE) end
    end

    mt.macro(conn, SMFIC_CONNECT, "j", "mx.miltertest.invalid", "{client_addr}", "192.0.2.1")
    if not skips(SMFIP_NOCONNECT) then
        ok("mt.conninfo", mt.conninfo(conn, "client.example", "192.0.2.1"))
        answered(SMFIP_NR_CONN, "CONNECT")
    end
    if not skips(SMFIP_NOHELO) then
        ok("mt.helo", mt.helo(conn, "client.example"))
        answered(SMFIP_NR_HELO, "HELO")
    end
    if not skips(SMFIP_NOUNKNOWN) then
        ok("mt.unknown", mt.unknown(conn, "XFOO bar"))
        answered(SMFIP_NR_UNKN, "unknown command")
    end

    mail_from(conn, "<Mallory@Blocked.Example>", SMFIR_REPLYCODE)
    expect_packet("y", 25, label .. ": 550 5.7.1 sender blocked")
    ok("mt.abort", mt.abort(conn))
    mail_from(conn, "<sender@example.org>")
    rcpt_to(conn, "<TEMPFAIL@example.test>", SMFIR_REPLYCODE)
    expect_packet("y", 20, label .. ": 451 4.7.1 try later")
    rcpt_to(conn, "<rcpt@example.test>")
    if not skips(SMFIP_NODATA) then
        ok("mt.data", mt.data(conn))
        answered(SMFIP_NR_DATA, "DATA")
    end
    send_message(conn, {{"From", "sender@example.org"}, {"Subject", "REPLACEBODY and CHGFROM"}},
                 "first chunk\r\n")
    if not skips(SMFIP_NOBODY) then
        ok("mt.bodystring", mt.bodystring(conn, "second chunk\r\n"))
        answered(SMFIP_NR_BODY, "second body chunk")
    end
    end_of_message(conn, label)
    expect_packet("e", 19, label .. ": CHGFROM <new@example.test>")
    check_scenario_header(conn, label)
    check(mt.eom_check(conn, MT_BODYCHANGE, "body replaced\r\n"), label .. ": body not replaced")
    check(not mt.eom_check(conn, MT_RCPTADD, "<added@example.test>"), label .. ": recipient added")
    mt.disconnect(conn)
end

run(function()
    -- Everything offered.
    local conn = open_connection("negotiation")
    for _, a in ipairs({"SMFIF_ADDHDRS", "SMFIF_CHGHDRS", "SMFIF_CHGBODY", "SMFIF_ADDRCPT", "SMFIF_DELRCPT",
                        "SMFIF_CHGFROM", "SMFIF_QUARANTINE"}) do
        check(mt.test_action(conn, _G[a]), "negotiation: showcase did not ask for " .. a)
    end
    -- It reads the headers: they must not be negotiated away.
    check(not mt.test_option(conn, SMFIP_NOHDRS), "negotiation: showcase asked for NOHDRS")
    mt.disconnect(conn)

    session("all options offered", nil, nil)
    session("only NOUNKNOWN offered", SMFIP_NOUNKNOWN, SMFIP_NOUNKNOWN)
    -- Version 1's set, which libmilter assumes when the MTA offers nothing.
    session("no option offered", 0, SMFIP_NOCONNECT + SMFIP_NOHELO + SMFIP_NOMAIL + SMFIP_NORCPT + SMFIP_NOBODY
                                    + SMFIP_NOHDRS)
end)
