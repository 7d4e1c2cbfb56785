// verifier/notation/envelope.h: implementation (issue 20).
#include "verifier/notation/envelope.h"
