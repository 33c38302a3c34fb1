#include <cppmilter/dsl/body_spool.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace cppmilter {

namespace {

std::atomic<std::size_t> spill_threshold{default_body_spill_threshold};

// A body buffer no larger than this is kept across messages (no allocation per small message);
// a larger one is given back.
constexpr std::size_t kept_capacity = 64 * 1024;

std::string temp_directory() {
    const char* dir = std::getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

// Thread-safe (strerror is not): several server threads may fail at once.
std::string system_error(int err) { return std::system_category().message(err); }

/// An unlinked file in `dir`, open for reading and writing; -1 with errno set on failure.
int open_unlinked(const std::string& dir) {
#ifdef O_TMPFILE
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    // No such directory or no permission: mkstemp would fail the same way.
    if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) return -1;
#endif
    // The file system cannot do O_TMPFILE (or the kernel predates it): a named file, unlinked
    // at once, so that nothing is left behind if the process dies.
    std::string path = dir + "/cppmilter-body-XXXXXX";
    const int named = ::mkostemp(path.data(), O_CLOEXEC);
    if (named < 0) return -1;
    ::unlink(path.c_str());
    return named;
}

} // namespace

void set_body_spill_threshold(std::size_t bytes) noexcept { spill_threshold.store(bytes, std::memory_order_relaxed); }
std::size_t body_spill_threshold() noexcept { return spill_threshold.load(std::memory_order_relaxed); }

std::string body_spill_problem() {
    const std::string dir = temp_directory();
    const int fd = open_unlinked(dir);
    if (fd < 0) {
        const int err = errno;
        return "cannot create a temporary file for large bodies in " + dir + " (TMPDIR): " + system_error(err);
    }
    ::close(fd);
    return {};
}

body_spool::body_spool(body_spool&& other) noexcept
    : memory_{std::move(other.memory_)}, size_{std::exchange(other.size_, 0)}, fd_{std::exchange(other.fd_, -1)},
      mapped_{std::exchange(other.mapped_, nullptr)}, mapped_size_{std::exchange(other.mapped_size_, 0)},
      error_{std::move(other.error_)} {
    other.memory_.clear();
    other.error_.clear();
}

body_spool& body_spool::operator=(body_spool&& other) noexcept {
    if (this != &other) {
        clear();
        memory_ = std::move(other.memory_);
        size_ = std::exchange(other.size_, 0);
        fd_ = std::exchange(other.fd_, -1);
        mapped_ = std::exchange(other.mapped_, nullptr);
        mapped_size_ = std::exchange(other.mapped_size_, 0);
        error_ = std::move(other.error_);
        other.memory_.clear();
        other.error_.clear();
    }
    return *this;
}

body_spool::~body_spool() { clear(); }

void body_spool::append(std::string_view bytes) {
    if (!error_.empty()) return; // already failed: view() reports it
    if (bytes.empty()) return;
    if (fd_ >= 0) {
        unmap();
        write_all(bytes);
        return;
    }
    const std::size_t threshold = body_spill_threshold();
    if (threshold == 0 || size_ + bytes.size() <= threshold) {
        memory_.append(bytes);
        size_ += bytes.size();
        return;
    }
    spill(bytes);
}

void body_spool::spill(std::string_view more) {
    const std::string dir = temp_directory();
    fd_ = open_unlinked(dir);
    if (fd_ < 0) {
        const int err = errno; // before anything that allocates
        fail("cannot create a temporary file for a " + std::to_string(size_ + more.size()) + "-byte body in " + dir +
             " (TMPDIR): " + system_error(err));
    }
    size_ = 0; // counts what the file holds from here on
    write_all(memory_);
    write_all(more);
    std::string{}.swap(memory_); // the file has it now
}

void body_spool::write_all(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0) {
            const int err = errno;
            if (err == EINTR) continue;
            fail("cannot write a large body to its temporary file in " + temp_directory() + " (TMPDIR) after " +
                 std::to_string(size_) + " bytes: " + system_error(err));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
        size_ += static_cast<std::size_t>(n);
    }
}

std::string_view body_spool::view() {
    // Said again at end of message, where the MTA may first be answered (NR_BODY).
    if (!error_.empty()) throw std::runtime_error{"the body was not kept, so the end-of-message hooks were not called: " + error_};
    if (fd_ < 0) return memory_;
    if (!mapped_) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            fail("cannot map the " + std::to_string(size_) + "-byte body's temporary file: " + system_error(err));
        }
        // Hooks read a body front to back, once: read ahead, and let those pages go first.
        (void)::madvise(p, size_, MADV_SEQUENTIAL);
        mapped_ = static_cast<const char*>(p);
        mapped_size_ = size_;
    }
    return {mapped_, mapped_size_};
}

void body_spool::fail(std::string message) {
    clear();
    error_ = message;
    throw std::runtime_error{std::move(message)};
}

void body_spool::unmap() noexcept {
    if (mapped_) ::munmap(const_cast<char*>(mapped_), mapped_size_);
    mapped_ = nullptr;
    mapped_size_ = 0;
}

void body_spool::clear() noexcept {
    unmap();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    size_ = 0;
    if (memory_.capacity() > kept_capacity) std::string{}.swap(memory_);
    else memory_.clear();
    error_.clear();
}

} // namespace cppmilter
