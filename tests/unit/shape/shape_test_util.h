#pragma once

#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "eddy/result.h"

#include "shape/offset.h"

namespace eddy::shape {

// Offsets in test failures as "<tx>_<op>" rather than bytes.
inline void PrintTo(const Offset& offset, std::ostream* os) { *os << offset.ToString(); }

}  // namespace eddy::shape

namespace eddy::shape::testing {

// A fresh directory under /tmp, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/eddy_shape_test_XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace eddy::shape::testing

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    ::eddy::Status assert_ok_status_ = (expr);                           \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                           \
  auto EDDY_CONCAT_(assign_tmp_, __LINE__) = (expr);              \
  ASSERT_TRUE(EDDY_CONCAT_(assign_tmp_, __LINE__).ok())           \
      << EDDY_CONCAT_(assign_tmp_, __LINE__).status().ToString(); \
  lhs = std::move(EDDY_CONCAT_(assign_tmp_, __LINE__)).value()
