// File sources/sinks: FileSource, AtomicFileSink (commit, abort, no temp left behind), helpers.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_data.h"
#include "claimcheck/core/file_io.h"

#include "temp_dir.h"

namespace cc = claimcheck;
namespace fs = std::filesystem;

using claimcheck::test::slurp;
namespace {

struct TempDir : claimcheck::test::TempDir {
  TempDir() : claimcheck::test::TempDir("cc_file_io_test_") {}
};

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
    EXPECT_EQ(r.error().origin, claimcheck::Origin::Io);
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

// Issue 12 item 2: secrets from a file given by path.
TEST(ReadSecretFile, DropsOneTrailingNewlineAndNeverEchoesContent) {
  TempDir d;
  std::ofstream(d.path / "k") << "Top,Secret\n";
  EXPECT_EQ(*cc::read_secret_file(d.path / "k"), "Top,Secret");
  std::ofstream(d.path / "crlf") << "pw\r\n";
  EXPECT_EQ(*cc::read_secret_file(d.path / "crlf"), "pw");
  std::ofstream(d.path / "two") << "pw\n\n";
  EXPECT_EQ(*cc::read_secret_file(d.path / "two"), "pw\n");
  std::ofstream(d.path / "empty") << "\n";
  auto e = cc::read_secret_file(d.path / "empty");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("is empty"), std::string::npos);
  std::ofstream(d.path / "big") << std::string(64 * 1024, 'S') << "TAIL";
  auto b = cc::read_secret_file(d.path / "big");
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().message.find("larger than 64 KiB"), std::string::npos) << b.error().message;
  EXPECT_EQ(b.error().message.find("SSSS"), std::string::npos);
  auto m = cc::read_secret_file(d.path / "missing");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, cc::ErrorCode::NotFound);
  EXPECT_NE(m.error().message.find((d.path / "missing").string()), std::string::npos);
}

// Issue 12 item 6: inputs are opened without following symlinks and must be regular files.
TEST(FileSource, NoFollowRefusesASymlinkedInput) {
  TempDir d;
  std::ofstream(d.path / "secret.env") << "S3_SECRET_KEY=x";
  fs::create_symlink(d.path / "secret.env", d.path / "payload.bin");
  const cc::FileOpenOptions strict{.no_follow = true, .regular_only = true};
  auto r = cc::FileSource::open(d.path / "payload.bin", strict);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("is a symbolic link"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("payload.bin"), std::string::npos);
  EXPECT_TRUE(cc::FileSource::open(d.path / "payload.bin").has_value());  // default options still follow
  EXPECT_TRUE(cc::FileSource::open(d.path / "secret.env", strict).has_value());
  // A FIFO is refused without blocking on it.
  ASSERT_EQ(::mkfifo((d.path / "fifo").c_str(), 0600), 0);
  auto f = cc::FileSource::open(d.path / "fifo", strict);
  ASSERT_FALSE(f.has_value());
  EXPECT_NE(f.error().message.find("not a regular file"), std::string::npos) << f.error().message;
}

TEST(FileSource, OpenBeneathFollowsNoSymlinkBelowTheBase) {
  TempDir d;
  fs::create_directories(d.path / "in/sub");
  fs::create_directories(d.path / "elsewhere");
  std::ofstream(d.path / "in/sub/a.txt") << "inside";
  std::ofstream(d.path / "elsewhere/a.txt") << "OUTSIDE";
  auto ok = cc::FileSource::open_beneath(d.path / "in", "sub/a.txt");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(*cc::read_all(*ok), "inside");
  EXPECT_EQ(ok->size(), 6u);
  // The directory is swapped for a symlink after the listing: refused, the outside file is not read.
  fs::rename(d.path / "in/sub", d.path / "in/sub.old");
  fs::create_directory_symlink(d.path / "elsewhere", d.path / "in/sub");
  auto r = cc::FileSource::open_beneath(d.path / "in", "sub/a.txt");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("symbolic link"), std::string::npos) << r.error().message;
  // The leaf swapped for a symlink: refused too.
  fs::create_symlink(d.path / "elsewhere/a.txt", d.path / "in/sub.old/b.txt");
  auto l = cc::FileSource::open_beneath(d.path / "in", "sub.old/b.txt");
  ASSERT_FALSE(l.has_value());
  EXPECT_NE(l.error().message.find("is a symbolic link"), std::string::npos) << l.error().message;
}
