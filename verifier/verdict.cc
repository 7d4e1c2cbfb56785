#include "verifier/verdict.h"

namespace layerseal {

std::string_view DecisionName(Decision d) { return d == Decision::kAllow ? "ALLOW" : "DENY"; }

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kVerified: return "VERIFIED";
    case Reason::kInsecureAcceptAnything: return "INSECURE_ACCEPT_ANYTHING";
    case Reason::kRejectedByPolicy: return "REJECTED_BY_POLICY";
    case Reason::kInvalidManifest: return "INVALID_MANIFEST";
    case Reason::kNotSigned: return "NOT_SIGNED";
    case Reason::kMalformedSeal: return "MALFORMED_SEAL";
    case Reason::kUntrustedKey: return "UNTRUSTED_KEY";
    case Reason::kBadSignature: return "BAD_SIGNATURE";
    case Reason::kIntegrityMismatch: return "INTEGRITY_MISMATCH";
    case Reason::kConfigMismatch: return "CONFIG_MISMATCH";
    case Reason::kRegistryError: return "REGISTRY_ERROR";
    case Reason::kLimitExceeded: return "LIMIT_EXCEEDED";
    case Reason::kPolicyUnavailable: return "POLICY_UNAVAILABLE";
  }
  return "UNKNOWN";
}

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kEnforce: return "enforce";
    case Mode::kWarn: return "warn";
    case Mode::kAudit: return "audit";
  }
  return "unknown";
}

}  // namespace layerseal
