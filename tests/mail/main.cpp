#define BOOST_TEST_MODULE cppmilter message toolkit
#include <boost/test/unit_test.hpp>
