#pragma once
/// Test helper: a prometheus::Registry in the text exposition format (version 0.0.4), what the CLI's
/// GET /metrics serves. Header-only; thread-safe as prometheus-cpp's Collect() is.

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <string>

namespace claimcheck::test {

/// Every metric family of `registry`, serialized as Prometheus text.
inline std::string prometheus_text(prometheus::Registry& registry) {
  std::ostringstream os;
  prometheus::TextSerializer{}.Serialize(os, registry.Collect());
  return os.str();
}

}  // namespace claimcheck::test
