// Counts heap allocations of the test program, to prove the hot path makes none. Kept in its
// own translation unit so no caller sees (and inlines) the replaced functions.
//
// Every way to the heap is counted: operator new in all its forms (plain, array, aligned,
// nothrow) and, with glibc, the C allocator itself (malloc, calloc, realloc, aligned_alloc,
// posix_memalign, memalign), so that a std::pmr resource or a C library calling malloc is
// seen too. The C functions forward to glibc's own (__libc_*). Under AddressSanitizer the C
// allocator belongs to the sanitizer and is left alone; operator new is still counted.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include <malloc.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CPPMILTER_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CPPMILTER_UNDER_ASAN 1
#endif
#if defined(__GLIBC__) && !defined(CPPMILTER_UNDER_ASAN)
#define CPPMILTER_COUNT_MALLOC 1
#else
#define CPPMILTER_COUNT_MALLOC 0
#endif

namespace {
std::atomic<long> allocations{0};
} // namespace

long allocation_count() noexcept { return allocations.load(); }

#if CPPMILTER_COUNT_MALLOC
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) noexcept {
    ++allocations;
    return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n) noexcept {
    ++allocations;
    return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n) noexcept {
    ++allocations; // it may move: one allocation, as the hot path must not make any
    return __libc_realloc(p, n);
}
void* memalign(std::size_t alignment, std::size_t n) noexcept {
    ++allocations;
    return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) noexcept {
    ++allocations;
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) noexcept {
    if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return 22; // EINVAL
    ++allocations;
    void* p = __libc_memalign(alignment, n);
    if (!p) return 12; // ENOMEM
    *out = p;
    return 0;
}
void free(void* p) noexcept { __libc_free(p); }
}
// operator new goes through the counted malloc: counted there, once.
#define CPPMILTER_COUNT_NEW()
#else
#define CPPMILTER_COUNT_NEW() ++allocations
#endif

namespace {
void* allocate(std::size_t n) {
    CPPMILTER_COUNT_NEW();
    return std::malloc(n ? n : 1);
}
void* allocate_aligned(std::size_t n, std::align_val_t alignment) {
    CPPMILTER_COUNT_NEW();
    // aligned_alloc wants a size that is a multiple of the alignment.
    const auto a = static_cast<std::size_t>(alignment);
    return std::aligned_alloc(a, ((n ? n : 1) + a - 1) / a * a);
}
} // namespace

void* operator new(std::size_t n) {
    if (void* p = allocate(n)) return p;
    throw std::bad_alloc{};
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) {
    if (void* p = allocate_aligned(n, a)) return p;
    throw std::bad_alloc{};
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate_aligned(n, a); }

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

BOOST_AUTO_TEST_SUITE(codec)

// The counter itself: each way to the heap moves it (through volatile pointers, so that the
// compiler cannot elide an allocation it sees freed at once).
BOOST_AUTO_TEST_CASE(allocation_counter_sees_every_allocation) {
    struct alignas(64) cache_line {
        char bytes[64];
    };
    auto counts = [](auto allocate_and_free) {
        const long before = allocation_count();
        allocate_and_free();
        return allocation_count() - before;
    };
    BOOST_TEST(counts([] { delete new int{1}; }) == 1);
    BOOST_TEST(counts([] { delete[] new int[3]; }) == 1);
    BOOST_TEST(counts([] { delete new cache_line{}; }) == 1); // aligned new
    BOOST_TEST(counts([] { ::operator delete(::operator new(10, std::align_val_t{256}), std::align_val_t{256}); }) == 1);
    BOOST_TEST(counts([] { ::operator delete(::operator new(10, std::nothrow)); }) == 1);
#if CPPMILTER_COUNT_MALLOC
    void* (*volatile c_malloc)(std::size_t) = std::malloc;
    void* (*volatile c_calloc)(std::size_t, std::size_t) = std::calloc;
    void* (*volatile c_realloc)(void*, std::size_t) = std::realloc;
    void* (*volatile c_aligned_alloc)(std::size_t, std::size_t) = std::aligned_alloc;
    void (*volatile c_free)(void*) = std::free;
    BOOST_TEST(counts([&] { c_free(c_malloc(10)); }) == 1);
    BOOST_TEST(counts([&] { c_free(c_calloc(2, 10)); }) == 1);
    BOOST_TEST(counts([&] { c_free(c_realloc(c_malloc(10), 100)); }) == 2);
    BOOST_TEST(counts([&] { c_free(c_aligned_alloc(64, 128)); }) == 1);
    BOOST_TEST(counts([&] {
        void* p = nullptr;
        if (posix_memalign(&p, 64, 100) == 0) c_free(p);
    }) == 1);
#else
    BOOST_TEST_MESSAGE("the C allocator is the sanitizer's: malloc is not counted in this build");
#endif
}

BOOST_AUTO_TEST_SUITE_END()
