# How a milter binary and a tool are installed for the cppmilter-milters Debian package
# (packaging/deb.cmake makes the packages; docs/deploy/systemd.md describes the result).
#
#   cppmilter_install_milter(<target> [DESCRIPTION "one line for the man page"])
#       /usr/sbin/cppmilter-<name>                    the binary, stripped when packaged
#       /etc/cppmilter/<name>.conf                    its --config file (a conffile)
#       /usr/lib/systemd/system/cppmilter-<name>.{socket,service}
#       /usr/share/man/man8/cppmilter-<name>.8.gz     from its --help (help2man)
#   cppmilter_install_tool(<target> [DESCRIPTION "..."])
#       the man page only (section 1): the tool's own CMake code installs its binary.
#
# <name> is the target's name with '_' turned into '-' (sender_block -> sender-block). The
# binaries get the cppmilter- prefix because the examples' own names (editor, stamp, seal,
# align) are too generic for /usr/sbin; /usr/bin/editor even exists on Debian.
#
# A milter is installed once, whoever calls first: its examples/<name>.cmake, or the fallback
# in examples/CMakeLists.txt for the server targets that exist.

# Included by examples/, tools/ and packaging/deb.cmake, each for its own scope's variables.
include(GNUInstallDirs)

set(cppmilter_packaging_dir ${CMAKE_CURRENT_LIST_DIR})

# /etc for a /usr prefix (GNUInstallDirs' own special case, which Debian packages need);
# <prefix>/etc otherwise, relative so that `cmake --install --prefix DIR` stays inside DIR.
if(CMAKE_INSTALL_FULL_SYSCONFDIR STREQUAL "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}")
    set(cppmilter_config_destination ${CMAKE_INSTALL_SYSCONFDIR}/cppmilter)
else()
    set(cppmilter_config_destination ${CMAKE_INSTALL_FULL_SYSCONFDIR}/cppmilter)
endif()
set(cppmilter_config_dir ${CMAKE_INSTALL_FULL_SYSCONFDIR}/cppmilter)
# Under the prefix: /usr/lib/systemd/system for a /usr prefix, which systemd reads (and which
# is /lib/systemd/system on a merged-/usr Debian 12).
set(cppmilter_unit_destination lib/systemd/system)
# Where each milter's socket is made: inside Postfix's chroot (/var/spool/postfix), so that a
# chrooted smtpd reaches it as unix:/milter/<name>.sock.
set(CPPMILTER_SOCKET_DIR /var/spool/postfix/milter CACHE STRING
    "Directory of the milters' systemd sockets (the packaged .socket units)")
set(CPPMILTER_SOCKET_GROUP postfix CACHE STRING "Group that may connect to the milters' sockets (the MTA's)")

find_program(CPPMILTER_HELP2MAN help2man)
get_property(cppmilter_help2man_reported GLOBAL PROPERTY cppmilter_help2man_reported)
if(NOT CPPMILTER_HELP2MAN AND NOT cppmilter_help2man_reported)
    set_property(GLOBAL PROPERTY cppmilter_help2man_reported ON)
    message(STATUS "cppmilter: help2man not found (apt-get install help2man): no man pages")
endif()
find_program(CPPMILTER_GZIP gzip)

# cppmilter_man_page(<target> <installed name> <section> <description> [<extra .h2m include>])
# Runs the binary's --help through help2man, under the name it is installed as (the program
# prints its argv[0] in the usage line), and installs the gzipped page.
function(cppmilter_man_page target installed section description)
    if(NOT CPPMILTER_HELP2MAN OR NOT CPPMILTER_GZIP)
        return()
    endif()
    set(dir ${PROJECT_BINARY_DIR}/packaging/man)
    set(link ${dir}/bin/${installed})
    set(page ${dir}/${installed}.${section})
    set(include_args)
    if(ARGC GREATER 4)
        set(include_args --include ${ARGV4})
    endif()
    add_custom_command(OUTPUT ${page}.gz
        COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}/bin
        COMMAND ${CMAKE_COMMAND} -E create_symlink $<TARGET_FILE:${target}> ${link}
        COMMAND ${CPPMILTER_HELP2MAN} --no-info --section ${section} --name ${description}
            --version-string ${PROJECT_VERSION} --source cppmilter ${include_args} --output ${page} ${link}
        COMMAND ${CPPMILTER_GZIP} -9nf ${page} # -n: no time stamp, the same page every build
        DEPENDS ${target} ${ARGV4}
        COMMENT "Man page ${installed}(${section})"
        VERBATIM)
    add_custom_target(${target}_man ALL DEPENDS ${page}.gz)
    install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT milters)
endfunction()

function(cppmilter_install_tool target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "DESCRIPTION" "")
    if(NOT arg_DESCRIPTION)
        set(arg_DESCRIPTION "a cppmilter tool")
    endif()
    cppmilter_man_page(${target} ${target} 1 "${arg_DESCRIPTION}")
endfunction()

# One line for each known milter's man page; a milter not listed gets a generic one.
set(cppmilter_milter_descriptions
    "sender_block=refuse mail from listed sender domains"
    "tagger=tag messages with a header"
    "showcase=every milter action at work (a demonstration)"
    "stamp=add a header naming the receiving server"
    "editor=edit messages at end of message (a demonstration)"
    "align=check that the From header aligns with the envelope sender (DMARC)"
    "seal=seal connection details to a public key into a header"
    "dkim=sign and verify DKIM signatures"
    "ratelimit=at most N messages per sender, login, domain or client per period, counted in Redis"
    "webhook=let an HTTP(S) policy endpoint decide about each message"
    "audit=one JSON line per message transaction")

function(cppmilter_install_milter target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "DESCRIPTION" "")
    get_property(done GLOBAL PROPERTY cppmilter_installed_milters)
    if(target IN_LIST done)
        return()
    endif()
    set_property(GLOBAL APPEND PROPERTY cppmilter_installed_milters ${target})

    string(REPLACE "_" "-" name ${target})
    set(installed cppmilter-${name})
    if(NOT arg_DESCRIPTION)
        set(arg_DESCRIPTION "a cppmilter mail filter")
        foreach(entry IN LISTS cppmilter_milter_descriptions)
            if(entry MATCHES "^${target}=(.*)$")
                set(arg_DESCRIPTION "${CMAKE_MATCH_1}")
            endif()
        endforeach()
    endif()

    # The binary: install(PROGRAMS) because install(TARGETS) cannot rename; stripped as
    # install(TARGETS) would strip it (cmake --install --strip, CPACK_STRIP_FILES).
    install(PROGRAMS $<TARGET_FILE:${target}> DESTINATION ${CMAKE_INSTALL_SBINDIR} RENAME ${installed}
        COMPONENT milters)
    if(CMAKE_STRIP)
        install(CODE "if(CMAKE_INSTALL_DO_STRIP)
    execute_process(COMMAND \"${CMAKE_STRIP}\" \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}/${installed}\")
endif()" COMPONENT milters)
    endif()

    # Its configuration file, every line commented out: the server options (one template for
    # all), then the milter's own from packaging/config/<name>.conf if there is one.
    set(MILTER ${installed})
    set(NAME ${name})
    set(config ${PROJECT_BINARY_DIR}/packaging/config/${name}.conf)
    file(READ ${cppmilter_packaging_dir}/config/generic.conf.in config_text)
    set(own_options ${cppmilter_packaging_dir}/config/${name}.conf)
    if(EXISTS ${own_options})
        file(READ ${own_options} own_text)
        string(APPEND config_text "${own_text}")
        set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${own_options})
    endif()
    string(CONFIGURE "${config_text}" config_text @ONLY)
    file(CONFIGURE OUTPUT ${config} CONTENT "${config_text}" @ONLY)
    install(FILES ${config} DESTINATION ${cppmilter_config_destination} COMPONENT milters)

    # Its units, from one template each.
    set(DESCRIPTION "${arg_DESCRIPTION}")
    set(EXECUTABLE ${CMAKE_INSTALL_FULL_SBINDIR}/${installed})
    set(CONFIG ${cppmilter_config_dir}/${name}.conf)
    set(SOCKET ${CPPMILTER_SOCKET_DIR}/${name}.sock)
    set(SOCKET_DIR ${CPPMILTER_SOCKET_DIR})
    set(SOCKET_GROUP ${CPPMILTER_SOCKET_GROUP})
    set(UNIT_DIR ${CMAKE_INSTALL_PREFIX}/${cppmilter_unit_destination})
    set(DOC_DIR ${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/cppmilter-milters)
    set(units ${PROJECT_BINARY_DIR}/packaging/systemd)
    configure_file(${cppmilter_packaging_dir}/systemd/milter.service.in ${units}/${installed}.service @ONLY)
    configure_file(${cppmilter_packaging_dir}/systemd/milter.socket.in ${units}/${installed}.socket @ONLY)
    install(FILES ${units}/${installed}.service ${units}/${installed}.socket
        DESTINATION ${cppmilter_unit_destination} COMPONENT milters)

    # Its man page, with the files and units it comes with.
    set(h2m ${PROJECT_BINARY_DIR}/packaging/man/${installed}.h2m)
    configure_file(${cppmilter_packaging_dir}/man/milter.h2m.in ${h2m} @ONLY)
    cppmilter_man_page(${target} ${installed} 8 "${arg_DESCRIPTION}" ${h2m})
endfunction()
