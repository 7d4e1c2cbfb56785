// verifier/notation/discovery.h: implementation (issue 20).
#include "verifier/notation/discovery.h"
