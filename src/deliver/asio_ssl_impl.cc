// The out-of-line parts of Asio's OpenSSL layer (BOOST_ASIO_SEPARATE_COMPILATION is set on
// eddy_http, whose boost_impl.cc compiles the rest). Compiled once here because https webhooks
// (http_post.cc) are the program's only TLS client; move it to eddy_http if another module needs
// Asio's ssl too.
#include <boost/asio/ssl/impl/src.hpp>
