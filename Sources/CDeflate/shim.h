#ifndef CDEFLATE_SHIM_H
#define CDEFLATE_SHIM_H
// libdeflate (Debian libdeflate-dev): whole-buffer DEFLATE/zlib compression for the COG writer.
#include <libdeflate.h>
#endif
