// The complete session of PROTOCOL.md §9, byte for byte: a Postfix-like MTA offers v6, the
// filter asks for ADDHDRS only, and adds "X-Scanned: yes" at end of message. This stream was
// replayed against a real libmilter 8.17 filter, which answered exactly these bytes.
#pragma once

#include <array>
#include <string_view>

namespace cppmilter::example {

struct wire_packet {
    bool from_mta;
    std::string_view hex;
};

inline constexpr std::array<wire_packet, 32> worked_example{{
    {true, "0000000d4f00000006000001ff001fffff"},
    {false, "0000000d4f000000060000000100000000"},
    {true, "0000002c44436a006d782e6578616d706c652e636f6d007b636c69656e745f616464727d003139322e302e322e313000"},
    {true, "0000002243636c69656e742e6578616d706c652e6f72670034d4313139322e302e322e313000"},
    {false, "0000000163"},
    {true, "000000024448"},
    {true, "0000001448636c69656e742e6578616d706c652e6f726700"},
    {false, "0000000163"},
    {true, "00000020444d7b6d61696c5f616464727d00616c696365406578616d706c652e6f726700"},
    {true, "0000001e4d3c616c696365406578616d706c652e6f72673e0053495a453d31303000"},
    {false, "0000000163"},
    {true, "0000001e44527b726370745f616464727d00626f62406578616d706c652e636f6d00"},
    {true, "00000013523c626f62406578616d706c652e636f6d3e00"},
    {false, "0000000163"},
    {true, "0000000f445469003446324131433042374500"},
    {true, "0000000154"},
    {false, "0000000163"},
    {true, "0000000f444c69003446324131433042374500"},
    {true, "0000000e4c5375626a656374005465737400"},
    {false, "0000000163"},
    {true, "0000000f444e69003446324131433042374500"},
    {true, "000000014e"},
    {false, "0000000163"},
    {true, "0000000f444269003446324131433042374500"},
    {true, "000000084248656c6c6f0d0a"},
    {false, "0000000163"},
    {true, "0000000f444569003446324131433042374500"},
    {true, "0000000145"},
    {false, "0000000f68582d5363616e6e65640079657300"},
    {false, "0000000163"},
    {true, "0000000141"},
    {true, "0000000151"},
}};

} // namespace cppmilter::example
