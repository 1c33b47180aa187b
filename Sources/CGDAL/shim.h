#ifndef CGDAL_SHIM_H
#define CGDAL_SHIM_H
// The only C surface HazardZoning sees. Paths come from pkg-config (gdal.pc), never absolute.
#include <gdal.h>
#include <gdal_alg.h>
#include <gdal_utils.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <cpl_http.h>
#endif
