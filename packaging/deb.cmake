# Debian packages with CPack (cpack -G DEB in the build directory; docs/deploy/systemd.md):
#
#   libcppmilter-dev   headers, the static libraries, the CMake package (find_package(cppmilter))
#   cppmilter-milters  the example milters (static binaries), their systemd units and config
#                      files, the tools (cppmilter-send, cppmilter-inspect, cppmilter-unseal),
#                      man pages
#
# Configure with -DCMAKE_INSTALL_PREFIX=/usr to package: the units name /usr/sbin and /etc, and
# GNUInstallDirs puts the libraries in lib/<multiarch> only for that prefix.
# Included at the end of the top-level CMakeLists.txt, after every install() rule.

include(${CMAKE_CURRENT_LIST_DIR}/milters.cmake)

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    message(STATUS "cppmilter: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}: Debian packages made here "
                   "install there; configure with -DCMAKE_INSTALL_PREFIX=/usr for packages")
endif()

# ---- what the -dev package's users need to link: the packages that own the files its CMake
# config finds (cmake/cppmilter-config.cmake.in). Asked of dpkg for the files this build used,
# so the list follows the system; the names below are Debian 12's, for systems without dpkg.
set(cppmilter_dev_dependency_files
    "${Boost_INCLUDE_DIR}/boost/version.hpp"       # Boost headers (Hana, Asio)
    "${Boost_PROGRAM_OPTIONS_LIBRARY_RELEASE}"     # libboost_program_options.a
    "${ICU_UC_LIBRARY}"                            # libicuuc.a (the ICU data is in libcppmilter_mail.a)
    "${ICU_INCLUDE_DIR}/unicode/ucnv.h"            # find_package(ICU) wants the headers too
    "${CPPMILTER_IDN2_LIBRARY}" "${CPPMILTER_IDN2_INCLUDE_DIR}/idn2.h"
    "${CPPMILTER_PSL_LIBRARY}" "${CPPMILTER_PSL_INCLUDE_DIR}/libpsl.h"
    "${CPPMILTER_UNISTRING_LIBRARY}")
set(cppmilter_dev_depends_fallback
    libboost1.81-dev libboost-program-options1.81-dev libicu-dev libidn2-dev libpsl-dev libunistring-dev)
find_program(CPPMILTER_DPKG_QUERY dpkg-query)
set(cppmilter_dev_depends)
if(CPPMILTER_DPKG_QUERY)
    foreach(file IN LISTS cppmilter_dev_dependency_files)
        # The real file: dpkg knows /usr/lib/x86_64-linux-gnu/libidn2.a, not a symlink's name.
        get_filename_component(real "${file}" REALPATH)
        set(owner)
        foreach(candidate "${file}" "${real}")
            execute_process(COMMAND ${CPPMILTER_DPKG_QUERY} -S "${candidate}"
                OUTPUT_VARIABLE answer ERROR_QUIET RESULT_VARIABLE status)
            if(status EQUAL 0 AND answer MATCHES "^([^:, ]+)")
                set(owner ${CMAKE_MATCH_1})
                break()
            endif()
        endforeach()
        if(owner)
            list(APPEND cppmilter_dev_depends ${owner})
        else()
            message(STATUS "cppmilter: no Debian package owns ${file}: libcppmilter-dev does not depend on it")
        endif()
    endforeach()
    list(REMOVE_DUPLICATES cppmilter_dev_depends)
else()
    set(cppmilter_dev_depends ${cppmilter_dev_depends_fallback})
endif()
list(JOIN cppmilter_dev_depends ", " cppmilter_dev_depends)

# ---- the static libraries lose their debug information when packaged (as dh_strip does):
# install(TARGETS) strips executables only.
if(CMAKE_STRIP)
    install(CODE "if(CMAKE_INSTALL_DO_STRIP)
    file(GLOB archives \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libcppmilter*.a\")
    foreach(archive IN LISTS archives)
        execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug \"\${archive}\")
    endforeach()
endif()" COMPONENT dev)
endif()

# ---- the milters package: its maintainer scripts name every unit it ships.
get_property(cppmilter_milters GLOBAL PROPERTY cppmilter_installed_milters)
set(SOCKETS)
set(SERVICES)
set(cppmilter_conffiles)
foreach(target IN LISTS cppmilter_milters)
    string(REPLACE "_" "-" name ${target})
    string(APPEND SOCKETS " cppmilter-${name}.socket")
    string(APPEND SERVICES " cppmilter-${name}.service")
    string(APPEND cppmilter_conffiles "${cppmilter_config_dir}/${name}.conf\n")
endforeach()
string(STRIP "${SOCKETS}" SOCKETS)
string(STRIP "${SERVICES}" SERVICES)
set(UNITS "${SOCKETS} ${SERVICES}")
set(cppmilter_control ${PROJECT_BINARY_DIR}/packaging/debian)
foreach(script postinst prerm postrm)
    configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/${script}.in ${cppmilter_control}/${script} @ONLY
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
# Files under /etc are conffiles (kept on upgrade when the administrator changed them); CPack
# does not mark them by itself.
file(CONFIGURE OUTPUT ${cppmilter_control}/conffiles CONTENT "${cppmilter_conffiles}")
install(FILES ${PROJECT_SOURCE_DIR}/docs/deploy/systemd.md
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/cppmilter-milters COMPONENT milters)

# ---- CPack
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cppmilter)
set(CPACK_PACKAGE_VENDOR cppmilter)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# The packages' own first lines are their summaries. CPack 3.25 puts any summary but its own
# default above both descriptions (CPackDeb.cmake), so the summary is that default.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_NAME} built using CMake")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL dev milters)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # name_version-release_arch.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "cppmilter developers <cppmilter@localhost>" CACHE STRING
    "Maintainer field of the Debian packages")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/cppmilter/cppmilter" CACHE STRING
    "Homepage field of the Debian packages")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Descriptions: the first line is the summary; CPackDeb indents the rest and turns empty
# lines into Debian's " .".
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libcppmilter-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${cppmilter_dev_depends}")
set(CPACK_COMPONENT_DEV_DESCRIPTION "C++20 framework for mail filters (milters): development files
cppmilter writes milters for Postfix and Sendmail: a compile-time checked DSL
(Boost.Hana) and a Boost.Asio server, one static binary per milter.

This package has the headers, the static libraries (protocol core, server,
MTA client, message toolkit) and the CMake package: find_package(cppmilter).")

set(CPACK_DEBIAN_MILTERS_PACKAGE_NAME cppmilter-milters)
set(CPACK_DEBIAN_MILTERS_PACKAGE_SECTION mail)
# The binaries are static: they need no library. dpkg-shlibdeps still looks, so that a
# binary linked dynamically by mistake brings its dependencies (and fails the package check).
set(CPACK_DEBIAN_MILTERS_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_MILTERS_PACKAGE_DEPENDS "adduser") # postinst makes the cppmilter user
set(CPACK_DEBIAN_MILTERS_PACKAGE_SUGGESTS "postfix")
set(CPACK_DEBIAN_MILTERS_PACKAGE_CONTROL_EXTRA
    "${cppmilter_control}/postinst;${cppmilter_control}/prerm;${cppmilter_control}/postrm;${cppmilter_control}/conffiles")
set(CPACK_COMPONENT_MILTERS_DESCRIPTION "mail filters (milters) for Postfix and Sendmail, built with cppmilter
Example milters built with cppmilter, each one static binary with a systemd
socket and service unit (socket activation, hardened) and a configuration
file in /etc/cppmilter: sender-block, tagger, showcase, stamp, editor, align,
seal, dkim and more. The units are installed, not enabled.

Tools: cppmilter-send plays an MTA against a milter, cppmilter-inspect shows
a message's header fields, cppmilter-unseal opens what the seal milter sealed.")

include(CPack)
