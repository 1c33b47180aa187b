#ifndef CCAIRO_SHIM_H
#define CCAIRO_SHIM_H
// The C surface of Sources/Cartography: Cairo (PDF and image surfaces) and Pango through pangocairo
// (text with font fallback and shaping; Cairo's own "toy" text API cannot draw Chinese reliably).
// Include paths come from pkg-config (pangocairo.pc pulls in cairo, pango, glib), never absolute.
#include <cairo.h>
#include <cairo-pdf.h>
#include <pango/pangocairo.h>
#endif
