# IDNA (libidn2) and the Public Suffix List (libpsl) for the message toolkit's domains.
#
# Static archives first, so that a milter linked with -static carries them: libpsl.a calls
# libidn2 (idn2_lookup_u8) and libunistring (u8_tolower, uninorm_nfkc); libidn2.a calls
# libunistring. The shared libraries are the fallback where no archive is installed.
# Debian's libpsl (both .a and .so) has the list built in (psl_builtin(), built from the
# publicsuffix package): a static binary without /usr/share/publicsuffix still has a list.
#
# Two parts: the imported targets cppmilter_deps::{unistring,idn2,psl}, which the installed
# package's config file defines again for its users (this file is installed as
# cppmilter-mail-domain.cmake and included with cppmilter_mail_domain_find_only set), then
# the build's own use of them.

set(cppmilter_saved_suffixes ${CMAKE_FIND_LIBRARY_SUFFIXES})
set(CMAKE_FIND_LIBRARY_SUFFIXES .a ${CMAKE_FIND_LIBRARY_SUFFIXES})
find_library(CPPMILTER_UNISTRING_LIBRARY NAMES unistring)
find_library(CPPMILTER_IDN2_LIBRARY NAMES idn2)
find_library(CPPMILTER_PSL_LIBRARY NAMES psl)
set(CMAKE_FIND_LIBRARY_SUFFIXES ${cppmilter_saved_suffixes})
find_path(CPPMILTER_IDN2_INCLUDE_DIR idn2.h)
find_path(CPPMILTER_PSL_INCLUDE_DIR libpsl.h)

foreach(var CPPMILTER_UNISTRING_LIBRARY CPPMILTER_IDN2_LIBRARY CPPMILTER_PSL_LIBRARY
            CPPMILTER_IDN2_INCLUDE_DIR CPPMILTER_PSL_INCLUDE_DIR)
    if(NOT ${var})
        set(cppmilter_mail_domain_missing "${var} not found (Debian: apt install libidn2-dev libpsl-dev libunistring-dev)")
        if(cppmilter_mail_domain_find_only)
            set(cppmilter_FOUND FALSE)
            set(cppmilter_NOT_FOUND_MESSAGE "${cppmilter_mail_domain_missing}")
            return()
        endif()
        message(FATAL_ERROR "${cppmilter_mail_domain_missing}")
    endif()
endforeach()

if(NOT TARGET cppmilter_deps::psl)
    add_library(cppmilter_deps::unistring UNKNOWN IMPORTED)
    set_target_properties(cppmilter_deps::unistring PROPERTIES IMPORTED_LOCATION ${CPPMILTER_UNISTRING_LIBRARY})
    add_library(cppmilter_deps::idn2 UNKNOWN IMPORTED)
    set_target_properties(cppmilter_deps::idn2 PROPERTIES IMPORTED_LOCATION ${CPPMILTER_IDN2_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${CPPMILTER_IDN2_INCLUDE_DIR}
        INTERFACE_LINK_LIBRARIES cppmilter_deps::unistring)
    add_library(cppmilter_deps::psl UNKNOWN IMPORTED)
    set_target_properties(cppmilter_deps::psl PROPERTIES IMPORTED_LOCATION ${CPPMILTER_PSL_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${CPPMILTER_PSL_INCLUDE_DIR}
        INTERFACE_LINK_LIBRARIES cppmilter_deps::idn2)
endif()

if(cppmilter_mail_domain_find_only)
    return()
endif()

# For a second build of src/mail (the instrumented copy in tests/fuzz).
set(cppmilter_mail_domain_libraries cppmilter_deps::psl cppmilter_deps::idn2)
target_link_libraries(cppmilter_mail PRIVATE ${cppmilter_mail_domain_libraries})
install(FILES ${CMAKE_CURRENT_LIST_FILE} DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cppmilter
    RENAME cppmilter-mail-domain.cmake)
