#define BOOST_TEST_MODULE cppmilter DSL
#include <boost/test/unit_test.hpp>
