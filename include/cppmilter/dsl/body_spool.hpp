// The body of one message as end-of-message hooks read it: in memory while small, in an
// unlinked temporary file (read back through a mapping) once it passes the spill threshold.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cppmilter {

/// Bodies up to this many bytes stay in memory; a larger one is written to an unlinked
/// temporary file in $TMPDIR (or /tmp). 0: never spill (every body stays in memory).
/// Process-wide; run() sets it from --body-spill-threshold. Read when a body crosses it.
inline constexpr std::size_t default_body_spill_threshold = std::size_t{1} << 20; // 1 MiB
void set_body_spill_threshold(std::size_t bytes) noexcept;
std::size_t body_spill_threshold() noexcept;
/// Why a large body could not be spilled now (no such TMPDIR, no permission), as the error
/// append() would throw; empty if a temporary file can be made. run() checks it at start.
std::string body_spill_problem();

/// One message body, appended chunk by chunk and read whole. A body that passes the spill
/// threshold moves to a temporary file created with O_TMPFILE (mkstemp and unlink where the
/// file system lacks it), so that a 50 MiB message costs a connection a file descriptor, not
/// 50 MiB of heap; view() maps it read-only. Not thread-safe: one per connection.
class body_spool {
public:
    body_spool() = default;
    body_spool(const body_spool&) = delete;
    body_spool& operator=(const body_spool&) = delete;
    body_spool(body_spool&& other) noexcept;
    body_spool& operator=(body_spool&& other) noexcept;
    ~body_spool();

    /// Adds bytes at the end. A view() taken before is invalid afterwards. Throws
    /// std::runtime_error when the temporary file cannot be created or written (disk full,
    /// no such TMPDIR): the spool is then failed until clear(): later appends are ignored and
    /// view() throws (naming the same error), so that the message is never seen truncated.
    void append(std::string_view bytes);

    /// The whole body so far; valid until the next append() or clear(). Throws
    /// std::runtime_error if an append failed, or if the file cannot be mapped.
    std::string_view view();

    /// Forgets the body: unmaps and closes the file, frees the memory. A connection between
    /// messages owns nothing large.
    void clear() noexcept;

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// Whether the body is in a temporary file rather than in memory.
    bool spilled() const noexcept { return fd_ >= 0; }

private:
    [[noreturn]] void fail(std::string message);
    void spill(std::string_view more);
    void write_all(std::string_view bytes);
    void unmap() noexcept;

    std::string memory_; // the body while it is below the threshold
    std::size_t size_ = 0;
    int fd_ = -1;
    const char* mapped_ = nullptr;
    std::size_t mapped_size_ = 0;
    std::string error_; // non-empty: an append failed; cleared by clear()
};

} // namespace cppmilter
