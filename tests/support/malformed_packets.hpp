// The malformed packets of both directions, each with the typed error it must give. Shared by
// the decoder tests (tests/proto/malformed_test.cpp) and the server tests, which send every
// bad command to a running server (tests/asio/server_test.cpp).
#pragma once

#include <cppmilter/proto/error.hpp>

namespace cppmilter::test {

struct bad_packet {
    const char* what;
    const char* hex;
    proto::errc code;
    char letter;
    const char* field;
};

// MTA → filter.
inline constexpr bad_packet bad_commands[] = {
    {"unknown command letter", "0000000158", proto::errc::unknown_command, 'X', ""},
    {"OPTNEG too short", "000000054f00000006", proto::errc::truncated, 'O', "actions"},
    {"OPTNEG without protocol word", "000000094f00000006000001ff", proto::errc::truncated, 'O', "protocol"},
    {"OPTNEG version 1", "0000000d4f00000001000001ff001fffff", proto::errc::unsupported_version, 'O', "version"},
    {"OPTNEG version 0", "0000000d4f00000000000001ff001fffff", proto::errc::unsupported_version, 'O', "version"},
    {"MACRO without stage", "0000000144", proto::errc::truncated, 'D', "stage"},
    {"MACRO name without NUL", "00000003444361", proto::errc::missing_nul, 'D', "name"},
    {"MACRO name without value", "0000000444436100", proto::errc::truncated, 'D', "value"},
    {"MACRO value without NUL", "0000000544436100 62", proto::errc::missing_nul, 'D', "value"},
    {"CONNECT hostname without NUL", "0000000443616263", proto::errc::missing_nul, 'C', "hostname"},
    {"CONNECT empty", "0000000143", proto::errc::truncated, 'C', "hostname"},
    {"CONNECT without family", "00000003436100", proto::errc::truncated, 'C', "family"},
    {"CONNECT unknown family", "000000084361005800193100", proto::errc::unknown_address_family, 'C', "family"},
    {"CONNECT truncated port", "0000000543610034 01", proto::errc::truncated, 'C', "port"},
    {"CONNECT address without NUL", "00000008436100340019 3132", proto::errc::missing_nul, 'C', "address"},
    {"CONNECT without address", "00000006436100340019", proto::errc::truncated, 'C', "address"},
    {"CONNECT bytes after family U", "000000054361005578", proto::errc::unexpected_payload, 'C', "address"},
    {"CONNECT bytes after address", "000000094361003400193100 78", proto::errc::unexpected_payload, 'C', "address"},
    {"HELO empty payload", "0000000148", proto::errc::truncated, 'H', "helo name"},
    {"HELO without NUL", "000000034861 62", proto::errc::missing_nul, 'H', "helo name"},
    {"HELO with trailing bytes", "00000004486100 62", proto::errc::unexpected_payload, 'H', "helo name"},
    {"MAIL empty payload", "000000014d", proto::errc::truncated, 'M', "address"},
    {"MAIL address without NUL", "000000034d3c3e", proto::errc::missing_nul, 'M', "address"},
    {"MAIL argument without NUL", "000000074d3c3e0053495a", proto::errc::missing_nul, 'M', "esmtp argument"},
    {"RCPT empty payload", "0000000152", proto::errc::truncated, 'R', "address"},
    {"RCPT address without NUL", "00000003523c3e", proto::errc::missing_nul, 'R', "address"},
    {"HEADER empty payload", "000000014c", proto::errc::truncated, 'L', "name"},
    {"HEADER name without NUL", "000000024c41", proto::errc::missing_nul, 'L', "name"},
    {"HEADER without value", "000000034c4100", proto::errc::truncated, 'L', "value"},
    {"HEADER value without NUL", "000000044c410062", proto::errc::missing_nul, 'L', "value"},
    {"HEADER with trailing bytes", "000000064c4100620063", proto::errc::unexpected_payload, 'L', "value"},
    {"EOH with payload", "000000024e00", proto::errc::unexpected_payload, 'N', "payload"},
    {"DATA with payload", "000000025478", proto::errc::unexpected_payload, 'T', "payload"},
    {"ABORT with payload", "000000024100", proto::errc::unexpected_payload, 'A', "payload"},
    {"QUIT with payload", "000000025100", proto::errc::unexpected_payload, 'Q', "payload"},
    {"QUIT_NC with payload", "000000024b00", proto::errc::unexpected_payload, 'K', "payload"},
    {"UNKNOWN without NUL", "000000035558 46", proto::errc::missing_nul, 'U', "command"},
    {"UNKNOWN empty payload", "0000000155", proto::errc::truncated, 'U', "command"},
};

// Filter → MTA.
inline constexpr bad_packet bad_replies[] = {
    {"unknown reply letter", "000000015a", proto::errc::unknown_reply, 'Z', ""},
    {"CONN_FAIL", "0000000166", proto::errc::unknown_reply, 'f', "CONN_FAIL is accepted by no MTA"},
    {"SETSYMLIST as a packet", "000000016c", proto::errc::unknown_reply, 'l', "SETSYMLIST is never sent as a packet"},
    {"CONTINUE with payload", "000000026300", proto::errc::unexpected_payload, 'c', "payload"},
    {"PROGRESS with payload", "000000027078", proto::errc::unexpected_payload, 'p', "payload"},
    {"OPTNEG reply too short", "000000094f0000000600000001", proto::errc::truncated, 'O', "protocol"},
    {"OPTNEG reply version 1", "0000000d4f000000010000000100000000", proto::errc::unsupported_version, 'O', "version"},
    {"OPTNEG reply macro stage 7", "000000134f000000060000000100000000 00000007 6900", proto::errc::unexpected_payload, 'O', "macro stage"},
    {"OPTNEG reply macro list without NUL", "000000124f000000060000000100000000 00000000 6a", proto::errc::missing_nul, 'O', "macro list"},
    {"OPTNEG reply truncated macro stage", "0000000f4f000000060000000100000000 0000", proto::errc::truncated, 'O', "macro stage"},
    {"REPLYCODE without NUL", "00000004793535 30", proto::errc::missing_nul, 'y', "text"},
    {"REPLYCODE with two NULs", "0000000679353530 0000", proto::errc::unexpected_payload, 'y', "text"},
    {"REPLYCODE 250", "00000008 79 323530 20 6f6b 00", proto::errc::invalid_reply_text, 'y', "code must be 4xx or 5xx"},
    {"REPLYCODE lone percent", "0000000879353530 20 25 7800", proto::errc::invalid_reply_text, 'y', "a lone '%' (write '%%')"},
    {"ADDHEADER without value", "000000036841 00", proto::errc::truncated, 'h', "value"},
    {"ADDHEADER empty name", "00000003 68 00 00", proto::errc::empty_field, 'h', "name"},
    {"INSHEADER truncated index", "000000036900 00", proto::errc::truncated, 'i', "index"},
    {"CHGHEADER without name", "000000056d00000001", proto::errc::truncated, 'm', "name"},
    {"CHGFROM empty payload", "0000000165", proto::errc::truncated, 'e', "address"},
    {"CHGFROM empty sender", "000000026500", proto::errc::empty_field, 'e', "address"},
    {"CHGFROM arguments without NUL", "0000000565 3c3e00 52", proto::errc::missing_nul, 'e', "esmtp arguments"},
    {"ADDRCPT with trailing bytes", "00000005 2b 3c3e00 78", proto::errc::unexpected_payload, '+', "address"},
    {"DELRCPT without NUL", "00000003 2d 3c3e", proto::errc::missing_nul, '-', "address"},
    {"QUARANTINE empty reason", "000000027100", proto::errc::empty_field, 'q', "reason"},
    {"QUARANTINE without NUL", "000000037168 6f", proto::errc::missing_nul, 'q', "reason"},
};

} // namespace cppmilter::test
