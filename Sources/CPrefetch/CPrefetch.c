// The prefetch hint is a static inline function in include/CPrefetch.h; this file gives the
// target the source file a C target must have.
#include "CPrefetch.h"
