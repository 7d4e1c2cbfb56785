// verifier/notation/x509.h: implementation (issue 20).
#include "verifier/notation/x509.h"
