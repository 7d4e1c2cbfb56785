// cli/terminal.h: what the CLI shows people of data from elsewhere (issue 14 item 9).
#include "cli/terminal.h"

#include <string>

#include "gtest/gtest.h"

namespace layerseal::cli {
namespace {

struct Case {
  std::string in;
  std::string want;
};

TEST(TerminalSafeTest, EscapesWhatATerminalActsOnAndKeepsTheRest) {
  const Case cases[] = {
      {"", ""},
      {"registry.example/app:1.0", "registry.example/app:1.0"},
      {"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x94\x91", "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x94\x91"},
      {"a\\b", "a\\\\b"},
      // C0 (tab and newline too) and DEL.
      {std::string("\0", 1), "\\x00"},
      {"\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"},
      {"a\tb\nc\rd", "a\\x09b\\x0ac\\x0dd"},
      {"\x7f", "\\x7f"},
      // C1 as UTF-8, and as raw bytes (not valid UTF-8): both escaped.
      {"\xc2\x80", "\\u0080"},
      {"\xc2\x9b" "31m", "\\u009b31m"},
      {"\xc2\x9f", "\\u009f"},
      {"\xc2\xa0", "\xc2\xa0"},  // U+00A0 is printable
      {"\x9b" "31m", "\\x9b31m"},
      {"\x80\x9f", "\\x80\\x9f"},
      // Bidi overrides, embeddings, isolates and marks.
      {"evil\xe2\x80\xae" "gpj.exe", "evil\\u202egpj.exe"},
      {"\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u202a\\u202b\\u202c\\u202d"},
      {"\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", "\\u2066\\u2067\\u2068\\u2069"},
      {"\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u200e\\u200f\\u061c"},
      {"\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029"},
      {"\xe2\x80\xa9\xe2\x80\xaf", "\\u2029\xe2\x80\xaf"},  // U+202F (narrow nbsp) is kept
      // Not UTF-8: each byte escaped, the rest kept.
      {"\xc0\xaf", "\\xc0\\xaf"},                  // overlong '/'
      {"\xe0\x80\xae", "\\xe0\\x80\\xae"},          // overlong
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},          // a surrogate
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},  // above U+10FFFF
      {"ok\xe2\x80", "ok\\xe2\\x80"},              // truncated at the end
      {"\xe2\x80" "A", "\\xe2\\x80A"},             // truncated in the middle
      {"\xff\xfe", "\\xff\\xfe"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TerminalSafe(c.in), c.want) << "input bytes: " << testing::PrintToString(c.in);
  }
}

TEST(TerminalSafeTest, OutputHasNoRawControlOrBidiBytesForAnyByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string out = TerminalSafe(all);
  for (unsigned char ch : out) {
    EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "byte " << static_cast<int>(ch) << " in " << out;
  }
}

// JSON keeps its value: the characters protobuf's printer leaves raw become \u escapes.
TEST(JsonTerminalSafeTest, EscapesWhatJsonPrintersLeaveRaw) {
  const Case cases[] = {
      {R"({"a":"b"})", R"({"a":"b"})"},
      {"{\"p\":\"x\xe2\x81\xa6y\xd8\x9cz\"}", R"({"p":"x\u2066y\u061cz"})"},
      {"\"\xc2\x9b\xe2\x80\xae\xe2\x80\xa8\"", R"("\u009b\u202e\u2028")"},
      {"\"caf\xc3\xa9 \\u001b\"", "\"caf\xc3\xa9 \\u001b\""},  // escapes stay as they are
  };
  for (const Case& c : cases) {
    EXPECT_EQ(JsonTerminalSafe(c.in), c.want) << "input bytes: " << testing::PrintToString(c.in);
  }
}

}  // namespace
}  // namespace layerseal::cli
