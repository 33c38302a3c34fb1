# Charset conversion for the message toolkit (RFC 2047 words in any charset -> UTF-8).
#
# Why ICU, linked statically, with a reduced data package embedded in the library. Measured
# on Debian 12 (glibc 2.36, ICU 72.1, g++ 12 -O2 -static, x86_64): one program converting a
# sample of each of the 36 charsets to_utf8() promises, run in an empty chroot (no /usr, no
# gconv modules, no ICU data files; what a minimal container holds):
#
#   variant                                   binary (stripped)        charsets that work
#   glibc iconv                                 0.95 MB (0.81 MB)        2 of 36 (UTF-8, ASCII):
#                                                                        the rest are gconv
#                                                                        modules, dlopen()ed
#                                                                        from the host at run time
#   ICU, full libicudata.a (31.3 MB of data)   32.8 MB (32.6 MB)        35 of 36 (no ISO-8859-16)
#   ICU, reduced package below (1.15 MB)        2.7 MB (2.5 MB)          36 of 36, no file opened
#
# So: libicuuc.a (the converters; no i18n) and, instead of libicudata.a, a data package of
# the converters listed below, cut out of the system's libicudata.a with icupkg at build
# time and embedded with .incbin as ICU's own data symbol (icudt<major>_dat). Debian's ICU
# has no ISO-8859-16 table; it is compiled with makeconv from glibc's charmap (data, read at
# build time). CPPMILTER_ICU_FULL_DATA=ON embeds all of ICU's data instead (every charset ICU
# has, ISO-8859-16 added; 31 MB more per binary). docs/message.md (Charsets) has the details.
#
# This file is also the build step that makes the package: cmake -P cmake/mail_charset.cmake.

# The converters behind the charsets that to_utf8() promises (src/mail/charset.cpp), plus
# the tables they load in turn (icupkg names missing dependencies).
set(cppmilter_icu_items
    cnvalias.icu                                              # the alias table
    ibm-912_P100-1995.cnv ibm-913_P100-2000.cnv ibm-914_P100-1995.cnv   # ISO-8859-2..4
    ibm-915_P100-1995.cnv ibm-1089_P100-1995.cnv ibm-9005_X110-2007.cnv # ISO-8859-5..7
    ibm-5012_P100-1999.cnv ibm-920_P100-1995.cnv iso-8859_10-1998.cnv   # ISO-8859-8..10
    iso-8859_11-2001.cnv ibm-921_P100-1995.cnv iso-8859_14-1998.cnv     # ISO-8859-11,13,14
    ibm-923_P100-1998.cnv                                               # ISO-8859-15
    ibm-5346_P100-1998.cnv ibm-5347_P100-1998.cnv ibm-5348_P100-1997.cnv # windows-1250..1252
    ibm-5349_P100-1998.cnv ibm-5350_P100-1998.cnv ibm-9447_P100-2002.cnv # windows-1253..1255
    ibm-9448_X100-2005.cnv ibm-9449_P100-2002.cnv ibm-5354_P100-1998.cnv # windows-1256..1258
    ibm-878_P100-1996.cnv ibm-1168_P100-2002.cnv                        # KOI8-R, KOI8-U
    ibm-943_P15A-2003.cnv                            # Shift_JIS (CP932); ISO-2022-JP uses it
    euc-jp-2007.cnv                                  # EUC-JP
    ibm-970_P110_P110-2006_U2.cnv                    # EUC-KR
    windows-949-2000.cnv ibm-1363_P11B-1998.cnv      # EUC-KR as mailers send it (UHC)
    ibm-1383_P110-1999.cnv                           # GB2312 (EUC-CN)
    windows-936-2000.cnv ibm-1386_P100-2001.cnv      # GBK
    gb18030.cnv                                      # GB18030
    windows-950-2000.cnv ibm-1373_P100-2002.cnv      # Big5
    windows-874-2000.cnv                             # TIS-620 / windows-874 (Thai mail)
    ibm-866_P100-1995.cnv)                           # cp866 (Russian mail)
# Built here from glibc's charmap: ICU's default data set leaves it out.
set(cppmilter_icu_latin10 iso-8859_16-2001)

if(CMAKE_SCRIPT_MODE_FILE)
    # Build step. In: ICU_DATA_ARCHIVE (libicudata.a), ICU_PACKAGE (icudt72l), WORK_DIR,
    # OUTPUT (the .dat), FULL (keep all of ICU's data), AR, OBJCOPY, ICUPKG, MAKECONV,
    # CHARMAP_LATIN10 (ISO-8859-16.gz).
    function(run)
        execute_process(COMMAND ${ARGN} RESULT_VARIABLE status ERROR_VARIABLE err OUTPUT_QUIET)
        if(NOT status EQUAL 0)
            message(FATAL_ERROR "mail_charset: '${ARGN}' failed (${status}): ${err}")
        endif()
    endfunction()
    file(REMOVE_RECURSE ${WORK_DIR})
    file(MAKE_DIRECTORY ${WORK_DIR}/full ${WORK_DIR}/items)

    # libicudata.a holds one object whose .rodata is the whole package.
    run(${AR} x ${ICU_DATA_ARCHIVE} WORKING_DIRECTORY ${WORK_DIR})
    file(GLOB data_object ${WORK_DIR}/*.o)
    # The file name must be the package name: icupkg prefixes every item with it.
    run(${OBJCOPY} -O binary -j .rodata ${data_object} ${WORK_DIR}/full/${ICU_PACKAGE}.dat)
    if(FULL)
        file(WRITE ${WORK_DIR}/items.txt "")
    else()
        list(JOIN cppmilter_icu_items "\n" item_lines)
        file(WRITE ${WORK_DIR}/items.txt "${item_lines}\n")
        run(${ICUPKG} -x ${WORK_DIR}/items.txt -d ${WORK_DIR}/items ${WORK_DIR}/full/${ICU_PACKAGE}.dat)
    endif()

    # glibc charmap lines "<U0104>     /xa1   NAME" are ICU .ucm lines but for the syntax.
    execute_process(COMMAND gzip -dc ${CHARMAP_LATIN10} OUTPUT_VARIABLE charmap RESULT_VARIABLE status)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "mail_charset: cannot read ${CHARMAP_LATIN10} (glibc locales data)")
    endif()
    string(REGEX MATCHALL "<U[0-9A-F]+>[ \t]+/x[0-9a-f][0-9a-f]" pairs "${charmap}")
    list(LENGTH pairs pair_count)
    if(NOT pair_count EQUAL 256)
        message(FATAL_ERROR "mail_charset: ${CHARMAP_LATIN10}: ${pair_count} mappings, expected 256")
    endif()
    set(ucm "<code_set_name> \"${cppmilter_icu_latin10}\"\n<mb_cur_max> 1\n<mb_cur_min> 1\n")
    string(APPEND ucm "<uconv_class> \"SBCS\"\n<subchar> \\x1A\nCHARMAP\n")
    foreach(pair IN LISTS pairs)
        string(REGEX REPLACE "[ \t]+/x" " \\\\x" line "${pair}")
        string(APPEND ucm "${line} |0\n")
    endforeach()
    string(APPEND ucm "END CHARMAP\n")
    file(WRITE ${WORK_DIR}/${cppmilter_icu_latin10}.ucm "${ucm}")
    run(${MAKECONV} -d ${WORK_DIR}/items ${WORK_DIR}/${cppmilter_icu_latin10}.ucm)
    file(APPEND ${WORK_DIR}/items.txt "${cppmilter_icu_latin10}.cnv\n")

    get_filename_component(output_dir ${OUTPUT} DIRECTORY)
    file(MAKE_DIRECTORY ${output_dir})
    if(FULL)
        set(base ${WORK_DIR}/full/${ICU_PACKAGE}.dat) # everything, plus ISO-8859-16
    else()
        set(base new)
    endif()
    run(${ICUPKG} -a ${WORK_DIR}/items.txt -s ${WORK_DIR}/items ${base} ${OUTPUT})
    file(REMOVE_RECURSE ${WORK_DIR}) # 31 MB of scratch
    return()
endif()

option(CPPMILTER_ICU_FULL_DATA
    "Embed all of ICU's data (31 MB, every charset ICU has) instead of the converters to_utf8() promises (1.2 MB)" OFF)

# The static archives, so that a milter linked with -static carries its converters. ICU::uc
# only: charset conversion is in the common library; i18n is not needed. libicudata.a is
# read at build time, never linked: its data is embedded below.
set(cppmilter_saved_suffixes ${CMAKE_FIND_LIBRARY_SUFFIXES})
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
find_package(ICU 60 REQUIRED COMPONENTS uc)
set(CMAKE_FIND_LIBRARY_SUFFIXES ${cppmilter_saved_suffixes})

if(APPLE OR WIN32)
    message(FATAL_ERROR "The embedded ICU data is assembled for ELF (Linux, the BSDs) only")
endif()
find_program(CPPMILTER_ICUPKG icupkg PATHS /usr/sbin /usr/local/sbin REQUIRED)
find_program(CPPMILTER_MAKECONV makeconv REQUIRED)
find_file(CPPMILTER_CHARMAP_LATIN10 ISO-8859-16.gz PATHS /usr/share/i18n/charmaps REQUIRED NO_DEFAULT_PATH)
# The data archive sits next to libicuuc.a (FindICU with .a suffixes above).
get_filename_component(cppmilter_icu_libdir ${ICU_UC_LIBRARY} DIRECTORY)
find_file(CPPMILTER_ICU_DATA_ARCHIVE libicudata.a PATHS ${cppmilter_icu_libdir} REQUIRED NO_DEFAULT_PATH)

string(REGEX MATCH "^[0-9]+" cppmilter_icu_major ${ICU_VERSION})
if(CMAKE_CXX_BYTE_ORDER STREQUAL "BIG_ENDIAN")
    set(cppmilter_icu_package icudt${cppmilter_icu_major}b)
else()
    set(cppmilter_icu_package icudt${cppmilter_icu_major}l)
endif()
set(cppmilter_icu_dat ${PROJECT_BINARY_DIR}/icu/${cppmilter_icu_package}.dat)
# Rewritten only when the choice changes, so that the package is made again only then.
set(cppmilter_icu_choice ${PROJECT_BINARY_DIR}/icu/choice.txt)
file(CONFIGURE OUTPUT ${cppmilter_icu_choice} CONTENT "full data: ${CPPMILTER_ICU_FULL_DATA}\n")
add_custom_command(OUTPUT ${cppmilter_icu_dat}
    COMMAND ${CMAKE_COMMAND}
        -DICU_DATA_ARCHIVE=${CPPMILTER_ICU_DATA_ARCHIVE} -DICU_PACKAGE=${cppmilter_icu_package}
        -DWORK_DIR=${PROJECT_BINARY_DIR}/icu/work -DOUTPUT=${cppmilter_icu_dat} -DFULL=${CPPMILTER_ICU_FULL_DATA}
        -DAR=${CMAKE_AR} -DOBJCOPY=${CMAKE_OBJCOPY}
        -DICUPKG=${CPPMILTER_ICUPKG} -DMAKECONV=${CPPMILTER_MAKECONV}
        -DCHARMAP_LATIN10=${CPPMILTER_CHARMAP_LATIN10}
        -P ${CMAKE_CURRENT_LIST_FILE}
    DEPENDS ${CMAKE_CURRENT_LIST_FILE} ${cppmilter_icu_choice} ${CPPMILTER_ICU_DATA_ARCHIVE} ${CPPMILTER_CHARMAP_LATIN10}
    COMMENT "Making the ICU data package of the message toolkit"
    VERBATIM)
# ICU's own data symbol, so libicuuc.a finds the package as if it were libicudata.a.
set(cppmilter_icu_data_source ${PROJECT_BINARY_DIR}/icu/icu_data.cpp)
file(CONFIGURE OUTPUT ${cppmilter_icu_data_source} CONTENT [[
// Generated by cmake/mail_charset.cmake: ICU's data package (the converters the message
// toolkit needs, or everything with CPPMILTER_ICU_FULL_DATA) under the symbol libicuuc.a
// looks for.
__asm__(".section .rodata\n"
        ".balign 16\n"
        ".globl icudt@cppmilter_icu_major@_dat\n"
        ".type icudt@cppmilter_icu_major@_dat, @object\n"
        "icudt@cppmilter_icu_major@_dat:\n"
        ".incbin \"@cppmilter_icu_dat@\"\n"
        ".size icudt@cppmilter_icu_major@_dat, . - icudt@cppmilter_icu_major@_dat\n"
        ".previous\n");
]] @ONLY)
set_source_files_properties(${cppmilter_icu_data_source} PROPERTIES OBJECT_DEPENDS ${cppmilter_icu_dat})

# For a second build of src/mail (the instrumented copy in tests/fuzz).
set(cppmilter_mail_charset_sources ${cppmilter_icu_data_source})
set(cppmilter_mail_charset_libraries ICU::uc)
target_sources(cppmilter_mail PRIVATE ${cppmilter_mail_charset_sources})
target_link_libraries(cppmilter_mail PRIVATE ${cppmilter_mail_charset_libraries})
