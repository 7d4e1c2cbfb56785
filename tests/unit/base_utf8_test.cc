// base/utf8.h: validity per RFC 3629, replacement of bad bytes, cutting at a boundary.
#include "base/utf8.h"

#include "gtest/gtest.h"

namespace layerseal {
namespace {

TEST(Utf8Test, WellFormedSequencesAndTheirLengths) {
  EXPECT_EQ(Utf8SequenceLength("a"), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xC3\xA9"), 2u);          // é
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82\xAC"), 3u);      // €
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x98\x80"), 4u);  // 😀
  EXPECT_EQ(Utf8SequenceLength(""), 0u);
  EXPECT_EQ(Utf8SequenceLength("\x80"), 0u);              // a stray continuation byte
  EXPECT_EQ(Utf8SequenceLength("\xC0\xAF"), 0u);          // overlong '/'
  EXPECT_EQ(Utf8SequenceLength("\xE0\x80\xAF"), 0u);      // overlong
  EXPECT_EQ(Utf8SequenceLength("\xED\xA0\x80"), 0u);      // a surrogate
  EXPECT_EQ(Utf8SequenceLength("\xF4\x90\x80\x80"), 0u);  // beyond U+10FFFF
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82"), 0u);          // cut short
  EXPECT_EQ(Utf8SequenceLength("\xFF"), 0u);
}

TEST(Utf8Test, ValidUtf8ReplacesBadBytesAndOptionallyControls) {
  EXPECT_EQ(ValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(ValidUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(ValidUtf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ValidUtf8("a\nb\tc"), "a\nb\tc");
  EXPECT_EQ(ValidUtf8("a\nb\tc\x1B\x7F", /*one_line=*/true), "a b c  ");
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3), true), "a b");
}

TEST(Utf8Test, TruncateCutsAtACharacterBoundaryWithAnEllipsis) {
  EXPECT_EQ(TruncateUtf8("short", 10), "short");
  EXPECT_EQ(TruncateUtf8("exactly10!", 10), "exactly10!");
  EXPECT_EQ(TruncateUtf8("0123456789ab", 10), "0123456\xE2\x80\xA6");
  // "€€€€" is 12 bytes; 8 allowed: 5 for text, which holds one whole € only.
  EXPECT_EQ(TruncateUtf8("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", 8),
            "\xE2\x82\xAC\xE2\x80\xA6");
  EXPECT_EQ(TruncateUtf8("abcdef", 4, ""), "abcd");
  EXPECT_EQ(TruncateUtf8("abcdef", 2), "ab");  // no room for the ellipsis: dropped
  EXPECT_EQ(TruncateUtf8("abcdef", 0), "");
  for (size_t max = 0; max < 20; ++max) {
    std::string t = TruncateUtf8("\xF0\x9F\x98\x80\xC3\xA9\xE2\x82\xAC" "abc\xF0\x9F\x98\x80", max);
    EXPECT_LE(t.size(), max);
    EXPECT_EQ(t, ValidUtf8(t)) << max;
  }
}

}  // namespace
}  // namespace layerseal
