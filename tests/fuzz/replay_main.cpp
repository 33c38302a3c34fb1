// Runs a fuzz entry point over every file below the directories (or the files) named on the
// command line, without libFuzzer: the committed corpus and every crash reproducer become a
// regression test in every build, gcc included. Fails when a directory is missing or empty,
// so that a moved corpus cannot make the test pass vacuously.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

namespace {

// The input being run, for the crash handler: a trap or a sanitizer abort then names it.
char current_input[4096];

void report_crash(int sig) {
    const char prefix[] = "\ncrashed on input: ";
    [[maybe_unused]] auto a = ::write(2, prefix, sizeof prefix - 1);
    [[maybe_unused]] auto b = ::write(2, current_input, std::strlen(current_input));
    [[maybe_unused]] auto c = ::write(2, "\n", 1);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

bool run_file(const fs::path& path) {
    std::ifstream in{path, std::ios::binary};
    if (!in) {
        std::cerr << "cannot read " << path << '\n';
        return false;
    }
    const std::vector<char> bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    const std::string name = path.string();
    const std::size_t n = std::min(name.size(), sizeof current_input - 1);
    std::memcpy(current_input, name.data(), n);
    current_input[n] = '\0';
    // libFuzzer never passes a null pointer, not even for an empty input.
    static const std::uint8_t empty = 0;
    const auto* data = bytes.empty() ? &empty : reinterpret_cast<const std::uint8_t*>(bytes.data());
    LLVMFuzzerTestOneInput(data, bytes.size());
    return true;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " CORPUS_DIR_OR_FILE...\n";
        return 2;
    }
    for (int sig : {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGTRAP}) std::signal(sig, report_crash);

    std::size_t ran = 0;
    for (int i = 1; i < argc; ++i) {
        const fs::path root{argv[i]};
        std::error_code ec;
        if (fs::is_regular_file(root, ec)) {
            if (!run_file(root)) return 1;
            ++ran;
            continue;
        }
        if (!fs::is_directory(root, ec)) {
            std::cerr << root << ": no such directory\n";
            return 1;
        }
        std::vector<fs::path> files;
        for (const auto& entry : fs::recursive_directory_iterator{root})
            if (entry.is_regular_file()) files.push_back(entry.path());
        if (files.empty()) {
            std::cerr << root << ": no inputs\n";
            return 1;
        }
        std::sort(files.begin(), files.end()); // the same order on every run
        for (const auto& file : files) {
            if (!run_file(file)) return 1;
            ++ran;
        }
        std::cout << root.string() << ": " << files.size() << " inputs\n";
    }
    std::cout << ran << " inputs ran\n";
    return 0;
}
