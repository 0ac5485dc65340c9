// Small files in a data folder (common/file_io.h): atomic writes that never overwrite unless
// asked, the modes they get, durable appends, and bounded reads.
#include "common/file_io.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

namespace grove {
namespace {

std::string Contents(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(FileIoTest, WriteWithoutReplaceKeepsWhatIsThere) {
  testing::TempDir dir;
  const std::string path = dir.File("key");
  ASSERT_TRUE(WriteFileAtomic(path, "first\n", /*replace=*/false).ok());
  EXPECT_EQ(Mode(path), 0600u);
  Status again = WriteFileAtomic(path, "second\n", /*replace=*/false);
  EXPECT_EQ(again.code(), Code::kAlreadyExists) << again.ToString();
  EXPECT_EQ(Contents(path), "first\n");
  ASSERT_TRUE(WriteFileAtomic(path, "third\n", /*replace=*/true, 0644).ok());
  EXPECT_EQ(Contents(path), "third\n");
  EXPECT_EQ(Mode(path), 0644u);
  // No temporary is left behind.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  EXPECT_EQ(WriteFileAtomic(dir.File("no/such/folder/x"), "x", true).code(), Code::kNotFound);
}

TEST(FileIoTest, EnsureDirMakesAPrivateFolderAndRefusesAFile) {
  testing::TempDir dir;
  const std::string nested = dir.File("a/b");
  ASSERT_TRUE(EnsureDir(nested).ok());
  EXPECT_EQ(Mode(nested), 0700u);
  EXPECT_TRUE(EnsureDir(nested).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.File("file"), "x", true).ok());
  EXPECT_EQ(EnsureDir(dir.File("file")).code(), Code::kIOError);
}

TEST(FileIoTest, AppendsAndBoundedReads) {
  testing::TempDir dir;
  const std::string path = dir.File("lines");
  ASSERT_TRUE(AppendDurably(path, "one\n").ok());
  ASSERT_TRUE(AppendDurably(path, "two\n").ok());
  EXPECT_EQ(Mode(path), 0600u);
  std::string out;
  out.reserve(64);
  ASSERT_TRUE(ReadSmallFile(path, out).ok());
  EXPECT_EQ(out, "one\ntwo\n");
  std::string small;
  small.reserve(16);  // holds at most capacity - 1 bytes
  ASSERT_TRUE(AppendDurably(path, std::string(40, 'x')).ok());
  Status big = ReadSmallFile(path, small);
  EXPECT_EQ(big.code(), Code::kCorruption) << big.ToString();
  std::string none;
  none.reserve(16);
  EXPECT_EQ(ReadSmallFile(dir.File("missing"), none).code(), Code::kNotFound);
}

}  // namespace
}  // namespace grove
