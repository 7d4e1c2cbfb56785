// A verdict as people and programs read it: text lines, or JSON (the layerseal.v1.Verdict
// message's canonical JSON mapping, built by verifier/verdict_codec.h).
#ifndef LAYERSEAL_CLI_VERDICT_OUTPUT_H_
#define LAYERSEAL_CLI_VERDICT_OUTPUT_H_

#include <string>

#include "verifier/verdict.h"

namespace layerseal::cli {

std::string VerdictJson(const Verdict& v);  // one line, every field present
std::string VerdictText(const Verdict& v);

}  // namespace layerseal::cli

#endif  // LAYERSEAL_CLI_VERDICT_OUTPUT_H_
