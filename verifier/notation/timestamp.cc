// verifier/notation/timestamp.h: implementation (issue 20).
#include "verifier/notation/timestamp.h"
