// The editor milter as a server: ./editor --listen unix:/run/editor.sock (--help for more).
#include "editor.hpp"

#include <cppmilter/asio/server.hpp>

int main(int argc, char** argv) { return cppmilter::run(examples::editor, argc, argv); }
