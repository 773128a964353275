#include <cstdio>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

// ---------------------------------------------------------------- object key

std::string make_object_key(std::string_view prefix, Timestamp tp, std::string_view id, Encoding encoding,
                            std::string_view base_ext) {
  using namespace std::chrono;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  const year_month_day ymd{floor<days>(tp)};
  char date[16];
  std::snprintf(date, sizeof date, "%04d/%02u/%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  std::string key;
  if (!prefix.empty()) {
    key += prefix;
    key += '/';
  }
  key += date;
  key += '/';
  key += id;
  key += base_ext;
  key += file_extension(encoding);
  return key;
}

}  // namespace claimcheck
