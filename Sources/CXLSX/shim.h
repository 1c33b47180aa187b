#ifndef CXLSX_SHIM_H
#define CXLSX_SHIM_H
// The C surface of the run's workbook (tables.xlsx, Sources/Zoning/Products/Workbook.swift):
// libxlsxwriter (Debian libxlsxwriter-dev); include paths from pkg-config (xlsxwriter.pc).
#include <xlsxwriter.h>
#endif
