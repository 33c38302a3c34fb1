-- End-of-message actions of examples/showcase.hpp, one keyword per connection, as libmilter's
-- miltertest sees them. Every message gets ADDHEADER X-Scenario: seen; a keyword anywhere in
-- any Subject value (case-sensitive) adds exactly its own action:
--   REPLACEBODY  REPLBODY "body replaced\r\n"
--   ADDRCPT      ADDRCPT <added@example.test>
--   DELRCPT      DELRCPT <gone@example.test>
--   CHGFROM      CHGFROM <new@example.test>   (packet level: 'e', 19 bytes; see common.lua)
--   CHGHDR       CHGHEADER X-Change "changed" (index 1: miltertest cannot check the index)
--   INSHDR       INSHEADER X-First: 1 at index 0
-- (QUARANTINE and DISCARD: discard_quarantine.lua.) Then all keywords in one message, and how
-- Subject is matched.
-- Run: run_miltertest.sh path/to/showcase modifications.lua
dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "./") .. "common.lua")

run(function()
    local function message(conn, label, subjects, extra_headers)
        mail_from(conn, "<sender@example.org>")
        rcpt_to(conn, "<rcpt@example.test>")
        rcpt_to(conn, "<gone@example.test>")
        local headers = {{"From", "sender@example.org"}, {"To", "rcpt@example.test, gone@example.test"},
                         {"X-Change", "first"}, {"X-Change", "second"}}
        for _, s in ipairs(subjects) do headers[#headers + 1] = {"Subject", s} end
        for _, h in ipairs(extra_headers or {}) do headers[#headers + 1] = h end
        send_message(conn, headers)
        end_of_message(conn, label)
    end

    -- What each keyword must do, beyond X-Scenario.
    local checks = {
        REPLACEBODY = function(conn, label)
            check(mt.eom_check(conn, MT_BODYCHANGE, "body replaced\r\n"),
                  label .. ": body not replaced by \"body replaced\\r\\n\"")
        end,
        ADDRCPT = function(conn, label)
            check(mt.eom_check(conn, MT_RCPTADD, "<added@example.test>"), label .. ": <added@example.test> not added")
        end,
        DELRCPT = function(conn, label)
            check(mt.eom_check(conn, MT_RCPTDELETE, "<gone@example.test>"),
                  label .. ": <gone@example.test> not deleted")
            check(not mt.eom_check(conn, MT_RCPTDELETE, "<rcpt@example.test>"),
                  label .. ": <rcpt@example.test> deleted")
        end,
        CHGFROM = function(conn, label)
            -- No eom_check for CHGFROM in miltertest: "<new@example.test>" and its NUL are 19 bytes
            -- (no ESMTP arguments).
            expect_packet("e", 19, label .. ": CHGFROM <new@example.test>")
        end,
        CHGHDR = function(conn, label)
            check(mt.eom_check(conn, MT_HDRCHANGE, "X-Change", "changed"),
                  label .. ": X-Change not changed to \"changed\"")
            -- MT_HDRCHANGE with an index (5 arguments) compares it with tonumber(value) in
            -- miltertest 1.6.0, never with the index: that form cannot be used.
            check(not mt.eom_check(conn, MT_HDRDELETE, "X-Change"), label .. ": X-Change deleted")
        end,
        INSHDR = function(conn, label)
            check(mt.eom_check(conn, MT_HDRINSERT, "X-First", "1", 0), label .. ": X-First: 1 not inserted at index 0")
            check(not mt.eom_check(conn, MT_HDRADD, "X-First"), label .. ": X-First appended instead of inserted")
        end,
    }

    -- The other keywords' actions did not happen.
    local function check_only(conn, label, keywords)
        check_scenario_header(conn, label)
        local wanted = {}
        for _, k in ipairs(keywords) do wanted[k] = true end
        for keyword, seen in pairs(KEYWORD_ACTIONS) do
            if not wanted[keyword] then
                check(not seen(conn), label .. ": " .. keyword .. "'s action taken, the subject does not ask for it")
            end
        end
        expect_no_packet("y", label .. ": no REPLYCODE at end of message")
        if not wanted.CHGFROM then expect_no_packet("e", label .. ": no CHGFROM") end
    end

    -- One keyword per connection.
    for _, keyword in ipairs({"REPLACEBODY", "ADDRCPT", "DELRCPT", "CHGFROM", "CHGHDR", "INSHDR"}) do
        local label = "keyword " .. keyword
        local conn = open_connection(label)
        message(conn, label, {"test " .. keyword .. " please"})
        checks[keyword](conn, label)
        check_only(conn, label, {keyword})
        mt.disconnect(conn)
    end

    -- All of them in one message (both Subject headers count).
    do
        local label = "all keywords"
        local all = {"REPLACEBODY", "ADDRCPT", "DELRCPT", "CHGFROM", "CHGHDR", "INSHDR"}
        local conn = open_connection(label)
        message(conn, label, {"REPLACEBODY ADDRCPT DELRCPT", "CHGFROM+CHGHDR+INSHDR"})
        for _, keyword in ipairs(all) do checks[keyword](conn, label) end
        check_only(conn, label, all)
        mt.disconnect(conn)
    end

    -- Subject matching.
    do
        local conn = open_connection("subject matching")
        -- A keyword in the second Subject header counts; inside a longer word too.
        message(conn, "second subject", {"nothing here", "xxADDRCPTxx"})
        checks.ADDRCPT(conn, "second subject")
        check_only(conn, "second subject", {"ADDRCPT"})
        -- Keywords are case-sensitive and only Subject counts.
        message(conn, "not a keyword", {"addrcpt Chgfrom replacebody"},
                {{"X-Subject", "ADDRCPT CHGFROM"}, {"Comments", "REPLACEBODY INSHDR"}})
        check_untouched(conn, "not a keyword")
        -- Header names are case-insensitive: "SUBJECT" is Subject.
        message(conn, "SUBJECT header", {}, {{"SUBJECT", "INSHDR"}})
        checks.INSHDR(conn, "SUBJECT header")
        check_only(conn, "SUBJECT header", {"INSHDR"})
        mt.disconnect(conn)
    end
end)
