// Reads the recorded Postfix sessions in tests/data/captures (format: captures/README.md).
#pragma once

#include "support/hex.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cppmilter::test {

struct captured_packet {
    bool from_mta = false; ///< '>' lines: MTA to filter; '<' lines: filter to MTA
    std::string bytes;     ///< the whole packet, length prefix included
};

struct capture {
    std::string name; ///< "plain/01-plain"
    std::vector<captured_packet> packets;

    /// All bytes of one direction, concatenated, as they went over the wire.
    std::string stream(bool from_mta) const {
        std::string s;
        for (const auto& p : packets)
            if (p.from_mta == from_mta) s += p.bytes;
        return s;
    }
};

inline capture load_capture(const std::filesystem::path& file) {
    std::ifstream in{file};
    if (!in) throw std::runtime_error("cannot open " + file.string());
    capture c;
    c.name = file.parent_path().filename().string() + "/" + file.stem().string();
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() < 2 || (line[0] != '>' && line[0] != '<')) continue;
        c.packets.push_back({line[0] == '>', from_hex(std::string_view{line}.substr(2))});
    }
    return c;
}

inline std::filesystem::path test_data() { return CPPMILTER_TEST_DATA; }

/// Every capture of both profiles, in a stable order.
inline std::vector<capture> all_captures() {
    std::vector<std::filesystem::path> files;
    for (const char* profile : {"plain", "nr"})
        for (const auto& e : std::filesystem::directory_iterator{test_data() / "captures" / profile})
            if (e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<capture> out;
    for (const auto& f : files) out.push_back(load_capture(f));
    if (out.size() != 18) throw std::runtime_error("expected 18 captures, found " + std::to_string(out.size()));
    return out;
}

} // namespace cppmilter::test
