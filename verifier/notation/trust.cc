// verifier/notation/trust.h: implementation (issue 20).
#include "verifier/notation/trust.h"
