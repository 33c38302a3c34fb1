#define BOOST_TEST_MODULE cppmilter protocol core
#include <boost/test/unit_test.hpp>
