// cppmilter: compile-time checked milters. Everything a milter's author needs.
#pragma once

#include <cppmilter/dsl/connection.hpp>
#include <cppmilter/dsl/context.hpp>
#include <cppmilter/dsl/hooks.hpp>
#include <cppmilter/dsl/macros.hpp>
#include <cppmilter/dsl/message.hpp>
#include <cppmilter/dsl/milter.hpp>
#include <cppmilter/dsl/modifications.hpp>
#include <cppmilter/dsl/stage.hpp>
#include <cppmilter/dsl/state.hpp>
#include <cppmilter/dsl/verdict.hpp>
#include <cppmilter/proto.hpp>
