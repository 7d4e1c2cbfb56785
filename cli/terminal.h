// What the CLI prints for people comes partly from elsewhere: event fields a node reported,
// a registry's manifests and error messages, a runtime's answers. A terminal acts on some
// characters instead of showing them (C0/C1 controls start escape sequences; bidi
// overrides and isolates reorder what follows), so a compromised node or registry could
// rewrite what an operator sees. TerminalSafe shows every such character as a visible escape.
// JSON output is for machines; JsonTerminalSafe covers what its printers leave raw.
#ifndef LAYERSEAL_CLI_TERMINAL_H_
#define LAYERSEAL_CLI_TERMINAL_H_

#include <string>
#include <string_view>

namespace layerseal::cli {

// `text` with these replaced by visible escapes, everything else (printable ASCII, valid
// UTF-8 of other code points) as it is:
//   - backslash                                        -> \\ (so an escape is never ambiguous)
//   - C0 controls U+0000..U+001F (tab and newline too), DEL -> \xNN
//   - C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F)   -> \u0080..\u009f
//   - bidi embeddings/overrides U+202A..U+202E, isolates U+2066..U+2069, marks U+200E,
//     U+200F, U+061C, and line/paragraph separators U+2028, U+2029 -> \uNNNN
//   - each byte that is not part of valid UTF-8 (a raw 0x9b CSI byte, an overlong form,
//     a surrogate, a truncated sequence)              -> \xNN
// Pure function; thread-safe. The result is at most 4 times the input's size.
std::string TerminalSafe(std::string_view text);

// `json` (a JSON text, e.g. one line of --output json) with every non-ASCII code point that
// TerminalSafe escapes (C1, the bidi and mark characters, U+2028/U+2029) written as the
// equivalent JSON escape \uNNNN, so that JSON printed to a terminal cannot reorder or
// control it either. The JSON value is unchanged (such characters only occur inside
// strings); protobuf's printer escapes C0, C1, DEL and U+202A..U+202E but leaves the
// isolates U+2066..U+2069 and U+061C raw. Other bytes are kept as they are.
// Pure function; thread-safe.
std::string JsonTerminalSafe(std::string_view json);

}  // namespace layerseal::cli

#endif  // LAYERSEAL_CLI_TERMINAL_H_
