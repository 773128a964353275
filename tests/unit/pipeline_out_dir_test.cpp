// OutDir: staged, symlink-proof payload writes (issue 12 item 6, issue 8 item 4) and the POSIX error
// mapping of local file-system errors (issue 8 item 6).
#include <gtest/gtest.h>

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_data.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/consume/out_dir.h"
#include "detail/posix_error.h"

#include "temp_dir.h"

namespace cc = claimcheck;
namespace fs = std::filesystem;

using claimcheck::test::slurp;
namespace {

struct TempDir : claimcheck::test::TempDir {
  TempDir() : claimcheck::test::TempDir("cc_out_dir_test_") {}
};

/// Every file under `dir` whose name contains ".tmp".
std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) out.push_back(e.path().string());
  return out;
}

const fs::path kStaging{std::string(cc::kStagingDirName)};

}  // namespace

TEST(OutDir, StagesThenRenamesWithTheConfiguredMode) {
  TempDir d;
  const fs::path out = d.path / "out";
  auto dir = cc::OutDir::open(out, {});
  ASSERT_TRUE(dir.has_value()) << dir.error().to_string();
  EXPECT_TRUE(fs::is_directory(out / kStaging));
  auto sink = (*dir)->create("reports/2024/a.csv");
  ASSERT_TRUE(sink.has_value()) << sink.error().to_string();
  ASSERT_TRUE((*sink)->write(cc::as_bytes("hello")).has_value());
  // Before finish: the bytes live in the staging dir only; no final name, not even its directories.
  EXPECT_FALSE(fs::exists(out / "reports"));
  EXPECT_EQ(temp_files(out / kStaging).size(), 1u);
  ASSERT_TRUE((*sink)->finish().has_value());
  EXPECT_EQ(slurp(out / "reports/2024/a.csv"), "hello");
  EXPECT_EQ(fs::status(out / "reports/2024/a.csv").permissions(), fs::perms(0640));
  EXPECT_TRUE(temp_files(out).empty());
  // An explicit mode, and an overwrite of the same name.
  dir->reset();
  auto dir2 = cc::OutDir::open(out, cc::OutDirOptions{.file_mode = 0600});
  ASSERT_TRUE(dir2.has_value());
  auto s2 = (*dir2)->create("reports/2024/a.csv");
  ASSERT_TRUE(s2.has_value());
  ASSERT_TRUE((*s2)->write(cc::as_bytes("v2")).has_value());
  ASSERT_TRUE((*s2)->finish().has_value());
  EXPECT_EQ(slurp(out / "reports/2024/a.csv"), "v2");
  EXPECT_EQ(fs::status(out / "reports/2024/a.csv").permissions(), fs::perms(0600));
  // Once the last OutDir is gone, the empty staging dir goes too: the tree holds only payloads.
  dir2->reset();
  EXPECT_FALSE(fs::exists(out / kStaging));
}

TEST(OutDir, UnfinishedSinkLeavesNoTrace) {
  TempDir d;
  auto dir = cc::OutDir::open(d.path, {});
  ASSERT_TRUE(dir.has_value());
  {
    auto sink = (*dir)->create("x/y.bin");
    ASSERT_TRUE(sink.has_value());
    ASSERT_TRUE((*sink)->write(cc::as_bytes("partial")).has_value());
  }
  EXPECT_TRUE(temp_files(d.path).empty());
  EXPECT_FALSE(fs::exists(d.path / "x"));
}

TEST(OutDir, StaleTempFilesAreRemovedAtOpenButALiveWritersAreKept) {
  TempDir d;
  fs::create_directories(d.path / kStaging);
  std::ofstream(d.path / kStaging / ".big200.bin.tmp.dead") << std::string(1000, 'x');
  std::ofstream(d.path / kStaging / ".other.tmp.dead") << "y";
  // A live writer (another consumer sharing the dir) holds its temp file locked.
  auto first = cc::OutDir::open(d.path, {});
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ((*first)->stale_removed(), 2u);
  EXPECT_TRUE(temp_files(d.path).empty());
  auto live = (*first)->create("live.bin");
  ASSERT_TRUE(live.has_value());
  auto second = cc::OutDir::open(d.path, {});
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ((*second)->stale_removed(), 0u);
  ASSERT_EQ(temp_files(d.path).size(), 1u);
  ASSERT_TRUE((*live)->write(cc::as_bytes("ok")).has_value());
  ASSERT_TRUE((*live)->finish().has_value());
  EXPECT_EQ(slurp(d.path / "live.bin"), "ok");
  EXPECT_TRUE(temp_files(d.path).empty());
}

TEST(OutDir, SymlinkPlantedAsIntermediateDirectoryIsRefusedAndNothingIsWrittenOutside) {
  TempDir d;
  const fs::path out = d.path / "out", victim = d.path / "victim";
  fs::create_directories(victim);
  auto dir = cc::OutDir::open(out, {});
  ASSERT_TRUE(dir.has_value());
  // Planted before the payload arrives: refused at create(), before any byte is downloaded.
  fs::create_directory_symlink(victim, out / "evil");
  auto pre = (*dir)->create("evil/x.txt");
  ASSERT_FALSE(pre.has_value());
  EXPECT_EQ(pre.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_NE(pre.error().message.find("symbolic link"), std::string::npos) << pre.error().message;
  // Swapped in after the check (between create() and finish()): refused at commit; nothing outside.
  fs::create_directories(out / "sub");
  auto sink = (*dir)->create("sub/deeper/x.txt");
  ASSERT_TRUE(sink.has_value()) << sink.error().to_string();
  ASSERT_TRUE((*sink)->write(cc::as_bytes("payload")).has_value());
  fs::remove(out / "sub");
  fs::create_directory_symlink(victim, out / "sub");
  auto fin = (*sink)->finish();
  ASSERT_FALSE(fin.has_value());
  EXPECT_EQ(fin.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_NE(fin.error().message.find("sub"), std::string::npos) << fin.error().message;
  sink->reset();
  EXPECT_TRUE(fs::is_empty(victim)) << "a write escaped the output directory";
  EXPECT_TRUE(temp_files(out).empty());
  // A name inside the staging dir is refused.
  auto st = (*dir)->create(std::string(cc::kStagingDirName) + "/x");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, cc::ErrorCode::InvalidArgument);
}

TEST(OutDir, ImmutableTargetDirectoryIsALocalPermissionErrorNamingThePath) {
  TempDir d;
  auto dir = cc::OutDir::open(d.path, {});
  ASSERT_TRUE(dir.has_value());
  fs::create_directories(d.path / "ro");
  if (std::system(("chattr +i '" + (d.path / "ro").string() + "' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "chattr +i not available on " << d.path;
  auto sink = (*dir)->create("ro/x.bin");
  ASSERT_TRUE(sink.has_value());
  ASSERT_TRUE((*sink)->write(cc::as_bytes("x")).has_value());
  auto fin = (*sink)->finish();
  (void)std::system(("chattr -i '" + (d.path / "ro").string() + "'").c_str());
  ASSERT_FALSE(fin.has_value());
  EXPECT_EQ(fin.error().code, cc::ErrorCode::PermissionDenied);
  EXPECT_EQ(fin.error().origin, claimcheck::Origin::Io);
  EXPECT_NE(fin.error().message.find((d.path / "ro/x.bin").string()), std::string::npos) << fin.error().message;
  EXPECT_EQ(fin.error().detail_code, "errno=" + std::to_string(EPERM));
}

TEST(PosixErrorMapping, LocalFileSystemErrnos) {
  using cc::detail::fail_errno;
  struct Case {
    int err;
    cc::ErrorCode code;
  };
  for (const Case c : {Case{EACCES, cc::ErrorCode::PermissionDenied}, Case{EPERM, cc::ErrorCode::PermissionDenied},
                       Case{EROFS, cc::ErrorCode::PermissionDenied}, Case{ENOSPC, cc::ErrorCode::Unavailable},
                       Case{EDQUOT, cc::ErrorCode::Unavailable}, Case{EIO, cc::ErrorCode::Unavailable},
                       Case{ENOENT, cc::ErrorCode::NotFound}, Case{ELOOP, cc::ErrorCode::InvalidArgument}}) {
    const cc::Error e = fail_errno(c.err, "cannot write", "/data/out/a.bin").error;
    EXPECT_EQ(e.code, c.code) << c.err;
    EXPECT_EQ(e.origin, claimcheck::Origin::Io);
    EXPECT_EQ(e.detail_code, "errno=" + std::to_string(c.err));
    EXPECT_NE(e.message.find("'/data/out/a.bin'"), std::string::npos) << e.message;
  }
  EXPECT_EQ(fail_errno(ENOSPC, "cannot write", "/d/f").error.message, "cannot write '/d/f': No space left on device");
  EXPECT_EQ(fail_errno(EROFS, "cannot write", "/d/f").error.message, "cannot write '/d/f': Read-only file system");
}
