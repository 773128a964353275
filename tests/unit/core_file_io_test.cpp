// File sources/sinks: FileSource, AtomicFileSink (commit, abort, no temp left behind), helpers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "claimcheck/file_io.h"

namespace cc = claimcheck;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("cc_file_io_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::size_t entries(const fs::path& dir) const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(FileSource, ReadsFileAndReportsSize) {
  TempDir d;
  const std::string content(300000, 'z');
  std::ofstream(d.path / "f", std::ios::binary) << content;
  auto src = cc::FileSource::open(d.path / "f");
  ASSERT_TRUE(src.has_value());
  EXPECT_EQ(src->size(), content.size());
  auto all = cc::read_all(*src);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, content);
  EXPECT_EQ(src->bytes_read(), content.size());
}

TEST(FileSource, Errors) {
  TempDir d;
  auto missing = cc::FileSource::open(d.path / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, cc::ErrorCode::NotFound);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  auto dir = cc::FileSource::open(d.path);
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().code, cc::ErrorCode::InvalidArgument);
}

TEST(AtomicFileSink, CommitsCreatingParents) {
  TempDir d;
  const fs::path target = d.path / "a" / "b" / "out.bin";
  auto sink = cc::AtomicFileSink::open(target);
  ASSERT_TRUE(sink.has_value()) << sink.error().to_string();
  const fs::path temp = sink->temp_path();
  EXPECT_EQ(temp.parent_path(), target.parent_path());
  ASSERT_TRUE(sink->write(cc::as_bytes("hello ")).has_value());
  ASSERT_TRUE(sink->write(cc::as_bytes("world")).has_value());
  EXPECT_FALSE(fs::exists(target)) << "target must not appear before finish()";
  EXPECT_TRUE(fs::exists(temp));
  ASSERT_TRUE(sink->finish().has_value());
  EXPECT_TRUE(sink->committed());
  EXPECT_EQ(slurp(target), "hello world");
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(d.entries(target.parent_path()), 1u);
  EXPECT_EQ(fs::status(target).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

TEST(AtomicFileSink, NoTempFileLeftWhenNotFinished) {
  TempDir d;
  const fs::path target = d.path / "out.bin";
  std::ofstream(target) << "old";
  {
    auto sink = cc::AtomicFileSink::open(target);
    ASSERT_TRUE(sink.has_value());
    ASSERT_TRUE(sink->write(cc::as_bytes("partial")).has_value());
    EXPECT_EQ(d.entries(d.path), 2u);
    // destroyed without finish(): simulated failure
  }
  EXPECT_EQ(d.entries(d.path), 1u);
  EXPECT_EQ(slurp(target), "old");
  {
    auto sink = cc::AtomicFileSink::open(target);
    ASSERT_TRUE(sink.has_value());
    sink->abort();
    EXPECT_EQ(d.entries(d.path), 1u);
    EXPECT_FALSE(sink->write(cc::as_bytes("x")).has_value());
  }
  EXPECT_EQ(slurp(target), "old");
}

TEST(AtomicFileSink, NoTempFileLeftWhenDecodeFailsMidway) {
  // A moved sink must keep ownership of the temp file exactly once.
  TempDir d;
  auto sink = cc::AtomicFileSink::open(d.path / "x");
  ASSERT_TRUE(sink.has_value());
  cc::AtomicFileSink moved = std::move(*sink);
  ASSERT_TRUE(moved.write(cc::as_bytes("abc")).has_value());
  moved.abort();
  EXPECT_EQ(d.entries(d.path), 0u);
}

TEST(AtomicFileSink, OverwriteAndNoClobber) {
  TempDir d;
  const fs::path target = d.path / "t";
  ASSERT_TRUE(cc::write_file_atomic(target, "one").has_value());
  ASSERT_TRUE(cc::write_file_atomic(target, "two").has_value());
  EXPECT_EQ(slurp(target), "two");
  cc::AtomicFileOptions opt;
  opt.overwrite = false;
  auto r = cc::write_file_atomic(target, "three", opt);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::FailedPrecondition);
  EXPECT_EQ(slurp(target), "two");
  EXPECT_EQ(d.entries(d.path), 1u) << "no temp file left after a refused commit";
  ASSERT_TRUE(cc::write_file_atomic(d.path / "fresh", "four", opt).has_value());
  EXPECT_EQ(slurp(d.path / "fresh"), "four");
}

TEST(AtomicFileSink, UnwritableDirectoryFails) {
  if (::geteuid() == 0) {
    // root ignores directory permissions; use a path under a regular file instead.
    TempDir d;
    std::ofstream(d.path / "file") << "x";
    auto r = cc::AtomicFileSink::open(d.path / "file" / "sub" / "t");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().origin, "io");
    return;
  }
  TempDir d;
  fs::create_directories(d.path / "ro");
  fs::permissions(d.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  auto r = cc::AtomicFileSink::open(d.path / "ro" / "t");
  fs::permissions(d.path / "ro", fs::perms::owner_all);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::PermissionDenied);
}

TEST(Sinks, CountingHashingStringDiscard) {
  cc::StringSink inner;
  cc::CountingSink counting(inner);
  cc::HashingSink hashing(&counting);
  ASSERT_TRUE(hashing.write(cc::as_bytes("ab")).has_value());
  ASSERT_TRUE(hashing.write(cc::as_bytes("c")).has_value());
  ASSERT_TRUE(hashing.finish().has_value());
  EXPECT_EQ(hashing.sha256_hex(), cc::sha256_hex("abc"));
  EXPECT_EQ(counting.bytes(), 3u);
  EXPECT_EQ(inner.str(), "abc");
  EXPECT_TRUE(inner.finished());

  cc::StringSink capped(4);
  EXPECT_TRUE(capped.write(cc::as_bytes("abcd")).has_value());
  auto over = capped.write(cc::as_bytes("e"));
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, cc::ErrorCode::InvalidArgument);

  cc::DiscardSink discard;
  cc::MemorySource src(std::string(1000000, 'q'));
  auto n = cc::copy_stream(src, discard, 4096);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1000000u);
  EXPECT_EQ(discard.bytes(), 1000000u);
}

TEST(Sources, HashingSourceAndReadAllLimit) {
  cc::MemorySource mem("hello world");
  cc::HashingSource h(mem);
  auto all = cc::read_all(h);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, "hello world");
  EXPECT_EQ(h.sha256_hex(), cc::sha256_hex("hello world"));
  EXPECT_EQ(h.bytes(), 11u);
  mem.rewind();
  EXPECT_FALSE(cc::read_all(mem, 5).has_value());
  cc::ViewSource v("xyz");
  EXPECT_EQ(*cc::read_all(v), "xyz");
}
