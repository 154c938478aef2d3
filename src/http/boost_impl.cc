// The out-of-line parts of Asio and Beast, compiled once for the whole program
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION are set on eddy_http).

#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
