// Globs and the protected-path judgement (verifier/layers/path_rules.h): each rule of the
// plan's section 3, and the tricky cases (/bin/* against /bin replaced by a symlink, a
// whited-out /etc/passwd, an opaque /etc, **).
#include "verifier/layers/path_rules.h"

#include <gtest/gtest.h>

#include "base/str_cat.h"

namespace layerseal::layers {
namespace {

Glob G(std::string_view pattern) {
  absl::StatusOr<Glob> g = Glob::Parse(pattern);
  EXPECT_TRUE(g.ok()) << pattern << ": " << g.status();
  return g.ok() ? *g : Glob();
}

TEST(GlobTest, Components) {
  EXPECT_TRUE(G("/etc/passwd").Matches("/etc/passwd"));
  EXPECT_FALSE(G("/etc/passwd").Matches("/etc/passwd2"));
  EXPECT_FALSE(G("/etc/passwd").Matches("/etc"));
  EXPECT_TRUE(G("/bin/*").Matches("/bin/sh"));
  EXPECT_TRUE(G("/bin/*").Matches("/bin/.hidden")) << "a leading dot is covered";
  EXPECT_FALSE(G("/bin/*").Matches("/bin")) << "* needs a component";
  EXPECT_FALSE(G("/bin/*").Matches("/bin/x/y")) << "* stays within one component";
  EXPECT_TRUE(G("/bin/s?").Matches("/bin/sh"));
  EXPECT_FALSE(G("/bin/s?").Matches("/bin/s"));
  EXPECT_TRUE(G("/lib/lib*.so.[0-9]").Matches("/lib/libc.so.6"));
  EXPECT_FALSE(G("/lib/lib*.so.[0-9]").Matches("/lib/libc.so.x"));
  EXPECT_TRUE(G("/x/[!a-c]").Matches("/x/d"));
  EXPECT_FALSE(G("/x/[!a-c]").Matches("/x/b"));
  EXPECT_TRUE(G("/x/[]]").Matches("/x/]"));
  EXPECT_TRUE(G("/x/\\*").Matches("/x/*"));
  EXPECT_FALSE(G("/x/\\*").Matches("/x/a"));
  EXPECT_TRUE(G("/").Matches("/"));
  EXPECT_TRUE(G("/etc/").Matches("/etc"));
}

TEST(GlobTest, DoubleStar) {
  Glob g = G("/usr/**/lib*.so");
  EXPECT_TRUE(g.Matches("/usr/libc.so")) << "** may be no component";
  EXPECT_TRUE(g.Matches("/usr/lib/libc.so"));
  EXPECT_TRUE(g.Matches("/usr/lib/x86_64-linux-gnu/deep/libz.so"));
  EXPECT_FALSE(g.Matches("/opt/lib/libc.so"));
  EXPECT_TRUE(G("/**").Matches("/anything/at/all"));
  EXPECT_TRUE(G("/**").Matches("/"));
  EXPECT_TRUE(G("/etc/**").Matches("/etc"));
  EXPECT_TRUE(G("/etc/**/**/x").Matches("/etc/a/b/c/x"));
}

TEST(GlobTest, ManyStarsDoNotBlowUp) {
  std::string pattern;
  for (int i = 0; i < 50; ++i) pattern += "/**/a*a*a*a*a*a*a*a";  // 950 bytes
  Glob g = G(pattern);
  std::string path;
  for (int i = 0; i < 400; ++i) path += "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
  EXPECT_FALSE(g.Matches(path));  // must return promptly
  EXPECT_TRUE(g.MayMatchBelow(path));
}

TEST(GlobTest, MayMatchBelow) {
  EXPECT_TRUE(G("/bin/*").MayMatchBelow("/bin"));
  EXPECT_TRUE(G("/bin/*").MayMatchBelow("/"));
  EXPECT_FALSE(G("/bin/*").MayMatchBelow("/bin/sh")) << "nothing below /bin/sh matches /bin/*";
  EXPECT_FALSE(G("/bin/*").MayMatchBelow("/usr"));
  EXPECT_TRUE(G("/etc/passwd").MayMatchBelow("/etc"));
  EXPECT_FALSE(G("/etc/passwd").MayMatchBelow("/etc/passwd"));
  EXPECT_TRUE(G("/usr/**/x").MayMatchBelow("/usr/a/b/c"));
  EXPECT_FALSE(G("/usr/**/x").MayMatchBelow("/opt"));
  EXPECT_TRUE(G("/*/sh").MayMatchBelow("/bin"));
}

TEST(GlobTest, BadPatternsAreNamedErrors) {
  for (std::string_view bad : {"bin/*", "", "/a//b", "/a/./b", "/a/../b", "/a/[bc", "/a/b\\"}) {
    absl::StatusOr<Glob> g = Glob::Parse(bad);
    EXPECT_FALSE(g.ok()) << bad;
    if (!bad.empty()) {
      EXPECT_NE(g.status().message().find("glob"), absl::string_view::npos) << g.status();
    }
  }
  EXPECT_FALSE(Glob::Parse("/" + std::string(kMaxGlobBytes, 'a')).ok());
}

TarEntry E(std::string path, TarEntryType type = TarEntryType::kFile, std::string link = "") {
  TarEntry e;
  e.path = std::move(path);
  e.type = type;
  e.linkname = std::move(link);
  return e;
}

std::optional<PathViolation> Judge(const std::vector<std::string>& patterns, std::vector<TarEntry> top) {
  absl::StatusOr<ProtectedPaths> rules = ProtectedPaths::Parse(patterns);
  EXPECT_TRUE(rules.ok()) << rules.status();
  std::vector<LayerEntries> layers = {
      {Digest::Sha256Of("base"), {E("/bin", TarEntryType::kDirectory), E("/bin/sh"), E("/etc/passwd")}},
      {Digest::Sha256Of("top"), std::move(top)},
  };
  return JudgeProtectedPaths(*rules, 1, layers);
}

TEST(ProtectedPathsTest, AddedOrReplacedAnyType) {
  for (TarEntryType type : {TarEntryType::kFile, TarEntryType::kSymlink, TarEntryType::kHardLink,
                            TarEntryType::kCharDevice, TarEntryType::kFifo, TarEntryType::kDirectory}) {
    std::optional<PathViolation> v = Judge({"/bin/*"}, {E("/usr/x"), E("/bin/sh", type, "/usr/x")});
    ASSERT_TRUE(v.has_value()) << TarEntryTypeName(type);
    EXPECT_EQ(v->layer_index, 1u);
    EXPECT_EQ(v->layer_digest, Digest::Sha256Of("top"));
    EXPECT_EQ(v->entry_path, "/bin/sh");
    EXPECT_EQ(v->pattern, "/bin/*");
    EXPECT_EQ(v->rule, "added or replaced");
    EXPECT_NE(v->Detail().find("layer 1 (sha256:"), std::string::npos) << v->Detail();
    EXPECT_NE(v->Detail().find("\"/bin/sh\""), std::string::npos) << v->Detail();
  }
  EXPECT_FALSE(Judge({"/bin/*"}, {E("/usr/bin/sh"), E("/bin", TarEntryType::kDirectory)}).has_value())
      << "a directory entry at /bin only restates the directory";
}

TEST(ProtectedPathsTest, BaseLayersAreNotJudged) {
  // The base (layer 0) adds /bin/sh; only layer 1 is judged.
  EXPECT_FALSE(Judge({"/bin/*", "/etc/passwd"}, {E("/home/user/file")}).has_value());
}

TEST(ProtectedPathsTest, BinReplacedBySymlink) {
  std::optional<PathViolation> v = Judge({"/bin/*"}, {E("/bin", TarEntryType::kSymlink, "/tmp/evil")});
  ASSERT_TRUE(v.has_value()) << "/bin -> /tmp/evil redirects /bin/sh";
  EXPECT_EQ(v->entry_path, "/bin");
  EXPECT_EQ(v->rule, "non-directory over a protected directory");
  v = Judge({"/bin/*"}, {E("/bin")});
  ASSERT_TRUE(v.has_value()) << "a regular file at /bin";
  v = Judge({"/bin/*"}, {E("/", TarEntryType::kSymlink, "/tmp")});
  ASSERT_TRUE(v.has_value()) << "even the root";
  EXPECT_FALSE(Judge({"/bin/*"}, {E("/binx", TarEntryType::kSymlink, "/tmp")}).has_value());
}

TEST(ProtectedPathsTest, WhiteoutOfAProtectedPath) {
  std::optional<PathViolation> v = Judge({"/etc/passwd"}, {E("/etc/.wh.passwd")});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->entry_path, "/etc/.wh.passwd");
  EXPECT_EQ(v->rule, "whiteout");
  v = Judge({"/etc/passwd"}, {E("/.wh.etc")});
  ASSERT_TRUE(v.has_value()) << "deleting /etc deletes /etc/passwd";
  EXPECT_EQ(v->rule, "whiteout");
  v = Judge({"/bin/*"}, {E("/bin/.wh.sh")});
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(Judge({"/etc/passwd"}, {E("/etc/.wh.group"), E("/.wh.tmp")}).has_value());
}

TEST(ProtectedPathsTest, OpaqueDirectory) {
  std::optional<PathViolation> v = Judge({"/etc/passwd"}, {E("/etc/.wh..wh..opq"), E("/etc/hostname")});
  ASSERT_TRUE(v.has_value()) << "an opaque /etc hides the base's /etc/passwd";
  EXPECT_EQ(v->entry_path, "/etc/.wh..wh..opq");
  EXPECT_EQ(v->rule, "opaque directory");
  EXPECT_TRUE(Judge({"/usr/**/libc.so.6"}, {E("/usr/lib/.wh..wh..opq")}).has_value());
  EXPECT_FALSE(Judge({"/etc/passwd"}, {E("/var/.wh..wh..opq")}).has_value());
  EXPECT_TRUE(Judge({"/etc/passwd"}, {E("/.wh..wh..opq")}).has_value()) << "an opaque root";
  EXPECT_FALSE(Judge({"/etc/passwd"}, {E("/etc/.wh..wh.plnk")}).has_value()) << "aufs metadata is ignored";
}

TEST(ProtectedPathsTest, HardLinkToAProtectedPath) {
  std::optional<PathViolation> v = Judge({"/bin/*"}, {E("/tmp/alias", TarEntryType::kHardLink, "/bin/sh")});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->entry_path, "/tmp/alias");
  EXPECT_EQ(v->rule, "hard link to a protected path");
  EXPECT_FALSE(Judge({"/bin/*"}, {E("/tmp/alias", TarEntryType::kSymlink, "/bin/sh")}).has_value())
      << "a symlink to /bin/sh changes nothing there";
}

TEST(ProtectedPathsTest, DoubleStarPatterns) {
  EXPECT_TRUE(Judge({"/usr/**/*.so"}, {E("/usr/lib/x86_64-linux-gnu/libc.so")}).has_value());
  EXPECT_TRUE(Judge({"/usr/**/*.so"}, {E("/usr/lib", TarEntryType::kSymlink, "/opt")}).has_value());
  EXPECT_TRUE(Judge({"/usr/**/*.so"}, {E("/usr/lib/deep/.wh.x")}).has_value())
      << "a whited-out directory below /usr may hold a .so";
  EXPECT_FALSE(Judge({"/usr/**/*.so"}, {E("/opt/libc.so")}).has_value());
}

TEST(ProtectedPathsTest, FirstViolationInLayerThenArchiveOrder) {
  absl::StatusOr<ProtectedPaths> rules = ProtectedPaths::Parse({"/etc/passwd", "/bin/*"});
  ASSERT_TRUE(rules.ok());
  std::vector<LayerEntries> layers = {
      {Digest::Sha256Of("l0"), {E("/bin/sh")}},
      {Digest::Sha256Of("l1"), {E("/ok"), E("/bin/ls"), E("/etc/passwd")}},
      {Digest::Sha256Of("l2"), {E("/etc/.wh.passwd")}},
  };
  std::optional<PathViolation> v = JudgeProtectedPaths(*rules, 1, layers);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->layer_index, 1u);
  EXPECT_EQ(v->entry_path, "/bin/ls");
  EXPECT_EQ(v->pattern, "/bin/*");
  v = JudgeProtectedPaths(*rules, 2, layers);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->layer_index, 2u);
  EXPECT_EQ(v->layer_digest, Digest::Sha256Of("l2"));
  EXPECT_FALSE(JudgeProtectedPaths(*rules, 3, layers).has_value());
}

TEST(ProtectedPathsTest, ParseErrorsAndLimits) {
  EXPECT_FALSE(ProtectedPaths::Parse({"/ok", "relative"}).ok());
  std::vector<std::string> many(kMaxProtectedPatterns + 1, "/x");
  EXPECT_FALSE(ProtectedPaths::Parse(many).ok());
}

}  // namespace
}  // namespace layerseal::layers
