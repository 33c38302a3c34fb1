#!/usr/bin/python3
"""Runs cppmilter-inspect on the messages of tests/data/messages and checks its JSON exactly.

    check_inspect.py CPPMILTER_INSPECT MESSAGES_DIR CASE

One CASE per CTest test (tests/tools/CMakeLists.txt), so a failure is reported by name.
"""
import json
import subprocess
import sys

tool, messages, case = sys.argv[1:4]


def run(*args, stdin=b""):
    """The tool's exit status, stdout (bytes) and stderr (text)."""
    p = subprocess.run([tool, *args], input=stdin, capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr.decode()


def inspect(*args, stdin=b""):
    """The tool's JSON; it must succeed, be strict UTF-8 and have every key."""
    status, out, err = run(*args, stdin=stdin)
    assert status == 0, f"exit {status}: {err}"
    assert err == "", err
    doc = json.loads(out.decode("utf-8"))  # strict: invalid UTF-8 raises
    assert list(doc) == ["headers", "addresses", "errors"], list(doc)
    assert list(doc["addresses"]) == ["from", "sender", "reply_to", "to", "cc", "bcc"], list(doc["addresses"])
    for h in doc["headers"]:
        assert list(h) == ["name", "raw", "unfolded", "decoded"], h
    for boxes in doc["addresses"].values():
        for m in boxes:
            assert list(m) == ["display", "local", "domain", "domain_ascii", "org_domain"], m
    return doc


def mailbox(display, local, domain, domain_ascii, org_domain):
    return {"display": display, "local": local, "domain": domain,
            "domain_ascii": domain_ascii, "org_domain": org_domain}


def no_addresses(**present):
    return {key: present.get(key, []) for key in ["from", "sender", "reply_to", "to", "cc", "bcc"]}


def path(name):
    return f"{messages}/{name}"


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def check_equal(actual, expected):
    assert actual == expected, "\n  got:      " + json.dumps(actual, ensure_ascii=False, default=repr) + \
                               "\n  expected: " + json.dumps(expected, ensure_ascii=False, default=repr)


ENCODED_HEADERS = [
    {"name": "Subject",
     "raw": "=?ISO-8859-1?Q?Caf=E9_cr=E8me?= and\n =?UTF-8?B?0J/RgNC40LLQtdGC?= =?UTF-8?Q?_=E2=9C=93?=",
     "unfolded": "=?ISO-8859-1?Q?Caf=E9_cr=E8me?= and =?UTF-8?B?0J/RgNC40LLQtdGC?= =?UTF-8?Q?_=E2=9C=93?=",
     "decoded": "Café crème and Привет ✓"},
    {"name": "From", "raw": "\"Doe, Jane\" <jane@example.org>",
     "unfolded": "\"Doe, Jane\" <jane@example.org>", "decoded": "\"Doe, Jane\" <jane@example.org>"},
    {"name": "X-Folded", "raw": "first\n\tsecond after a tab\n   third",
     "unfolded": "first\tsecond after a tab   third", "decoded": "first\tsecond after a tab   third"},
    {"name": "Message-ID", "raw": "<inspect-encoded@example.org>",
     "unfolded": "<inspect-encoded@example.org>", "decoded": "<inspect-encoded@example.org>"},
]
ENCODED_ADDRESSES = no_addresses(
    **{"from": [mailbox("Doe, Jane", "jane", "example.org", "example.org", "example.org")]})


def case_encoded():
    doc = inspect(path("inspect-encoded.eml"))
    check_equal(doc["headers"], ENCODED_HEADERS)
    check_equal(doc["addresses"], ENCODED_ADDRESSES)  # the body's "To:" is not read
    check_equal(doc["errors"], [])


def case_crlf_stdin():
    crlf = read("inspect-encoded.eml").replace(b"\n", b"\r\n")
    for args in [["-"], []]:
        doc = inspect(*args, stdin=crlf)
        check_equal(doc["headers"], ENCODED_HEADERS)  # raw joins lines with "\n", CR gone
        check_equal(doc["addresses"], ENCODED_ADDRESSES)
        check_equal(doc["errors"], [])


def case_mbox_line():
    mbox = b"From jane@example.org  Mon Dec  2 10:00:00 2024\n" + read("inspect-encoded.eml")
    doc = inspect(stdin=mbox)
    check_equal(doc["headers"], ENCODED_HEADERS)
    check_equal(doc["errors"], [])


def case_addresses():
    doc = inspect(path("inspect-addresses.eml"))
    check_equal(doc["addresses"], {
        "from": [mailbox("Doe, Jane", "jane", "lists.example.org", "lists.example.org", "example.org")],
        "sender": [mailbox("Müller", "mueller", "Mail.Example.CO.UK", "mail.example.co.uk", "example.co.uk")],
        "reply_to": [mailbox("", "noreply", "[192.0.2.1]", None, None)],
        # the group's members, then the empty group adds none, then the third To:
        "to": [mailbox("", "alice", "bücher.example", "xn--bcher-kva.example", "bücher.example"),
               mailbox("Bob B.", "bob", "mail.xn--bcher-kva.example", "mail.xn--bcher-kva.example",
                       "xn--bcher-kva.example"),
               mailbox("", "dave", "example.net", "example.net", "example.net")],
        "cc": [mailbox("", "carol", "example.com", "example.com", "example.com")],
        "bcc": [],
    })
    check_equal(doc["errors"], [])
    to = doc["headers"][3]
    check_equal(to, {"name": "To",
                     "raw": "Team: alice@bücher.example,\n \"Bob B.\" <bob@mail.xn--bcher-kva.example>;",
                     "unfolded": "Team: alice@bücher.example, \"Bob B.\" <bob@mail.xn--bcher-kva.example>;",
                     "decoded": "Team: alice@bücher.example, \"Bob B.\" <bob@mail.xn--bcher-kva.example>;"})
    check_equal(doc["headers"][1]["decoded"], "Müller <mueller@Mail.Example.CO.UK>")
    check_equal([h["name"] for h in doc["headers"]],
                ["From", "Sender", "Reply-To", "To", "Cc", "To", "To", "Subject"])


def case_psl():
    doc = inspect("--psl", path("inspect-psl.dat"), path("inspect-addresses.eml"))
    # example.org is a public suffix in that list, so the organisational domain is one label longer
    check_equal(doc["addresses"]["from"],
                [mailbox("Doe, Jane", "jane", "lists.example.org", "lists.example.org", "lists.example.org")])
    check_equal(doc["addresses"]["sender"][0]["org_domain"], "example.co.uk")
    status, out, err = run("--psl", path("no-such-list.dat"), path("inspect-addresses.eml"))
    check_equal((status, out), (66, b""))
    assert err.startswith("cppmilter-inspect: --psl ") and err.count("\n") == 1, err


def case_eight_bit():
    doc = inspect(path("inspect-8bit.eml"))
    replacement = "\ufffd"
    check_equal(doc["headers"][0], {"name": "Subject", "raw": f"Caf{replacement} cr{replacement}me",
                                    "unfolded": f"Caf{replacement} cr{replacement}me",
                                    "decoded": f"Caf{replacement} cr{replacement}me"})
    check_equal(doc["headers"][2]["raw"], "Grüße")  # RFC 6532 UTF-8 passes as it is
    # One U+FFFD per maximal ill-formed subsequence: C0 80 (overlong) two, ED A0 80 (surrogate)
    # three, E2 82 (cut short) one, F4 90 80 80 (above U+10FFFF) four, a final lone E2 one.
    r = replacement
    check_equal(doc["headers"][3]["raw"], f"a{r}{r}b{r}{r}{r}c{r}d{r}{r}{r}{r}e😀{r}")
    check_equal(doc["headers"][3]["raw"], read("inspect-8bit.eml").split(b"X-Broken: ")[1].split(b"\n")[0]
                .decode("utf-8", "replace"))  # Python's decoder follows the same practice
    check_equal(doc["addresses"]["from"],
                [mailbox(f"J{r}rg", "joerg", "example.org", "example.org", "example.org")])
    check_equal(doc["errors"], [])
    compact = run("--compact", path("inspect-8bit.eml"))[1]
    check_equal(json.loads(compact.decode("utf-8")), doc)


def case_broken():
    doc = inspect(path("inspect-broken.eml"))
    check_equal(doc["headers"], [
        {"name": "Subject", "raw": "no From here", "unfolded": "no From here", "decoded": "no From here"},
        {"name": "To", "raw": "good@example.org, \"unterminated <x@example.org>",
         "unfolded": "good@example.org, \"unterminated <x@example.org>",
         "decoded": "good@example.org, \"unterminated <x@example.org>"},
        {"name": "X-Last", "raw": "the file ends without an empty line",
         "unfolded": "the file ends without an empty line", "decoded": "the file ends without an empty line"},
    ])
    check_equal(doc["addresses"], no_addresses(
        to=[mailbox("", "good", "example.org", "example.org", "example.org")]))
    check_equal(doc["errors"], [
        "line 1: continuation line before any header field",
        "line 4: not a header field: \"this line has no colon\"",
        "line 7: not a header field: \"Bad Name: a space in a field name\"",
        "to: unterminated quoted string at offset 18",
    ])


def case_empty():
    doc = inspect(stdin=b"")
    check_equal(doc, {"headers": [], "addresses": no_addresses(), "errors": []})


def case_compact():
    status, out, err = run("--compact", path("inspect-addresses.eml"))
    check_equal((status, err), (0, ""))
    assert out.endswith(b"\n") and out.count(b"\n") == 1, out
    check_equal(json.loads(out), inspect(path("inspect-addresses.eml")))
    pretty = run(path("inspect-addresses.eml"))[1]
    assert pretty.startswith(b'{\n  "headers": [\n    {\n      "name": "From",'), pretty[:80]


def case_usage():
    for args in [["--no-such-option"], ["a.eml", "b.eml"], ["--psl"]]:
        status, out, err = run(*args)
        check_equal((status, out), (64, b""))
        assert err.startswith("cppmilter-inspect: ") and err.count("\n") == 1, (args, err)


def case_missing_file():
    for name in [path("no-such-message.eml"), messages]:  # absent, and a directory
        status, out, err = run(name)
        check_equal((status, out), (66, b""))
        assert err.startswith(f"cppmilter-inspect: {name}: ") and err.count("\n") == 1, err


def case_help():
    status, out, err = run("--help")
    check_equal((status, err), (0, ""))
    assert b"stripped of one leading space" in out and b"--compact" in out and b"--psl" in out, out
    status, out, err = run("--version")
    check_equal((status, err), (0, ""))
    assert out.startswith(b"cppmilter-inspect ") and out.count(b"\n") == 1, out


globals()["case_" + case]()
print(f"{case}: ok")
