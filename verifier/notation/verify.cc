// verifier/notation/verify.h: implementation (issue 20).
#include "verifier/notation/verify.h"
