// Starts tests/examples/fake_dns.py (a UDP DNS responder on 127.0.0.1 answering TXT queries
// from a zone text) for the lifetime of one object; stopped by PID, and bounded in time.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace cppmilter::test {

class fake_dns {
public:
    /// `zone`: lines "NAME RECORD" or "NAME SERVFAIL". `silent`: never answers.
    /// `hold_until_names`: answers nothing until that many different names were asked for.
    explicit fake_dns(const std::string& zone, bool silent = false, int hold_until_names = 0) {
        zone_file_ = std::filesystem::temp_directory_path() /
                     ("cppmilter-fake-dns-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++) + ".zone");
        std::ofstream{zone_file_} << zone;
        int to_child[2], from_child[2];
        if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
        posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
        posix_spawn_file_actions_addclose(&actions, to_child[1]);
        posix_spawn_file_actions_addclose(&actions, from_child[0]);
        std::string python = CPPMILTER_PYTHON, script = CPPMILTER_FAKE_DNS, zone_path = zone_file_.string();
        std::string zone_flag = "--zone", lifetime_flag = "--lifetime", lifetime = "120", silent_flag = "--silent",
                    hold_flag = "--hold-until-names", hold = std::to_string(hold_until_names);
        char* argv[] = {python.data(), script.data(), zone_flag.data(), zone_path.data(), lifetime_flag.data(),
                        lifetime.data(), hold_flag.data(), hold.data(), silent ? silent_flag.data() : nullptr, nullptr};
        const int rc = posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(to_child[0]);
        ::close(from_child[1]);
        stdin_ = to_child[1]; // closed in the destructor: the responder exits on EOF as well
        if (rc != 0) {
            ::close(from_child[0]);
            throw std::runtime_error("cannot start " + python);
        }
        std::string line;
        pollfd p{from_child[0], POLLIN, 0};
        while (line.find('\n') == std::string::npos && ::poll(&p, 1, 10000) == 1) {
            char buf[64];
            const auto n = ::read(from_child[0], buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, static_cast<std::size_t>(n));
        }
        ::close(from_child[0]);
        if (!line.starts_with("port ")) {
            stop();
            throw std::runtime_error("fake_dns.py did not start: '" + line + "'");
        }
        port_ = std::stoi(line.substr(5));
    }
    ~fake_dns() { stop(); }
    fake_dns(const fake_dns&) = delete;
    fake_dns& operator=(const fake_dns&) = delete;

    /// "127.0.0.1:PORT", as --dns-server and resolver_options::servers take it.
    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
        if (stdin_ >= 0) ::close(stdin_);
        stdin_ = -1;
        std::error_code ignored;
        std::filesystem::remove(zone_file_, ignored);
    }

    pid_t pid_ = -1;
    int stdin_ = -1;
    int port_ = 0;
    std::filesystem::path zone_file_;
};

} // namespace cppmilter::test
