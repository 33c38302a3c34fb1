// The sans-I/O milter protocol core: constants, commands, replies, codec, session.
#pragma once

#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/encoder.hpp>
#include <cppmilter/proto/error.hpp>
#include <cppmilter/proto/replies.hpp>
#include <cppmilter/proto/session.hpp>
#include <cppmilter/proto/strings.hpp>
