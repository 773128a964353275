// S3 XML request bodies and response parsing (pugixml).
#include <pugixml.hpp>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/s3/s3_error.h"
#include "s3/s3_internal.h"

namespace claimcheck::s3::detail {
namespace {

constexpr const char* kNs = "http://s3.amazonaws.com/doc/2006-03-01/";

std::string to_string(const pugi::xml_document& doc) {
  std::ostringstream os;
  doc.save(os, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
  return os.str();
}

// Lifecycle configurations are read and rewritten keeping every node: whitespace-only text (a rule's
// `<Prefix> </Prefix>` is not the empty, whole-bucket prefix), comments and processing instructions (dropping
// one, or a stray `<?xml ...?>`, joined the text around it: `<ID>a<!--x-->b</ID>` became another rule's id "ab").
constexpr unsigned kVerbatim =
    pugi::parse_default | pugi::parse_ws_pcdata | pugi::parse_comments | pugi::parse_pi | pugi::parse_declaration;

// Parses `xml` into `doc` and returns its root element, which must be named `root`. The root is the
// document element, never doc.child(root): with parse_pi a processing instruction <?LifecycleConfiguration ...?>
// is a node of that name too, and a merge into it was silently lost (found by the lifecycle_merge fuzz target).
Result<pugi::xml_node> load(pugi::xml_document& doc, std::string_view xml, const char* root, const char* what,
                            unsigned options = pugi::parse_default) {
  auto res = doc.load_buffer(xml.data(), xml.size(), options, pugi::encoding_utf8);
  if (!res) return fail(ErrorCode::Internal, Origin::S3, std::string(what) + ": response is not XML: " + res.description());
  pugi::xml_node el = doc.document_element();
  if (std::string_view(el.name()) != root)
    return fail(ErrorCode::Internal, Origin::S3, std::string(what) + ": response root is not <" + root + ">");
  return el;
}

std::uint64_t to_u64(const char* s) {
  std::uint64_t v = 0;
  std::string_view sv(s);
  std::from_chars(sv.data(), sv.data() + sv.size(), v);
  return v;
}

/// True if `s` travels as XML 1.0 element text and reads back the same: valid UTF-8 without ASCII control
/// characters (a NUL cut pugixml's c_str() setters short; others are not XML or parsers normalize them) and
/// without leading or trailing space (whitespace-only text is dropped by the parser).
bool xml_text_ok(std::string_view s) {
  return is_valid_utf8(s) && (s.empty() || (s.front() != ' ' && s.back() != ' ')) &&
         std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// A lifecycle prefix is a key prefix: the key characters [A-Za-z0-9._~/-] (validate_key), or empty.
bool key_prefix_ok(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '~' || c == '/' || c == '-';
  });
}

int to_int(const char* s) {
  int v = 0;
  std::string_view sv(s);
  std::from_chars(sv.data(), sv.data() + sv.size(), v);
  return v;
}

void append_rule(pugi::xml_node parent, const LifecycleRule& r) {
  auto rule = parent.append_child("Rule");
  rule.append_child("ID").text().set(r.id.c_str());
  rule.append_child("Filter").append_child("Prefix").text().set(r.prefix.c_str());
  rule.append_child("Status").text().set(r.enabled ? "Enabled" : "Disabled");
  if (r.expiration_days > 0) rule.append_child("Expiration").append_child("Days").text().set(r.expiration_days);
  if (r.noncurrent_version_expiration_days > 0) {
    rule.append_child("NoncurrentVersionExpiration")
        .append_child("NoncurrentDays")
        .text()
        .set(r.noncurrent_version_expiration_days);
  }
  if (r.abort_incomplete_multipart_days > 0) {
    rule.append_child("AbortIncompleteMultipartUpload")
        .append_child("DaysAfterInitiation")
        .text()
        .set(r.abort_incomplete_multipart_days);
  }
}

}  // namespace

std::string build_delete_xml(std::span<const ObjectVersion> objects) {
  pugi::xml_document doc;
  auto del = doc.append_child("Delete");
  del.append_attribute("xmlns") = kNs;
  del.append_child("Quiet").text().set("true");
  for (const auto& o : objects) {
    auto obj = del.append_child("Object");
    obj.append_child("Key").text().set(o.key.c_str());
    if (!o.version_id.empty()) obj.append_child("VersionId").text().set(o.version_id.c_str());
  }
  return to_string(doc);
}

Result<std::vector<DeleteFailure>> parse_delete_result(std::string_view xml) {
  pugi::xml_document doc;
  CC_TRY(root, load(doc, xml, "DeleteResult", "DeleteObjects"));
  std::vector<DeleteFailure> out;
  for (auto e : root->children("Error")) {
    out.push_back({e.child_value("Key"), e.child_value("Code"), e.child_value("Message")});
  }
  return out;
}

Result<ListPage> parse_list_v2(std::string_view xml) {
  pugi::xml_document doc;
  CC_TRY(el, load(doc, xml, "ListBucketResult", "ListObjectsV2"));
  const pugi::xml_node root = *el;
  ListPage page;
  page.truncated = std::string_view(root.child_value("IsTruncated")) == "true";
  page.next_continuation_token = root.child_value("NextContinuationToken");
  for (auto c : root.children("Contents")) {
    ListedObject o;
    o.key = c.child_value("Key");
    o.size = to_u64(c.child_value("Size"));
    o.etag = unquote_etag(c.child_value("ETag"));
    o.last_modified = parse_iso8601(c.child_value("LastModified"));
    page.objects.push_back(std::move(o));
  }
  if (page.truncated && page.next_continuation_token.empty()) {
    return fail(ErrorCode::Internal, Origin::S3, "ListObjectsV2: truncated page without NextContinuationToken");
  }
  return page;
}

Result<std::vector<MultipartUpload>> parse_list_uploads(std::string_view xml) {
  pugi::xml_document doc;
  CC_TRY(root, load(doc, xml, "ListMultipartUploadsResult", "ListMultipartUploads"));
  std::vector<MultipartUpload> out;
  for (auto u : root->children("Upload")) {
    out.push_back({u.child_value("Key"), u.child_value("UploadId")});
  }
  return out;
}

Result<std::string> parse_initiate(std::string_view xml) {
  pugi::xml_document doc;
  CC_TRY(root, load(doc, xml, "InitiateMultipartUploadResult", "CreateMultipartUpload"));
  std::string id = root->child_value("UploadId");
  if (id.empty()) return fail(ErrorCode::Internal, Origin::S3, "CreateMultipartUpload: response has no UploadId");
  return id;
}

std::string build_complete_xml(std::span<const std::string> etags) {
  pugi::xml_document doc;
  auto root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = kNs;
  int n = 1;
  for (const auto& e : etags) {
    auto part = root.append_child("Part");
    part.append_child("PartNumber").text().set(n++);
    part.append_child("ETag").text().set(("\"" + e + "\"").c_str());
  }
  return to_string(doc);
}

Result<std::string> parse_complete(std::string_view xml, std::string_view request_id) {
  pugi::xml_document doc;
  auto res = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (res && std::string_view(doc.document_element().name()) == "Error") {
    // S3 may answer 200 and report the failure in the body; its status is effectively 500.
    auto e = map_s3_error(200, xml, request_id);
    if (e.code == ErrorCode::Internal && e.detail_code == "HTTP200") e.code = ErrorCode::Unavailable;
    return fail(std::move(e));
  }
  CC_TRY(root, load(doc, xml, "CompleteMultipartUploadResult", "CompleteMultipartUpload"));
  return unquote_etag(root->child_value("ETag"));
}

Result<void> check_lifecycle_rules(std::span<const LifecycleRule> rules) {
  auto bad = [](std::string m) { return fail(ErrorCode::InvalidArgument, Origin::S3, "lifecycle: " + std::move(m)); };
  if (rules.empty()) return bad("at least one rule is required");
  if (rules.size() > 1000) return bad("at most 1000 rules");
  std::set<std::string> ids;
  for (const auto& r : rules) {
    if (r.id.empty() || r.id.size() > 255) return bad("rule id must be 1..255 characters");
    if (!xml_text_ok(r.id)) return bad("rule id must be UTF-8 without control characters or edge spaces");
    if (!key_prefix_ok(r.prefix)) return bad("rule '" + r.id + "': prefix must be key characters [A-Za-z0-9._~/-]");
    if (!ids.insert(r.id).second) return bad("duplicate rule id '" + r.id + "'");
    if (r.expiration_days < 0 || r.abort_incomplete_multipart_days < 0 || r.noncurrent_version_expiration_days < 0) {
      return bad("rule '" + r.id + "': days must be >= 0");
    }
    if (r.expiration_days == 0 && r.abort_incomplete_multipart_days == 0 && r.noncurrent_version_expiration_days == 0) {
      return bad("rule '" + r.id + "': needs expiration, noncurrent version expiration or abort days > 0");
    }
  }
  return ok();
}

std::string build_lifecycle_xml(std::span<const LifecycleRule> rules) {
  pugi::xml_document doc;
  auto root = doc.append_child("LifecycleConfiguration");
  root.append_attribute("xmlns") = kNs;
  for (const auto& r : rules) append_rule(root, r);
  return to_string(doc);
}

Result<std::vector<LifecycleRule>> parse_lifecycle(std::string_view xml) {
  pugi::xml_document doc;
  CC_TRY(root, load(doc, xml, "LifecycleConfiguration", "GetBucketLifecycleConfiguration", kVerbatim));
  std::vector<LifecycleRule> out;
  for (auto r : root->children("Rule")) {
    LifecycleRule rule;
    rule.id = r.child_value("ID");
    if (r.child("Prefix")) {
      rule.prefix = r.child_value("Prefix");
    } else if (auto f = r.child("Filter")) {
      rule.prefix = f.child("Prefix") ? f.child_value("Prefix") : f.child("And").child_value("Prefix");
    }
    rule.enabled = std::string_view(r.child_value("Status")) == "Enabled";
    rule.expiration_days = to_int(r.child("Expiration").child_value("Days"));
    rule.abort_incomplete_multipart_days =
        to_int(r.child("AbortIncompleteMultipartUpload").child_value("DaysAfterInitiation"));
    rule.noncurrent_version_expiration_days = to_int(r.child("NoncurrentVersionExpiration").child_value("NoncurrentDays"));
    out.push_back(std::move(rule));
  }
  return out;
}

Result<std::string> merge_lifecycle_xml(std::string_view existing_xml, const LifecycleRule& rule) {
  CC_TRY_VOID(check_lifecycle_rules(std::span<const LifecycleRule>(&rule, 1)));
  pugi::xml_document doc;
  pugi::xml_node root;
  if (existing_xml.empty()) {
    root = doc.append_child("LifecycleConfiguration");
    root.append_attribute("xmlns") = kNs;
  } else {
    CC_TRY(el, load(doc, existing_xml, "LifecycleConfiguration", "GetBucketLifecycleConfiguration", kVerbatim));
    root = *el;
  }
  if (!root.attribute("xmlns")) root.append_attribute("xmlns") = kNs;
  // Remove every rule with the same id (there should be at most one), keep the others verbatim.
  for (auto r = root.child("Rule"); r;) {
    auto next = r.next_sibling("Rule");
    if (rule.id == r.child_value("ID")) root.remove_child(r);
    r = next;
  }
  append_rule(root, rule);
  return to_string(doc);
}

}  // namespace claimcheck::s3::detail
