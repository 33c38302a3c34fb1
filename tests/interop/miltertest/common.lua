-- Helpers shared by the miltertest scripts in this directory (loaded with dofile; not a test).
--
-- Globals the scripts expect (miltertest -D name=value):
--   socket  where showcase listens, e.g. unix:/tmp/x/s.sock or inet:12345@127.0.0.1 (required)
--
-- Every mt.* call that fails, and every answer or end-of-message action that differs from
-- what examples/showcase.hpp does, ends the script with error(...) and miltertest exits 1.
-- miltertest as packaged in Debian 12 (OpenDKIM 2.11.0~beta2, Lua 5.3) does not print the
-- message of a Lua error (nor of a syntax error): each script therefore runs its body through
-- run(), which writes the message and a traceback to stderr before raising it again.
--
-- Some things miltertest (OpenDKIM 2.11, "v1.6.0") records but cannot compare: the text of a
-- REPLYCODE given to MAIL or RCPT, and CHGFROM at end of message. For those, scripts print
-- "mt-expect: ..." lines; run_miltertest.sh runs miltertest with -vv, whose output lists every
-- packet read from the milter with its command letter and length, and checks them there.

-- Runs a script's body; on error, prints what went wrong (miltertest would not), then fails.
function run(body)
    local okay, err = xpcall(body, function(e) return debug.traceback(tostring(e), 2) end)
    if not okay then
        io.stdout:flush()
        io.stderr:write("FAILED: ", err, "\n")
        error(err, 0)
    end
end

if socket == nil or socket == "" then
    io.stderr:write("FAILED: no milter socket: run miltertest with -D socket=unix:/path/to/socket",
                    " (see run_miltertest.sh)\n")
    error("no milter socket", 0)
end

local names = {}
for _, n in ipairs({"SMFIR_CONTINUE", "SMFIR_ACCEPT", "SMFIR_REJECT", "SMFIR_TEMPFAIL", "SMFIR_DISCARD",
                    "SMFIR_REPLYCODE", "SMFIR_SKIP"}) do
    if _G[n] ~= nil then names[_G[n]] = n end
end

-- "SMFIR_REPLYCODE ('y')" for a reply code as mt.getreply returns it.
function reply_name(r)
    if r == nil then return "nil" end
    local letter = (r > 0 and r < 256) and string.format(" ('%s')", string.char(math.floor(r))) or ""
    return (names[r] or string.format("reply %d", math.floor(r))) .. letter
end

-- An mt.* function returns nil on success, an error string otherwise.
function ok(what, result)
    if result ~= nil then error(what .. " failed: " .. tostring(result), 2) end
end

function check(condition, message)
    if not condition then error(message, 2) end
end

-- The last reply must be `want` (one SMFIR_* value, or a list of acceptable ones).
function expect_reply(conn, what, want)
    local got = mt.getreply(conn)
    local wants = type(want) == "table" and want or {want}
    for _, w in ipairs(wants) do
        if got == w then return end
    end
    local listed = {}
    for _, w in ipairs(wants) do listed[#listed + 1] = reply_name(w) end
    error(string.format("%s: milter answered %s, expected %s", what, reply_name(got), table.concat(listed, " or ")), 2)
end

-- End of message accepted: libmilter-style milters answer CONTINUE or ACCEPT.
ACCEPTED = {SMFIR_CONTINUE, SMFIR_ACCEPT}

-- Packet-level expectations, checked by run_miltertest.sh in miltertest's -vv output against
-- the packets read from the milter since miltertest's last write (so: call these right after
-- the mt.* call whose answer they describe, with no other mt.* call that writes in between).
function expect_packet(letter, length, why)
    mt.echo(string.format("mt-expect: packet %s %d %s", letter, length, why))
end

function expect_no_packet(letter, why)
    mt.echo(string.format("mt-expect: no-packet %s %s", letter, why))
end

-- Connect (retrying while showcase starts), negotiate with libmilter's defaults (everything
-- offered), then CONNECT and HELO unless the milter asked to skip them, with the macros
-- Sendmail sends.
function open_connection(label)
    local conn = mt.connect(socket, 40, 0.25)
    check(conn ~= nil, "mt.connect(" .. socket .. ") failed")
    ok("mt.negotiate", mt.negotiate(conn, nil, nil, nil))
    mt.macro(conn, SMFIC_CONNECT, "j", "mx.miltertest.invalid", "_", "client.example [192.0.2.1]",
             "{daemon_name}", "miltertest", "{client_addr}", "192.0.2.1")
    if not mt.test_option(conn, SMFIP_NOCONNECT) then
        ok("mt.conninfo", mt.conninfo(conn, "client.example", "192.0.2.1"))
        expect_reply(conn, (label or "") .. " CONNECT", SMFIR_CONTINUE)
    end
    mt.macro(conn, SMFIC_HELO, "{tls_version}", "TLSv1.3")
    if not mt.test_option(conn, SMFIP_NOHELO) then
        ok("mt.helo", mt.helo(conn, "client.example"))
        expect_reply(conn, (label or "") .. " HELO", SMFIR_CONTINUE)
    end
    return conn
end

-- MAIL FROM; `want` is the expected reply (CONTINUE by default).
function mail_from(conn, sender, want, qid)
    mt.macro(conn, SMFIC_MAIL, "i", qid or "4Q1D", "{mail_addr}", sender)
    ok("mt.mailfrom(" .. sender .. ")", mt.mailfrom(conn, sender))
    expect_reply(conn, "MAIL FROM:" .. sender, want or SMFIR_CONTINUE)
end

function rcpt_to(conn, rcpt, want)
    mt.macro(conn, SMFIC_RCPT, "{rcpt_addr}", rcpt)
    ok("mt.rcptto(" .. rcpt .. ")", mt.rcptto(conn, rcpt))
    expect_reply(conn, "RCPT TO:" .. rcpt, want or SMFIR_CONTINUE)
end

-- Headers as a list of {name, value}; then end of headers and the body, unless the milter
-- negotiated them away (showcase asks for NOEOH and NOBODY: miltertest refuses to send them).
function send_message(conn, headers, body)
    for _, h in ipairs(headers) do
        ok("mt.header(" .. h[1] .. ")", mt.header(conn, h[1], h[2]))
        if not mt.test_option(conn, SMFIP_NR_HDR) then
            expect_reply(conn, "header " .. h[1], SMFIR_CONTINUE)
        end
    end
    if not mt.test_option(conn, SMFIP_NOEOH) then
        ok("mt.eoh", mt.eoh(conn))
        if not mt.test_option(conn, SMFIP_NR_EOH) then expect_reply(conn, "end of headers", SMFIR_CONTINUE) end
    end
    if not mt.test_option(conn, SMFIP_NOBODY) then
        ok("mt.bodystring", mt.bodystring(conn, body or "original body\r\n"))
        if not mt.test_option(conn, SMFIP_NR_BODY) then expect_reply(conn, "body", SMFIR_CONTINUE) end
    end
end

-- End of message; `want` as for expect_reply (accepted by default).
function end_of_message(conn, label, want)
    ok("mt.eom", mt.eom(conn))
    expect_reply(conn, label .. ": end of message", want or ACCEPTED)
end

-- The end-of-message actions showcase takes for every message: X-Scenario: seen, added once.
function check_scenario_header(conn, label)
    check(mt.eom_check(conn, MT_HDRADD, "X-Scenario", "seen"),
          label .. ": no ADDHEADER X-Scenario: seen at end of message")
    check(mt.getheader(conn, "X-Scenario", 0) == "seen", label .. ": X-Scenario is not \"seen\"")
    check(mt.getheader(conn, "X-Scenario", 1) == nil, label .. ": X-Scenario added more than once")
end

-- The actions that only keywords trigger, each with what shows it in miltertest.
KEYWORD_ACTIONS = {
    REPLACEBODY = function(conn) return mt.eom_check(conn, MT_BODYCHANGE) end,
    ADDRCPT = function(conn) return mt.eom_check(conn, MT_RCPTADD, "<added@example.test>") end,
    DELRCPT = function(conn) return mt.eom_check(conn, MT_RCPTDELETE, "<gone@example.test>") end,
    QUARANTINE = function(conn) return mt.eom_check(conn, MT_QUARANTINE) end,
    CHGHDR = function(conn) return mt.eom_check(conn, MT_HDRCHANGE) end,
    INSHDR = function(conn) return mt.eom_check(conn, MT_HDRINSERT) end,
}

-- The message was left alone: only X-Scenario was added, nothing a keyword does happened,
-- and (packet level) no CHGFROM. Call right after end_of_message.
function check_untouched(conn, label)
    check_scenario_header(conn, label)
    for keyword, seen in pairs(KEYWORD_ACTIONS) do
        check(not seen(conn), label .. ": " .. keyword .. "'s action taken for a message without the keyword")
    end
    check(not mt.eom_check(conn, MT_HDRADD, "X-First"), label .. ": X-First added")
    expect_no_packet("e", label .. ": no CHGFROM")
end
