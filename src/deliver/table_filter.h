#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "eddy/change.h"

namespace eddy::deliver {

// Whether `table` is one of `tables` ("songs" names public.songs, "media.songs" is qualified);
// an empty list wants every table.
inline bool TableWanted(const std::vector<std::string>& tables, const Table& table) {
  if (tables.empty()) return true;
  const std::string qualified = table.QualifiedName();
  return std::any_of(tables.begin(), tables.end(), [&](const std::string& t) {
    return t == qualified ||
           (t.find('.') == std::string::npos && table.schema == "public" && t == table.name);
  });
}

}  // namespace eddy::deliver
