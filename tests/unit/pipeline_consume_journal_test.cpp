// ConsumeJournal (the consumer's idempotent-receiver journal) on a real SQLite file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "claimcheck/consume/journal.h"
#include "claimcheck/core/time.h"

namespace fs = std::filesystem;
using claimcheck::ConsumeJournal;

namespace {

fs::path temp_dir() {
  std::random_device rd;
  auto d = fs::temp_directory_path() / ("cc-journal-" + std::to_string(rd()));
  fs::remove_all(d);
  return d;
}

}  // namespace

TEST(ConsumeJournal, RecordsFindsPrunesAndSurvivesReopen) {
  const fs::path dir = temp_dir();
  const fs::path file = dir / "state" / "journal-a.db";
  const auto now = claimcheck::utc_now();
  {
    auto j = ConsumeJournal::open(file);
    ASSERT_TRUE(j.has_value()) << j.error().to_string();
    EXPECT_EQ(fs::status(file.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);
    auto none = (*j)->find("p1");
    ASSERT_TRUE(none.has_value());
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE((*j)->record("p1", R"({"schema":"s3-ack-v1","n":1})", now + std::chrono::hours(1)).has_value());
    ASSERT_TRUE((*j)->record("p1", R"({"schema":"s3-ack-v1","n":2})", now + std::chrono::hours(2)).has_value())
        << "recording twice is not an error";
    ASSERT_TRUE((*j)->record("inline-1", "", now - std::chrono::seconds(1)).has_value());
    ASSERT_TRUE((*j)->record("old", "{}", now - std::chrono::hours(1)).has_value());
  }
  auto j = ConsumeJournal::open(file);  // a restarted consumer sees what was recorded
  ASSERT_TRUE(j.has_value()) << j.error().to_string();
  auto p1 = (*j)->find("p1");
  ASSERT_TRUE(p1.has_value() && p1->has_value());
  EXPECT_EQ(**p1, R"({"schema":"s3-ack-v1","n":1})") << "the first record is kept";
  auto inl = (*j)->find("inline-1");
  ASSERT_TRUE(inl.has_value() && inl->has_value());
  EXPECT_EQ(**inl, "");
  auto pruned = (*j)->prune(now);
  ASSERT_TRUE(pruned.has_value());
  EXPECT_EQ(*pruned, 2u);
  EXPECT_FALSE((*j)->find("old")->has_value());
  EXPECT_TRUE((*j)->find("p1")->has_value());
  j->reset();
  fs::remove_all(dir);
}

TEST(ConsumeJournal, UnopenablePathNamesIt) {
  const fs::path dir = temp_dir();
  fs::create_directories(dir);
  const fs::path not_a_db = dir / "journal.db";
  { std::ofstream(not_a_db) << "this is not a SQLite database, just some text that is long enough to look odd"; }
  auto j = ConsumeJournal::open(not_a_db);
  ASSERT_FALSE(j.has_value());
  EXPECT_NE(j.error().message.find(not_a_db.string()), std::string::npos) << j.error().message;
  EXPECT_EQ(j.error().origin, claimcheck::Origin::Journal);
  fs::remove_all(dir);
}
