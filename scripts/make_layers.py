#!/usr/bin/python3
"""Rebuild the HazardZoning demo layers in layers/ from the copies in layers/reference/.

Run through scripts/make-layers (needs Debian's python3-gdal and python3-numpy).

    /usr/bin/python3 scripts/make_layers.py [LAYERS_DIR]

Inputs (read-only, in LAYERS_DIR/reference/): ne_rivers.geojson (Natural Earth "Huang" =
Yellow River centreline), dem_mapzen_5arcmin.tif (coarse DEM), gem_active_faults.geojson,
ne_lakes.geojson, geonames_places.geojson.  See layers/SOURCES.md.

Outputs (in LAYERS_DIR/):
  yellow-river-flood-depth.tif   ILLUSTRATIVE synthetic 100-year flood depth (m), EPSG:4545, 30 m
  grassland-fire-danger.tif      ILLUSTRATIVE synthetic fire danger index 0..100, EPSG:4326, 0.002 deg
  seismic-pga-zoning.gpkg        ILLUSTRATIVE synthetic PGA zones (g) around real faults, EPSG:4490
  hangjin-study-area.gpkg        APPROXIMATE hand-digitised banner outline, EPSG:4326
  yellow-river.gpkg, places.gpkg context extracts of the reference data, EPSG:4326
  hangjin-townships.gpkg         ILLUSTRATIVE approximate township polygons tiling the study area, EPSG:4326
  ice-jam-detention-areas.gpkg   ILLUSTRATIVE ice-jam (凌汛) detention basins on the south bank, EPSG:4545
  population-density.tif         ILLUSTRATIVE synthetic population density (persons/km2), EPSG:4545, 250 m
  emergency-shelters.gpkg        ILLUSTRATIVE made-up shelter sites, EPSG:4326
  gdp-density.tif                ILLUSTRATIVE synthetic GDP density (10^4 CNY/km2), EPSG:4545, 250 m
  building-floor-area.tif        ILLUSTRATIVE synthetic building floor area (m2 per pixel), EPSG:4545, 250 m
  hangjin-standard-grid.tif      ILLUSTRATIVE census standard grid: the townships at 30" (1/120 deg) on
                                 multiples of 1/120 deg, EPSG:4490, UInt32 stand-in codes 150625xxx

Everything is a pure function of the inputs: no clock, no random numbers.  The GeoPackages get
a fixed timestamp (OGR_CURRENT_DATE) so two runs give byte-identical files.
"""
import math
import os
import sys

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

# Fixed timestamp in gpkg_contents.last_change; no .aux.xml side files.
gdal.SetConfigOption("OGR_CURRENT_DATE", "2000-01-01T00:00:00.000Z")
gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")
gdal.SetConfigOption("GDAL_NUM_THREADS", "1")

NODATA = -9999.0
DISCLAIMER = "ILLUSTRATIVE SYNTHETIC DATA - NOT AN OFFICIAL HAZARD MAP"

# Boxes (lon/lat degrees)
STUDY_BOX = (106.5, 38.9, 109.6, 41.3)          # W S E N, same as the shared reference data
REACH_BOX = (106.5, 39.30, 109.25, 41.0)        # part of the Yellow River that borders the banner
FAULT_BOX = (105.0, 37.4, 111.1, 42.8)          # faults used for the seismic zones (box + >80 km)
XINI = (108.735, 39.844)                        # banner seat, Xini town (GeoNames "Xinli")

# --- flood parameters ---------------------------------------------------------------------
FLOOD_PIX = 30.0            # m
FLOOD_MARGIN = 15000.0      # m around the reach bounding box
CHANNEL_HALF_WIDTH = 120.0  # m; pixels this close to the centreline = river channel -> nodata
FLOOD_DMAX = 6000.0         # m; distance-decay length of the flood depth
FLOOD_K = 0.30              # m of depth lost per m of height above the nearby river
FLOOD_COARSE = 16           # coarse grid factor (16 * 30 m = 480 m) for the DEM term

# --- fire parameters ----------------------------------------------------------------------
FIRE_RES = 0.002            # deg
FIRE_COARSE = 5             # coarse grid factor (0.01 deg) for the river-distance term


def srs(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


# Lon/lat is treated as CGCS2000 (EPSG:4490) when projecting to EPSG:4545: WGS 84 and
# CGCS2000 differ by < 1 m here, and 4490 -> 4545 is a pure projection (no datum step, so the
# result does not depend on which PROJ transformation grids are installed).
SRS_LL = srs(4490)
SRS_GK = srs(4545)
LL2GK = osr.CoordinateTransformation(SRS_LL, SRS_GK)
GK2LL = osr.CoordinateTransformation(SRS_GK, SRS_LL)


def transform_xy(ct, xy):
    xy = np.asarray(xy, dtype=np.float64)
    out = np.array(ct.TransformPoints(xy.reshape(-1, 2).tolist()), dtype=np.float64)[:, :2]
    return out.reshape(xy.shape)


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------
class Dem:
    """The coarse reference DEM with bilinear interpolation between cell centres."""

    def __init__(self, path):
        ds = gdal.Open(path)
        band = ds.GetRasterBand(1)
        a = band.ReadAsArray().astype(np.float64)
        nd = band.GetNoDataValue()
        if nd is not None and np.any(a == nd):
            raise SystemExit("DEM has nodata cells inside the study box; not handled")
        self.a = a
        self.gt = ds.GetGeoTransform()

    def at(self, lon, lat):
        gt, a = self.gt, self.a
        ny, nx = a.shape
        fx = np.clip((np.asarray(lon) - gt[0]) / gt[1] - 0.5, 0.0, nx - 1.0)
        fy = np.clip((np.asarray(lat) - gt[3]) / gt[5] - 0.5, 0.0, ny - 1.0)
        x0 = np.minimum(np.floor(fx).astype(np.int64), nx - 2)
        y0 = np.minimum(np.floor(fy).astype(np.int64), ny - 2)
        wx, wy = fx - x0, fy - y0
        top = a[y0, x0] * (1 - wx) + a[y0, x0 + 1] * wx
        bot = a[y0 + 1, x0] * (1 - wx) + a[y0 + 1, x0 + 1] * wx
        return top * (1 - wy) + bot * wy


def read_huang(ref):
    """Natural Earth 'Huang' centreline as an (N, 2) lon/lat array, upstream -> downstream."""
    ds = ogr.Open(os.path.join(ref, "ne_rivers.geojson"))
    lyr = ds.GetLayer(0)
    parts = []
    for f in lyr:
        if f.GetField("name") != "Huang":
            continue
        g = f.GetGeometryRef()
        geoms = [g.GetGeometryRef(i) for i in range(g.GetGeometryCount())] if g.GetGeometryCount() else [g]
        for p in geoms:
            parts.append(np.array(p.GetPoints(), dtype=np.float64)[:, :2])
    if len(parts) != 1:
        raise SystemExit("expected one Huang line part, got %d" % len(parts))
    xy = parts[0]
    if xy[0, 1] > xy[-1, 1]:  # flows from the south (Ningxia) to the east (Baotou)
        xy = xy[::-1]
    return xy


def densify(xy, step):
    """Points every `step` along a polyline (units of xy) and their chainage."""
    seg = np.hypot(*np.diff(xy, axis=0).T)
    ch = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.arange(0.0, ch[-1], step)
    s = np.append(s, ch[-1])
    x = np.interp(s, ch, xy[:, 0])
    y = np.interp(s, ch, xy[:, 1])
    return np.stack([x, y], axis=1), s


class River:
    """The Yellow River in EPSG:4545: samples every 500 m with a smoothed DEM profile."""

    STEP = 500.0

    def __init__(self, ref, dem):
        self.ll = read_huang(ref)
        self.gk = transform_xy(LL2GK, self.ll)
        self.samples, self.chainage = densify(self.gk, self.STEP)
        lonlat = transform_xy(GK2LL, self.samples)
        z = dem.at(lonlat[:, 0], lonlat[:, 1])
        # +-5 km running mean along the channel (edge values repeated)
        w = 10
        zp = np.concatenate([np.full(w, z[0]), z, np.full(w, z[-1])])
        self.z = np.convolve(zp, np.ones(2 * w + 1) / (2 * w + 1), mode="valid")

    def nearest(self, pts, chunk=1024, blend=5000.0):
        """For EPSG:4545 points: distance (m) to the nearest river sample, that sample's
        index, and the local river level (m): the sample levels averaged with weights
        exp(-((d - dmin) / blend)^2), so that the level changes smoothly where two reaches
        are about equally near (e.g. inside a bend)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        sx, sy = self.samples[:, 0], self.samples[:, 1]
        dist = np.empty(len(pts))
        idx = np.empty(len(pts), dtype=np.int64)
        level = np.empty(len(pts))
        for i in range(0, len(pts), chunk):
            p = pts[i:i + chunk]
            d = np.sqrt((p[:, 0:1] - sx[None, :]) ** 2 + (p[:, 1:2] - sy[None, :]) ** 2)
            j = np.argmin(d, axis=1)
            dmin = d[np.arange(len(p)), j]
            wgt = np.exp(-((d - dmin[:, None]) / blend) ** 2)
            idx[i:i + chunk] = j
            dist[i:i + chunk] = dmin
            level[i:i + chunk] = (wgt @ self.z) / wgt.sum(axis=1)
        return dist, idx, level

    def line_gk(self):
        g = ogr.Geometry(ogr.wkbLineString)
        for x, y in self.gk:
            g.AddPoint_2D(float(x), float(y))
        return g


def bilinear_upsample(coarse, cy, cx, fy, fx):
    """Bilinear interpolation of `coarse` (defined at centre coordinates cy, cx; both
    increasing) at the separable fine coordinates fy, fx (1-D arrays)."""
    def weights(c, f):
        t = np.clip((f - c[0]) / (c[1] - c[0]), 0.0, len(c) - 1.0)
        i0 = np.minimum(np.floor(t).astype(np.int64), len(c) - 2)
        return i0, t - i0
    iy, wy = weights(cy, fy)
    ix, wx = weights(cx, fx)
    a00 = coarse[np.ix_(iy, ix)]
    a01 = coarse[np.ix_(iy, ix + 1)]
    a10 = coarse[np.ix_(iy + 1, ix)]
    a11 = coarse[np.ix_(iy + 1, ix + 1)]
    wx = wx[None, :]
    wy = wy[:, None]
    return (a00 * (1 - wx) + a01 * wx) * (1 - wy) + (a10 * (1 - wx) + a11 * wx) * wy


def write_gtiff(path, arr, gt, sr, desc, unit, meta):
    tmp = path + ".tmp"
    for p in (path, tmp):
        if os.path.exists(p):
            os.remove(p)
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(tmp, arr.shape[1], arr.shape[0], 1, gdal.GDT_Float32,
                    ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=DEFLATE",
                     "PREDICTOR=2", "ZLEVEL=9", "BIGTIFF=NO"])
    ds.SetGeoTransform(gt)
    ds.SetProjection(sr.ExportToWkt())
    ds.SetMetadata(meta)
    b = ds.GetRasterBand(1)
    b.SetNoDataValue(NODATA)
    b.SetDescription(desc)
    b.SetUnitType(unit)
    b.WriteArray(arr)
    b.FlushCache()
    ds = None
    os.replace(tmp, path)


def new_gpkg(path):
    for p in (path, path + "-journal", path + "-wal", path + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    return ogr.GetDriverByName("GPKG").CreateDataSource(path)


# ------------------------------------------------------------------------------------------
# a. Yellow River flood depth (EPSG:4545, 30 m)
# ------------------------------------------------------------------------------------------
# The 200-year scenario (illustrative): 0.8 m more depth at the bank, 35 % farther reach.
FLOOD_200_EXTRA_DEPTH = 0.8  # m
FLOOD_200_REACH = 1.35


def make_flood(out, river, dem, years=100):
    extra, dmax = (FLOOD_200_EXTRA_DEPTH, FLOOD_DMAX * FLOOD_200_REACH) if years == 200 else (0.0, FLOOD_DMAX)
    w, s, e, n = REACH_BOX
    ll = river.ll
    inside = (ll[:, 0] >= w) & (ll[:, 0] <= e) & (ll[:, 1] >= s) & (ll[:, 1] <= n)
    reach = river.gk[inside]
    px = FLOOD_PIX
    xmin = math.floor((reach[:, 0].min() - FLOOD_MARGIN) / px) * px
    xmax = math.ceil((reach[:, 0].max() + FLOOD_MARGIN) / px) * px
    ymin = math.floor((reach[:, 1].min() - FLOOD_MARGIN) / px) * px
    ymax = math.ceil((reach[:, 1].max() + FLOOD_MARGIN) / px) * px
    # make the size a multiple of the coarse factor
    c = FLOOD_COARSE
    nx = int(round((xmax - xmin) / px))
    ny = int(round((ymax - ymin) / px))
    nx += (-nx) % c
    ny += (-ny) % c
    xmax = xmin + nx * px
    ymin = ymax - ny * px
    gt = (xmin, px, 0.0, ymax, 0.0, -px)
    print("flood grid: %d x %d px, x %.0f..%.0f, y %.0f..%.0f" % (nx, ny, xmin, xmax, ymin, ymax))

    # distance (pixels) to the rasterised centreline (all of the river, not only the reach)
    mem = gdal.GetDriverByName("MEM")
    src = mem.Create("", nx, ny, 1, gdal.GDT_Byte)
    src.SetGeoTransform(gt)
    src.SetProjection(SRS_GK.ExportToWkt())
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("river", SRS_GK, ogr.wkbLineString)
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetGeometry(river.line_gk())
    lyr.CreateFeature(f)
    gdal.RasterizeLayer(src, [1], lyr, burn_values=[1], options=["ALL_TOUCHED=TRUE"])
    prox = mem.Create("", nx, ny, 1, gdal.GDT_Float32)
    prox.SetGeoTransform(gt)
    prox.SetProjection(SRS_GK.ExportToWkt())
    maxpix = int(dmax / px) + 10
    gdal.ComputeProximity(src.GetRasterBand(1), prox.GetRasterBand(1),
                          ["VALUES=1", "DISTUNITS=PIXEL", "MAXDIST=%d" % maxpix,
                           "NODATA=%d" % (maxpix + 1)])
    dist = prox.GetRasterBand(1).ReadAsArray().astype(np.float32) * np.float32(px)
    src = prox = None

    # coarse (480 m) grid: DEM height above the nearest river sample, and bank depth d0
    cnx, cny = nx // c, ny // c
    cx = xmin + (np.arange(cnx) + 0.5) * px * c                  # increasing
    cy = ymin + (np.arange(cny) + 0.5) * px * c                  # increasing (south -> north)
    gx, gy = np.meshgrid(cx, cy)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    lonlat = transform_xy(GK2LL, pts)
    zc = dem.at(lonlat[:, 0], lonlat[:, 1])
    _, idx, level = river.nearest(pts)
    hand = np.maximum(zc - level, 0.0).reshape(cny, cnx)
    ch_km = river.chainage[idx] / 1000.0
    d0 = (3.5 + extra + 0.35 * np.sin(2 * math.pi * ch_km / 47.0 + 0.7)
          + 0.15 * np.sin(2 * math.pi * ch_km / 13.0 + 2.1)).reshape(cny, cnx)

    # fine grid, pixel centres (rows from north to south)
    fx = xmin + (np.arange(nx) + 0.5) * px
    fy = ymax - (np.arange(ny) + 0.5) * px
    depth = np.empty((ny, nx), dtype=np.float32)
    strip = 512
    for r0 in range(0, ny, strip):
        r1 = min(ny, r0 + strip)
        h = bilinear_upsample(hand, cy, cx, fy[r0:r1], fx)
        d = bilinear_upsample(d0, cy, cx, fy[r0:r1], fx)
        dd = dist[r0:r1].astype(np.float64)
        v = np.maximum(0.0, d * (1.0 - dd / dmax)) - FLOOD_K * h
        v = np.round(np.maximum(v, 0.0) * 100.0) / 100.0          # 0.01 m steps
        v[dd <= CHANNEL_HALF_WIDTH] = NODATA                       # the river channel itself
        depth[r0:r1] = v.astype(np.float32)

    meta = {
        "DESCRIPTION": DISCLAIMER + ". Illustrative %d-year Yellow River flood depth (m) " % years
                       + "along the Hangjin Banner reach; synthetic, from distance to the Natural "
                       "Earth centreline and height above the river on a coarse DEM.",
        "HAZARD": "flood",
        "UNITS": "m",
        "FORMULA": "depth = max(0, d0*(1 - dist/%g m)) - %g*max(0, dem - river_dem), >= 0, "
                   "rounded to 0.01 m; d0 = %g+0.35sin(2pi s/47km+0.7)+0.15sin(2pi s/13km+2.1) "
                   "(s = chainage); nodata = channel (dist <= %g m)"
                   % (dmax, FLOOD_K, 3.5 + extra, CHANNEL_HALF_WIDTH),
        "SOURCE": "scripts/make-layers (HazardZoning) from Natural Earth 4.0.0 rivers and "
                  "pvlib/Mapzen DEM; see layers/SOURCES.md",
    }
    name = "yellow-river-flood-depth.tif" if years == 100 else "yellow-river-flood-depth-%dyr.tif" % years
    write_gtiff(os.path.join(out, name), depth, gt, SRS_GK,
                "illustrative %d-year flood depth (synthetic)" % years, "m", meta)
    wet = depth > 0
    print("flood %d-year: max %.2f m, wet px %d, channel px %d"
          % (years, depth[wet].max(), wet.sum(), (depth == NODATA).sum()))


# ------------------------------------------------------------------------------------------
# b. Grassland fire danger (EPSG:4326, 0.002 deg)
# ------------------------------------------------------------------------------------------
def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def pseudo_noise(lon, lat):
    """Smooth deterministic noise in about [-1, 1]: a fixed sum of plane waves."""
    waves = [  # (amplitude, k_lon, k_lat [rad/deg], phase)
        (0.35, 9.1, 4.3, 0.4), (0.25, -5.2, 11.7, 1.9), (0.20, 17.3, -13.9, 3.1),
        (0.12, -23.9, -19.1, 5.2), (0.08, 37.7, 29.3, 2.6),
    ]
    v = np.zeros_like(lon)
    for a, kx, ky, ph in waves:
        v += a * np.sin(kx * lon + ky * lat + ph)
    return v


def make_fire(out, ref, river, dem):
    w, s, e, n = STUDY_BOX
    r = FIRE_RES
    nx = int(round((e - w) / r))
    ny = int(round((n - s) / r))
    gt = (w, r, 0.0, n, 0.0, -r)
    print("fire grid: %d x %d px" % (nx, ny))
    lon = w + (np.arange(nx) + 0.5) * r
    lat = n - (np.arange(ny) + 0.5) * r
    LON, LAT = np.meshgrid(lon, lat)

    # coarse 0.01 deg grid: distance to the river (m) and height above the nearest river sample
    c = FIRE_COARSE
    clon = w + (np.arange(nx // c) + 0.5) * r * c
    clat = s + (np.arange(ny // c) + 0.5) * r * c               # increasing
    glon, glat = np.meshgrid(clon, clat)
    pts = transform_xy(LL2GK, np.stack([glon.ravel(), glat.ravel()], axis=1))
    dist, _, level = river.nearest(pts)
    zc = dem.at(glon.ravel(), glat.ravel())
    hand_c = np.maximum(zc - level, 0.0).reshape(glon.shape)
    dist_c = dist.reshape(glon.shape)
    dist_m = bilinear_upsample(dist_c, clat, clon, lat, lon)
    hand = bilinear_upsample(hand_c, clat, clon, lat, lon)
    z = dem.at(LON, LAT)

    wet = 1.0 - np.exp(-dist_m / 6000.0)                 # 0 at the river, ->1 far away
    low = np.clip(hand / 80.0, 0.0, 1.0)                 # irrigated lowland at river level -> 0
    upl = np.clip((z - 1050.0) / 450.0, 0.0, 1.0)        # dry uplands / Ordos plateau
    kc = 40.42 - 0.03 * (LON - 107.5)                    # Kubuqi desert belt centre line
    kub = np.exp(-((LAT - kc) / 0.16) ** 2) * smoothstep(106.95, 107.35, LON)
    dry = 0.35 * upl + 0.30 * kub + 0.35 * low
    fdi = 100.0 * np.clip(0.05 + 0.95 * dry * np.sqrt(wet) + 0.08 * pseudo_noise(LON, LAT), 0.0, 1.0)
    fdi = np.round(fdi * 10.0) / 10.0                     # 0.1 steps

    # lakes (Ulansuhai Nur): water, no fuel -> nodata
    mem = gdal.GetDriverByName("MEM").Create("", nx, ny, 1, gdal.GDT_Byte)
    mem.SetGeoTransform(gt)
    mem.SetProjection(srs(4326).ExportToWkt())
    lk = ogr.Open(os.path.join(ref, "ne_lakes.geojson"))
    gdal.RasterizeLayer(mem, [1], lk.GetLayer(0), burn_values=[1])
    lake = mem.GetRasterBand(1).ReadAsArray() == 1
    fdi[lake] = NODATA

    meta = {
        "DESCRIPTION": DISCLAIMER + ". Illustrative grassland fire danger index (0-100), "
                       "synthetic: high on dry uplands and the Kubuqi desert belt, low near the "
                       "Yellow River and on irrigated lowland.",
        "HAZARD": "fire",
        "UNITS": "index 0-100",
        "FORMULA": "fdi = 100*clip(0.05 + 0.95*dry*sqrt(1-exp(-dist/6km)) + 0.08*noise, 0, 1); "
                   "dry = 0.35*clip((dem-1050)/450) + 0.30*kubuqi_belt + 0.35*clip(hand/80); "
                   "noise = fixed sum of 5 sines; lakes = nodata; rounded to 0.1",
        "SOURCE": "scripts/make-layers (HazardZoning) from Natural Earth 4.0.0 rivers/lakes and "
                  "pvlib/Mapzen DEM; see layers/SOURCES.md",
    }
    write_gtiff(os.path.join(out, "grassland-fire-danger.tif"), fdi.astype(np.float32), gt,
                srs(4326), "illustrative grassland fire danger index (synthetic)", "index", meta)
    v = fdi[~lake]
    print("fire: min %.1f max %.1f mean %.1f, lake px %d" % (v.min(), v.max(), v.mean(), lake.sum()))


# ------------------------------------------------------------------------------------------
# c. Seismic PGA zoning (EPSG:4490)
# ------------------------------------------------------------------------------------------
def box_polygon(w, s, e, n):
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((w, s), (e, s), (e, n), (w, n), (w, s)):
        ring.AddPoint_2D(x, y)
    p = ogr.Geometry(ogr.wkbPolygon)
    p.AddGeometry(ring)
    return p


def to_gk(g):
    g = g.Clone()
    g.AssignSpatialReference(SRS_LL)
    g.Transform(LL2GK)
    return g


def to_ll(g):
    g = g.Clone()
    g.AssignSpatialReference(SRS_GK)
    g.Transform(GK2LL)
    return g


def polygons_only(g):
    """Keep the polygonal parts of a geometry as a MultiPolygon."""
    out = ogr.Geometry(ogr.wkbMultiPolygon)
    t = ogr.GT_Flatten(g.GetGeometryType())
    if t == ogr.wkbPolygon:
        out.AddGeometry(g)
    elif t in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        for i in range(g.GetGeometryCount()):
            sub = polygons_only(g.GetGeometryRef(i))
            for j in range(sub.GetGeometryCount()):
                out.AddGeometry(sub.GetGeometryRef(j))
    return out


def make_seismic(out, ref):
    faults = ogr.Geometry(ogr.wkbMultiLineString)
    ds = ogr.Open(os.path.join(ref, "gem_active_faults.geojson"))
    fbox = box_polygon(*FAULT_BOX)
    nf = 0
    for f in ds.GetLayer(0):
        g = f.GetGeometryRef().Intersection(fbox)
        if g is None or g.IsEmpty():
            continue
        nf += 1
        t = ogr.GT_Flatten(g.GetGeometryType())
        parts = [g] if t == ogr.wkbLineString else [g.GetGeometryRef(i) for i in range(g.GetGeometryCount())]
        for p in parts:
            if ogr.GT_Flatten(p.GetGeometryType()) == ogr.wkbLineString:
                faults.AddGeometry(p)
    faults_gk = to_gk(faults)
    box = box_polygon(*STUDY_BOX)
    classes = [(0.20, 15000.0), (0.15, 40000.0), (0.10, 80000.0)]
    zones = []
    covered = None
    for pga, d in classes:
        buf = to_ll(faults_gk.Buffer(d, 16)).Intersection(box)
        z = buf if covered is None else buf.Difference(covered)
        zones.append((pga, d, z))
        covered = buf if covered is None else covered.Union(buf)
    zones.append((0.05, None, box.Difference(covered)))

    path = os.path.join(out, "seismic-pga-zoning.gpkg")
    gp = new_gpkg(path)
    lyr = gp.CreateLayer("seismic_pga_zoning", SRS_LL, ogr.wkbMultiPolygon,
                         ["GEOMETRY_NAME=geom", "FID=fid",
                          "IDENTIFIER=seismic_pga_zoning (illustrative)",
                          "DESCRIPTION=" + DISCLAIMER + ". Illustrative PGA zones (GB 18306-2015 "
                          "classes) from buffers of GEM active faults."])
    for name, typ in (("pga_g", ogr.OFTReal), ("zone_name", ogr.OFTString),
                      ("rule", ogr.OFTString)):
        lyr.CreateField(ogr.FieldDefn(name, typ))
    total = 0.0
    gp.StartTransaction()
    for pga, d, z in zones:
        z = polygons_only(z)
        if not z.IsValid():
            z = polygons_only(z.MakeValid())
        assert z.IsValid(), pga
        total += z.GetArea()
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("pga_g", pga)
        f.SetField("zone_name", "%.2fg" % pga)
        f.SetField("rule", "within %d km of an active fault" % (d / 1000) if d else
                   "more than 80 km from an active fault")
        f.SetGeometry(z)
        lyr.CreateFeature(f)
        print("seismic zone %.2fg: %d parts, %.4f deg2" % (pga, z.GetGeometryCount(), z.GetArea()))
    gp.CommitTransaction()
    gp = None
    print("seismic: %d fault traces, zones area %.6f vs box %.6f deg2" % (nf, total, box.GetArea()))


# ------------------------------------------------------------------------------------------
# d. Approximate Hangjin Banner outline (EPSG:4326)
# ------------------------------------------------------------------------------------------
# Hand-digitised from the banner's known extent (106.9-109.2 E, 39.3-40.9 N) and neighbours.
# The northern part of this ring lies beyond the Yellow River on purpose: it is cut away
# below, so that the banner's N and W edge follows the river (on its S/E bank).
OUTLINE = [
    (106.97, 40.05), (106.86, 40.12), (106.80, 40.30),   # W edge, crosses the river near Dengkou
    (106.95, 40.75), (107.60, 41.05), (108.40, 41.05),   # north of the river (cut away)
    (109.27, 40.80), (109.27, 40.38),                    # NE corner, river near 109.2 E
    (109.17, 40.22), (109.06, 40.08), (108.93, 39.97),   # E edge (Dalad, Dongsheng)
    (108.99, 39.80), (108.89, 39.66), (108.78, 39.54),   # SE edge (Ejin Horo, Uxin)
    (108.60, 39.46), (108.40, 39.38), (108.15, 39.39),   # S edge (Uxin, Otog)
    (107.95, 39.47), (107.76, 39.58), (107.52, 39.68),   # SW edge (Otog)
    (107.32, 39.80), (107.13, 39.87), (107.03, 39.96),   # W edge (Otog, Wuhai)
]
STUDY_RIVER_OFFSET = 400.0   # m; the edge runs this far from the centreline on the S/E bank


def make_study_area(out, river):
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in OUTLINE + [OUTLINE[0]]:
        ring.AddPoint_2D(x, y)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    cut = to_gk(poly).Difference(river.line_gk().Buffer(STUDY_RIVER_OFFSET, 8))
    seat = to_gk(ogr.CreateGeometryFromWkt("POINT (%r %r)" % XINI))
    parts = polygons_only(cut)
    keep = [parts.GetGeometryRef(i) for i in range(parts.GetGeometryCount())
            if parts.GetGeometryRef(i).Contains(seat)]
    assert len(keep) == 1
    area_km2 = keep[0].GetArea() / 1e6
    g = to_ll(keep[0])                       # a single Polygon
    assert g.IsValid() and ogr.GT_Flatten(g.GetGeometryType()) == ogr.wkbPolygon
    path = os.path.join(out, "hangjin-study-area.gpkg")
    gp = new_gpkg(path)
    lyr = gp.CreateLayer("hangjin_study_area", srs(4326), ogr.wkbPolygon,
                         ["GEOMETRY_NAME=geom", "FID=fid",
                          "IDENTIFIER=hangjin_study_area (approximate)",
                          "DESCRIPTION=Approximate outline of Hangjin Banner, hand-digitised; "
                          "NOT an official boundary."])
    for name, typ in (("name", ogr.OFTString), ("name_en", ogr.OFTString),
                      ("area_km2", ogr.OFTReal), ("note", ogr.OFTString)):
        lyr.CreateField(ogr.FieldDefn(name, typ))
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetField("name", "杭锦旗 (approximate)")
    f.SetField("name_en", "Hangjin Banner (approximate)")
    f.SetField("area_km2", round(area_km2, 1))
    f.SetField("note", "approximate, hand-digitised from the Yellow River centreline and the "
                       "known extent; not an official boundary")
    f.SetGeometry(g)
    lyr.CreateFeature(f)
    gp = None
    env = g.GetEnvelope()
    print("study area: %.0f km2, lon %.3f..%.3f lat %.3f..%.3f, %d vertices"
          % (area_km2, env[0], env[1], env[2], env[3],
             g.GetGeometryRef(0).GetPointCount()))


# ------------------------------------------------------------------------------------------
# e. Context extracts
# ------------------------------------------------------------------------------------------
# Map labels of the GeoNames places: Chinese name and pinyin. Places whose Chinese name is not
# certain keep their GeoNames name. "驻地" marks the seat of government (its label is never dropped).
PLACE_LABELS = {
    "Bayan Nur": "巴彦淖尔市 Bayan Nur",
    "Wuhai": "乌海市 Wuhai",
    "Shizuishan": "石嘴山市 Shizuishan",
    "Wuda": "乌达区 Wuda",
    "Xinli": "锡尼镇(杭锦旗政府驻地) Xini",
    "Ulan": "乌兰镇 Ulan",
    "Pingluo Chengguanzhen": "平罗县城关镇 Pingluo",
    "Ulashan": "乌拉山镇 Ulashan",
}


def make_context(out, ref, river):
    gp = new_gpkg(os.path.join(out, "yellow-river.gpkg"))
    lyr = gp.CreateLayer("yellow_river", srs(4326), ogr.wkbLineString,
                         ["GEOMETRY_NAME=geom", "FID=fid", "IDENTIFIER=yellow_river",
                          "DESCRIPTION=Yellow River (Huang) centreline, Natural Earth 4.0.0 "
                          "1:10m, public domain"])
    for name in ("name", "name_en", "name_zh"):
        lyr.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    g = ogr.Geometry(ogr.wkbLineString)
    for x, y in river.ll:
        g.AddPoint_2D(float(x), float(y))
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetField("name", "Huang")
    f.SetField("name_en", "Yellow River")
    f.SetField("name_zh", "黄河")
    f.SetGeometry(g)
    lyr.CreateFeature(f)
    gp = None

    src_ds = ogr.Open(os.path.join(ref, "geonames_places.geojson"))  # keep a reference
    src = src_ds.GetLayer(0)
    gp = new_gpkg(os.path.join(out, "places.gpkg"))
    lyr = gp.CreateLayer("places", srs(4326), ogr.wkbPoint,
                         ["GEOMETRY_NAME=geom", "FID=fid", "IDENTIFIER=places",
                          "DESCRIPTION=GeoNames cities1000 places in the study box, CC BY 4.0"])
    for name, typ in (("name", ogr.OFTString), ("label", ogr.OFTString),
                      ("population", ogr.OFTInteger64)):
        lyr.CreateField(ogr.FieldDefn(name, typ))
    gp.StartTransaction()
    for sf in src:
        f = ogr.Feature(lyr.GetLayerDefn())
        nm = sf.GetField("name")
        f.SetField("name", nm)
        # Chinese names where the place is certain (GeoNames alternate names are not in the
        # reference data); GeoNames "Xinli" sits at Xini town (锡尼镇), the banner seat (旗政府驻地).
        f.SetField("label", PLACE_LABELS.get(nm, nm))
        f.SetField("population", sf.GetField("population"))
        f.SetGeometry(sf.GetGeometryRef())
        lyr.CreateFeature(f)
    gp.CommitTransaction()
    gp = None


# ------------------------------------------------------------------------------------------
# f. Approximate townships (EPSG:4326) that tile the study area exactly
# ------------------------------------------------------------------------------------------
# Approximate town seats, from public knowledge (maps, gazetteers) -- NOT surveyed, and
# moved inside the approximate study-area outline where needed.  (code, name, name_en, seat)
TOWNSHIPS = [
    ("XNZ", "锡尼镇", "Xini Zhen", (108.735, 39.844)),   # GeoNames "Xinli"
    ("DGT", "独贵塔拉镇", "Dugui Tala Zhen", (108.33, 40.62)),
    ("JRG", "吉日嘎朗图镇", "Jirigalangtu Zhen", (108.98, 40.28)),
    ("HHM", "呼和木独镇", "Huhemudu Zhen", (107.52, 40.40)),
    ("YHW", "伊和乌素苏木", "Yihewusu Sumu", (107.78, 39.72)),
    ("BLG", "巴拉贡镇", "Balagong Zhen", (107.10, 40.05)),
]
# Extra Voronoi seeds that only shape the cells (they are not places): code, (lon, lat)
TOWNSHIP_SHAPE_SEEDS = [
    ("YHW", (108.05, 39.52)),     # Yihewusu reaches east along the southern (Otog) edge
    ("XNZ", (108.45, 39.95)),     # Xini reaches west into the central plateau
]
# 杭锦旗经济开发区: a small box near Dugui Tala (W S E N), carved out of the Voronoi tiling
EDZ = ("KFQ", "杭锦旗经济开发区", "Hangjin Qi Jingji Kaifaqu", (108.38, 40.63, 108.50, 40.69))
# Stand-in 9-digit census codes (6-digit county 150625 + 3 digits; towns 1xx, sumu 2xx, the
# development zone 4xx). NOT the official township codes.
CENSUS_CODES = {"XNZ": "150625101", "DGT": "150625102", "JRG": "150625103", "HHM": "150625104",
                "BLG": "150625105", "YHW": "150625201", "KFQ": "150625400"}
CELLS_PER_DEGREE = 120        # the census standard grid: 30" cells on multiples of 1/120 deg
# Smooth displacement of the cell edges (EPSG:4545 m) so that they are not straight lines:
# dx = sum a*sin(2 pi y/L + p), dy = sum a*sin(2 pi x/L + p); max slope 0.57 < 1, so the
# warp cannot fold and the cells still tile the plane.
TOWNSHIP_WARP = [(2000.0, 45000.0, 0.3, 1.1), (600.0, 13000.0, 2.0, 4.2)]   # a, L, p_x, p_y
TOWNSHIP_EDGE_STEP = 1000.0   # m; edges are densified before the warp


def ll_point(lon, lat):
    return ogr.CreateGeometryFromWkt("POINT (%r %r)" % (lon, lat))


def convex_clip(poly, a, b, c):
    """Sutherland-Hodgman: keep the part of a convex polygon (list of (x, y)) with
    a*x + b*y <= c."""
    out = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp = a * p[0] + b * p[1] - c
        fq = a * q[0] + b * q[1] - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def voronoi_partition(seeds, box):
    """Voronoi cells of `seeds` (EPSG:4545) clipped to `box`, with every edge densified and
    warped.  Shared edges use identical vertices, so the cells tile the box exactly.
    Returns one list of (x, y) ring vertices per seed."""
    xmin, ymin, xmax, ymax = box
    cells = []
    for i, (xi, yi) in enumerate(seeds):
        poly = [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax)]
        for j, (xj, yj) in enumerate(seeds):
            if i != j:   # closer to i than to j
                poly = convex_clip(poly, xj - xi, yj - yi,
                                   (xj * xj + yj * yj - xi * xi - yi * yi) / 2.0)
        # snap to 1 cm so that a vertex shared by several cells is the same number everywhere
        ring = []
        for x, y in poly:
            v = (round(x, 2), round(y, 2))
            if not ring or ring[-1] != v:
                ring.append(v)
        if ring[0] == ring[-1]:
            ring.pop()
        cells.append(ring)
    edges = {}

    def edge_points(p, q):
        key = (p, q) if p < q else (q, p)
        if key not in edges:
            (x0, y0), (x1, y1) = key
            n = max(1, int(math.ceil(math.hypot(x1 - x0, y1 - y0) / TOWNSHIP_EDGE_STEP)))
            edges[key] = [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(n)]
            edges[key].append(key[1])
        pts = edges[key]
        return pts if key[0] == p else pts[::-1]

    def warp(x, y):
        dx = dy = 0.0
        for a, L, px, py in TOWNSHIP_WARP:
            dx += a * math.sin(2 * math.pi * y / L + px)
            dy += a * math.sin(2 * math.pi * x / L + py)
        return (x + dx, y + dy)

    out = []
    for ring in cells:
        pts = []
        for k in range(len(ring)):
            pts.extend(edge_points(ring[k], ring[(k + 1) % len(ring)])[:-1])
        out.append([warp(x, y) for x, y in pts])
    return out


def ring_polygon(pts):
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in list(pts) + [pts[0]]:
        ring.AddPoint_2D(float(x), float(y))
    p = ogr.Geometry(ogr.wkbPolygon)
    p.AddGeometry(ring)
    return p


def read_study_area(out):
    ds = ogr.Open(os.path.join(out, "hangjin-study-area.gpkg"))
    f = ds.GetLayer(0).GetNextFeature()
    return f.GetGeometryRef().Clone()


def clean_polygons(g):
    g = polygons_only(g)
    if not g.IsValid():
        g = polygons_only(g.MakeValid())
    return g


def make_townships(out):
    study = read_study_area(out)                         # EPSG:4326 lon/lat, one Polygon
    env = study.GetEnvelope()                            # minx, maxx, miny, maxy
    seeds_ll = [t[3] for t in TOWNSHIPS] + [s[1] for s in TOWNSHIP_SHAPE_SEEDS]
    owner = [t[0] for t in TOWNSHIPS] + [s[0] for s in TOWNSHIP_SHAPE_SEEDS]
    seeds = transform_xy(LL2GK, seeds_ll)
    corners = transform_xy(LL2GK, [(env[0], env[2]), (env[1], env[2]),
                                   (env[0], env[3]), (env[1], env[3])])
    pad = 30000.0
    box = (math.floor(corners[:, 0].min() / 1000) * 1000 - pad,
           math.floor(corners[:, 1].min() / 1000) * 1000 - pad,
           math.ceil(corners[:, 0].max() / 1000) * 1000 + pad,
           math.ceil(corners[:, 1].max() / 1000) * 1000 + pad)
    cells = voronoi_partition([tuple(p) for p in seeds], box)
    region = {}
    for code, ring in zip(owner, cells):
        # vertex-by-vertex projection: equal vertices stay equal, so the tiling is kept
        cell = to_ll(ring_polygon(ring))
        region[code] = cell if code not in region else region[code].Union(cell)

    w, s, e, n = EDZ[3]
    pieces = [(EDZ[0], EDZ[1], EDZ[2], study.Intersection(box_polygon(w, s, e, n)))]
    remaining = study.Difference(box_polygon(w, s, e, n))
    for k, (code, name, name_en, _) in enumerate(TOWNSHIPS):
        if k < len(TOWNSHIPS) - 1:
            piece = remaining.Intersection(region[code])
            remaining = remaining.Difference(region[code])
        else:
            piece = remaining                            # the rest: the tiling is exact
        pieces.append((code, name, name_en, piece))
    order = [t[0] for t in TOWNSHIPS] + [EDZ[0]]
    pieces.sort(key=lambda p: order.index(p[0]))

    path = os.path.join(out, "hangjin-townships.gpkg")
    gp = new_gpkg(path)
    lyr = gp.CreateLayer("hangjin_townships", srs(4326), ogr.wkbMultiPolygon,
                         ["GEOMETRY_NAME=geom", "FID=fid",
                          "IDENTIFIER=hangjin_townships (illustrative, approximate)",
                          "DESCRIPTION=ILLUSTRATIVE, NOT OFFICIAL: approximate township polygons "
                          "(Voronoi cells of approximate town seats) tiling the approximate "
                          "study area. NOT official administrative boundaries."])
    for fname, typ in (("township_id", ogr.OFTInteger), ("code", ogr.OFTString),
                       ("name", ogr.OFTString), ("name_en", ogr.OFTString),
                       ("seat_lon", ogr.OFTReal), ("seat_lat", ogr.OFTReal),
                       ("area_km2", ogr.OFTReal), ("approximate", ogr.OFTInteger),
                       ("census_code", ogr.OFTString)):
        lyr.CreateField(ogr.FieldDefn(fname, typ))
    seats = {t[0]: t[3] for t in TOWNSHIPS}
    seats[EDZ[0]] = ((EDZ[3][0] + EDZ[3][2]) / 2, (EDZ[3][1] + EDZ[3][3]) / 2)
    geoms = []
    gp.StartTransaction()
    for i, (code, name, name_en, g) in enumerate(pieces):
        g = clean_polygons(g)
        assert g.IsValid() and not g.IsEmpty(), code
        assert g.Contains(ll_point(*seats[code])), code
        geoms.append(g)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("township_id", i + 1)
        f.SetField("code", code)
        f.SetField("name", name)
        f.SetField("name_en", name_en)
        f.SetField("seat_lon", seats[code][0])
        f.SetField("seat_lat", seats[code][1])
        f.SetField("area_km2", round(to_gk(g).GetArea() / 1e6, 1))
        f.SetField("approximate", 1)
        f.SetField("census_code", CENSUS_CODES[code])
        f.SetGeometry(g)
        lyr.CreateFeature(f)
        print("township %d %s %s: %d part(s), %.0f km2"
              % (i + 1, code, name_en, g.GetGeometryCount(), to_gk(g).GetArea() / 1e6))
    gp.CommitTransaction()
    gp = None

    # checks: valid, pairwise no overlap, union == study area
    overlap = 0.0
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            inter = geoms[i].Intersection(geoms[j])   # shared edges are lines: area 0
            overlap += polygons_only(inter).GetArea() if inter is not None else 0.0
    union = geoms[0]
    for g in geoms[1:]:
        union = union.Union(g)
    diff = union.SymDifference(study).GetArea() / study.GetArea()
    total = sum(g.GetArea() for g in geoms)
    print("townships: overlap %.3g deg2, |union xor study|/study %.3g, sum/study - 1 %.3g"
          % (overlap, diff, total / study.GetArea() - 1))
    assert overlap / study.GetArea() < 1e-9 and diff < 1e-9 and abs(total / study.GetArea() - 1) < 1e-9
    return pieces


def make_standard_grid(out):
    """The townships rasterised at 30" (1/120 deg) cells on multiples of 1/120 deg, EPSG:4490,
    each cell holding its township's stand-in 9-digit code (cell centre inside the polygon),
    0 (nodata) outside the banner; the box is the townships' envelope snapped outwards plus
    two cells. ILLUSTRATIVE: not the census's official standard grid."""
    src = gdal.OpenEx(os.path.join(out, "hangjin-townships.gpkg"), gdal.OF_VECTOR)
    mem = gdal.VectorTranslate("", src, format="Memory", dstSRS="EPSG:4490", layers=["hangjin_townships"])
    lyr = mem.GetLayer(0)
    minx, maxx, miny, maxy = lyr.GetExtent()
    n = CELLS_PER_DEGREE
    ix0, ix1 = math.floor(minx * n) - 2, math.ceil(maxx * n) + 2
    iy0, iy1 = math.floor(miny * n) - 2, math.ceil(maxy * n) + 2
    path = os.path.join(out, "hangjin-standard-grid.tif")
    if os.path.exists(path):
        os.remove(path)
    ds = gdal.GetDriverByName("GTiff").Create(path, ix1 - ix0, iy1 - iy0, 1, gdal.GDT_UInt32,
                                              ["COMPRESS=DEFLATE", "BIGTIFF=NO"])
    ds.SetGeoTransform([ix0 / n, 1.0 / n, 0.0, iy1 / n, 0.0, -1.0 / n])
    ds.SetProjection(srs(4490).ExportToWkt())
    ds.SetMetadata({"DESCRIPTION": "ILLUSTRATIVE census standard grid for Hangjin Banner: stand-in "
                                   "township codes 150625xxx, NOT the official standard grid"})
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(0)
    band.Fill(0)
    gdal.RasterizeLayer(ds, [1], lyr, options=["ATTRIBUTE=census_code"])
    codes = band.ReadAsArray()
    ds = None
    values, counts = np.unique(codes[codes > 0], return_counts=True)
    print("standard grid: %d x %d cells, %d county cells, %s"
          % (ix1 - ix0, iy1 - iy0, counts.sum(), ", ".join("%d: %d" % vc for vc in zip(values, counts))))


# ------------------------------------------------------------------------------------------
# g. Illustrative ice-jam (凌汛) detention areas on the south bank (EPSG:4545)
# ------------------------------------------------------------------------------------------
# Reaches of the Yellow River (by longitude of the centreline) that get one basin each;
# the basin is the strip 0.4 .. DET_WIDTH m from the centreline on the banner side.
DETENTION = [  # (id, lon from, lon to, strip width m)
    (1, 107.80, 107.98, 3000.0),
    (2, 108.12, 108.30, 3500.0),
    (3, 108.86, 109.02, 3000.0),
]
DET_DEPTH = 2.0   # m; illustrative mean storage depth: capacity = area * depth


def make_detention(out, river):
    study_gk = to_gk(read_study_area(out))
    # the northern reach only (the river runs from west to east there)
    north = river.ll[:, 1] > 40.35
    channel = river.line_gk().Buffer(STUDY_RIVER_OFFSET, 8)
    path = os.path.join(out, "ice-jam-detention-areas.gpkg")
    gp = new_gpkg(path)
    lyr = gp.CreateLayer("ice_jam_detention_areas", SRS_GK, ogr.wkbPolygon,
                         ["GEOMETRY_NAME=geom", "FID=fid",
                          "IDENTIFIER=ice_jam_detention_areas (illustrative)",
                          "DESCRIPTION=" + DISCLAIMER + ". Illustrative ice-jam (凌汛) flood "
                          "detention basins on the south bank of the Yellow River; NOT the "
                          "official detention areas."])
    for fname, typ in (("det_id", ogr.OFTInteger), ("name", ogr.OFTString),
                       ("kind", ogr.OFTString), ("capacity_mcm", ogr.OFTReal),
                       ("area_km2", ogr.OFTReal), ("hazard_level", ogr.OFTReal),
                       ("note", ogr.OFTString)):
        lyr.CreateField(ogr.FieldDefn(fname, typ))
    gp.StartTransaction()
    for det_id, lon0, lon1, width in DETENTION:
        sel = north & (river.ll[:, 0] >= lon0) & (river.ll[:, 0] <= lon1)
        idx = np.nonzero(sel)[0]
        assert len(idx) >= 2 and np.all(np.diff(idx) == 1), det_id
        reach = ogr.Geometry(ogr.wkbLineString)
        for x, y in river.gk[idx[0]:idx[-1] + 1]:
            reach.AddPoint_2D(float(x), float(y))
        # a smoothed reach (1.5 km tolerance) gives a basin without the small meanders
        strip = (reach.SimplifyPreserveTopology(1500.0).Buffer(width, 8)
                 .Difference(channel).Intersection(study_gk))
        parts = polygons_only(strip)
        # the largest piece (the strip on the banner's bank)
        best = max((parts.GetGeometryRef(i) for i in range(parts.GetGeometryCount())),
                   key=lambda p: p.GetArea()).Clone()
        assert best.IsValid() and study_gk.Contains(best.Buffer(-1.0)), det_id
        area_km2 = best.GetArea() / 1e6
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("det_id", det_id)
        f.SetField("name", "凌汛蓄滞洪区 %d (illustrative)" % det_id)
        f.SetField("kind", "ice-jam detention area")
        f.SetField("capacity_mcm", round(area_km2 * DET_DEPTH, 1))
        f.SetField("area_km2", round(area_km2, 1))
        f.SetField("hazard_level", 1.0)
        f.SetField("note", "illustrative, NOT official: strip 0.4-%.1f km from the Natural Earth "
                           "centreline, %.2f-%.2f E; capacity = area x %g m"
                   % (width / 1000, lon0, lon1, DET_DEPTH))
        f.SetGeometry(best)
        lyr.CreateFeature(f)
        print("detention %d: %.1f km2, capacity %.1f mcm" % (det_id, area_km2, area_km2 * DET_DEPTH))
    gp.CommitTransaction()
    gp = None


# ------------------------------------------------------------------------------------------
# h. Illustrative population density (EPSG:4545, 250 m)
# ------------------------------------------------------------------------------------------
POP_PIX = 250.0
POP_MARGIN = 10000.0     # m around the study area
POP_BG = 1.0             # persons/km2 background (less in the Kubuqi belt)
# (lon, lat, peak persons/km2, sigma km): core + halo Gaussians
POP_SEEDS = [
    (108.735, 39.844, 900.0, 2.5), (108.735, 39.844, 15.0, 12.0),      # Xini (banner seat)
    (108.33, 40.62, 250.0, 2.0), (108.33, 40.62, 20.0, 10.0),          # Dugui Tala
    (108.98, 40.28, 150.0, 2.0), (108.98, 40.28, 12.0, 8.0),           # Jirigalangtu
    (107.52, 40.40, 120.0, 2.0), (107.52, 40.40, 12.0, 8.0),           # Huhemudu
    (107.10, 40.05, 120.0, 2.0), (107.10, 40.05, 10.0, 8.0),           # Balagong
    (107.78, 39.72, 60.0, 1.5), (107.78, 39.72, 4.0, 10.0),            # Yihewusu
    (108.44, 40.66, 80.0, 3.0),                                        # development zone
]
POP_RIVER = (25.0, 6000.0)    # irrigated river plain: peak persons/km2, e-folding m


def village_seeds():
    return [(v[2], v[3]) for v in SHELTERS if v[0] == "village"]


def make_population(out, river):
    study = read_study_area(out)
    env = study.GetEnvelope()
    corners = transform_xy(LL2GK, [(env[0], env[2]), (env[1], env[2]), (env[0], env[3]),
                                   (env[1], env[3]), (env[0], (env[2] + env[3]) / 2),
                                   (env[1], (env[2] + env[3]) / 2)])
    px = POP_PIX
    xmin = math.floor((corners[:, 0].min() - POP_MARGIN) / 1000.0) * 1000.0
    xmax = math.ceil((corners[:, 0].max() + POP_MARGIN) / 1000.0) * 1000.0
    ymin = math.floor((corners[:, 1].min() - POP_MARGIN) / 1000.0) * 1000.0
    ymax = math.ceil((corners[:, 1].max() + POP_MARGIN) / 1000.0) * 1000.0
    nx = int(round((xmax - xmin) / px))
    ny = int(round((ymax - ymin) / px))
    gt = (xmin, px, 0.0, ymax, 0.0, -px)
    print("population grid: %d x %d px, x %.0f..%.0f, y %.0f..%.0f" % (nx, ny, xmin, xmax, ymin, ymax))
    fx = xmin + (np.arange(nx) + 0.5) * px
    fy = ymax - (np.arange(ny) + 0.5) * px
    X, Y = np.meshgrid(fx, fy)

    # river distance on a 1 km grid (4 px), bilinear
    c = 4
    cx = xmin + (np.arange(nx // c + 1) + 0.5) * px * c
    cy = ymin + (np.arange(ny // c + 1) + 0.5) * px * c            # increasing
    gx, gy = np.meshgrid(cx, cy)
    dist_c, _, _ = river.nearest(np.stack([gx.ravel(), gy.ravel()], axis=1))
    dist = bilinear_upsample(dist_c.reshape(gx.shape), cy, cx, fy[::-1], fx)[::-1]

    lonlat = transform_xy(GK2LL, np.stack([X.ravel(), Y.ravel()], axis=1))
    LON = lonlat[:, 0].reshape(X.shape)
    LAT = lonlat[:, 1].reshape(X.shape)
    kc = 40.42 - 0.03 * (LON - 107.5)                    # Kubuqi belt, as in the fire layer
    kub = np.exp(-((LAT - kc) / 0.16) ** 2) * smoothstep(106.95, 107.35, LON)
    pop = POP_BG * (1.0 - 0.6 * kub) + POP_RIVER[0] * np.exp(-dist / POP_RIVER[1])
    seeds = list(POP_SEEDS) + [(lon, lat, 40.0, 1.2) for lon, lat in village_seeds()]
    sxy = transform_xy(LL2GK, [(s[0], s[1]) for s in seeds])
    for (lon, lat, peak, sig), (sx, sy) in zip(seeds, sxy):
        r2 = (X - sx) ** 2 + (Y - sy) ** 2
        pop += peak * np.exp(-r2 / (2.0 * (sig * 1000.0) ** 2))
    pop = np.round(pop * 10.0) / 10.0                      # 0.1 persons/km2 steps

    meta = {
        "DESCRIPTION": "ILLUSTRATIVE SYNTHETIC DATA - NOT OFFICIAL. Illustrative population "
                       "density (persons/km2): Gaussians around approximate town/village seeds, "
                       "a river-plain term and a low desert background.",
        "HAZARD": "exposure",
        "UNITS": "persons/km2",
        "FORMULA": "pop = %g*(1-0.6*kubuqi_belt) + %g*exp(-dist_river/%g m) + sum peak*exp(-r^2/"
                   "(2 sigma^2)) over the seeds in scripts/make_layers.py (POP_SEEDS, villages "
                   "40/km2 sigma 1.2 km); rounded to 0.1" % (POP_BG, POP_RIVER[0], POP_RIVER[1]),
        "SOURCE": "scripts/make-layers (HazardZoning), synthetic; see layers/SOURCES.md",
    }
    write_gtiff(os.path.join(out, "population-density.tif"), pop.astype(np.float32), gt, SRS_GK,
                "illustrative population density (synthetic)", "persons/km2", meta)
    # persons inside the study area (pixel-centre rule)
    mem = gdal.GetDriverByName("MEM").Create("", nx, ny, 1, gdal.GDT_Byte)
    mem.SetGeoTransform(gt)
    mem.SetProjection(SRS_GK.ExportToWkt())
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("sa", SRS_GK, ogr.wkbPolygon)
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetGeometry(to_gk(study))
    lyr.CreateFeature(f)
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1])
    inside = mem.GetRasterBand(1).ReadAsArray() == 1
    print("population: min %.1f max %.1f persons/km2, about %.0f persons inside the study area"
          % (pop.min(), pop.max(), pop[inside].sum() * (px / 1000.0) ** 2))
    return pop, gt, X, Y, inside


# ------------------------------------------------------------------------------------------
# h2. Illustrative GDP density and building floor area (EPSG:4545, 250 m, the population grid)
# ------------------------------------------------------------------------------------------
GDP_PER_PERSON = 8.0          # 10^4 CNY per person (the population term)
# (lon, lat, peak 10^4 CNY/km2, sigma km): industry and commerce on top of the population term
GDP_SEEDS = [
    (108.44, 40.66, 6000.0, 2.5),      # development zone (industrial park)
    (108.735, 39.844, 1500.0, 2.0),    # Xini (banner seat): commerce and services
    (108.33, 40.62, 400.0, 2.0),       # Dugui Tala
]
FLOOR_PER_PERSON = 35.0       # m2 of building floor area per person (the population term)
# (lon, lat, peak m2 of floor area per km2, sigma km): industrial and public buildings
FLOOR_SEEDS = [
    (108.44, 40.66, 60000.0, 2.0),     # development zone (plants, warehouses)
    (108.735, 39.844, 20000.0, 1.5),   # Xini (offices, schools, hospital)
]


def make_economy(out, pop, gt, X, Y, inside):
    px = gt[1]
    pixel_km2 = (px / 1000.0) ** 2

    def gaussians(seeds):
        acc = np.zeros_like(pop, dtype=np.float64)
        sxy = transform_xy(LL2GK, [(s[0], s[1]) for s in seeds])
        for (lon, lat, peak, sig), (sx, sy) in zip(seeds, sxy):
            r2 = (X - sx) ** 2 + (Y - sy) ** 2
            acc += peak * np.exp(-r2 / (2.0 * (sig * 1000.0) ** 2))
        return acc

    pop64 = pop.astype(np.float64)
    gdp = GDP_PER_PERSON * pop64 + gaussians(GDP_SEEDS)
    gdp = np.round(gdp * 10.0) / 10.0                      # 0.1 x 10^4 CNY/km2 steps
    meta = {
        "DESCRIPTION": "ILLUSTRATIVE SYNTHETIC DATA - NOT OFFICIAL (not statistical GDP). Illustrative "
                       "GDP density (10^4 CNY/km2): the population layer times a per-capita value plus "
                       "Gaussians at the development zone and the towns.",
        "HAZARD": "exposure",
        "UNITS": "10^4 CNY/km2",
        "FORMULA": "gdp = %g*pop + sum peak*exp(-r^2/(2 sigma^2)) over GDP_SEEDS in "
                   "scripts/make_layers.py; rounded to 0.1" % GDP_PER_PERSON,
        "SOURCE": "scripts/make-layers (HazardZoning), synthetic; see layers/SOURCES.md",
    }
    write_gtiff(os.path.join(out, "gdp-density.tif"), gdp.astype(np.float32), gt, SRS_GK,
                "illustrative GDP density (synthetic)", "10^4 CNY/km2", meta)

    floor = (FLOOR_PER_PERSON * pop64 + gaussians(FLOOR_SEEDS)) * pixel_km2
    floor = np.round(floor)                                # whole m2 per pixel
    meta = {
        "DESCRIPTION": "ILLUSTRATIVE SYNTHETIC DATA - NOT OFFICIAL (not a building census). Illustrative "
                       "building floor area in m2 per 250 m pixel: the population layer times a floor "
                       "area per person plus Gaussians at the development zone and Xini.",
        "HAZARD": "exposure",
        "UNITS": "m2 per pixel",
        "FORMULA": "floor = (%g*pop + sum peak*exp(-r^2/(2 sigma^2)) over FLOOR_SEEDS) * %g km2; "
                   "rounded to 1 m2" % (FLOOR_PER_PERSON, pixel_km2),
        "SOURCE": "scripts/make-layers (HazardZoning), synthetic; see layers/SOURCES.md",
    }
    write_gtiff(os.path.join(out, "building-floor-area.tif"), floor.astype(np.float32), gt, SRS_GK,
                "illustrative building floor area per pixel (synthetic)", "m2", meta)
    g32 = gdp.astype(np.float32).astype(np.float64)
    f32 = floor.astype(np.float32).astype(np.float64)
    print("gdp: min %.1f max %.1f x10^4 CNY/km2, about %.0f x10^4 CNY inside the study area"
          % (g32.min(), g32.max(), g32[inside].sum() * pixel_km2))
    print("floor area: max %.0f m2/pixel, about %.0f m2 inside the study area" % (f32.max(), f32[inside].sum()))


# ------------------------------------------------------------------------------------------
# i. Illustrative emergency shelters (EPSG:4326)
# ------------------------------------------------------------------------------------------
# (kind, name, lon, lat, capacity, township code) -- all illustrative sites, NOT real shelters
SHELTERS = [
    ("town", "锡尼镇中心广场避难场所 (illustrative)", 108.735, 39.844, 12000, "XNZ"),
    ("town", "锡尼镇体育场避难场所 (illustrative)", 108.712, 39.832, 8000, "XNZ"),
    ("town", "锡尼镇北学校避难场所 (illustrative)", 108.752, 39.862, 3000, "XNZ"),
    ("town", "独贵塔拉镇避难场所 (illustrative)", 108.33, 40.62, 5000, "DGT"),
    ("town", "吉日嘎朗图镇避难场所 (illustrative)", 108.98, 40.28, 3000, "JRG"),
    ("town", "呼和木独镇避难场所 (illustrative)", 107.52, 40.40, 3000, "HHM"),
    ("town", "巴拉贡镇避难场所 (illustrative)", 107.10, 40.05, 3000, "BLG"),
    ("town", "伊和乌素苏木避难场所 (illustrative)", 107.78, 39.72, 1500, "YHW"),
    ("zone", "杭锦旗经济开发区避难场所 (illustrative)", 108.44, 40.66, 4000, "KFQ"),
    ("village", "沿河村避难点 1 (illustrative)", 107.90, 40.70, 800, None),
    ("village", "沿河村避难点 2 (illustrative)", 108.66, 40.60, 800, None),
    ("village", "沿河村避难点 3 (illustrative)", 109.10, 40.45, 600, None),
    ("village", "沿河村避难点 4 (illustrative)", 107.25, 40.22, 600, None),
    ("village", "南部牧区避难点 (illustrative)", 108.30, 39.60, 400, None),
]


def make_shelters(out, townships):
    study = read_study_area(out)
    path = os.path.join(out, "emergency-shelters.gpkg")
    gp = new_gpkg(path)
    lyr = gp.CreateLayer("emergency_shelters", srs(4326), ogr.wkbPoint,
                         ["GEOMETRY_NAME=geom", "FID=fid",
                          "IDENTIFIER=emergency_shelters (illustrative)",
                          "DESCRIPTION=ILLUSTRATIVE, NOT OFFICIAL: made-up emergency shelter "
                          "sites at approximate town seats and villages."])
    for fname, typ in (("name", ogr.OFTString), ("kind", ogr.OFTString),
                       ("capacity", ogr.OFTInteger), ("township", ogr.OFTString)):
        lyr.CreateField(ogr.FieldDefn(fname, typ))
    tgeom = [(code, clean_polygons(g)) for code, _, _, g in townships]
    gp.StartTransaction()
    for kind, name, lon, lat, cap, code in SHELTERS:
        pt = ll_point(lon, lat)
        assert study.Contains(pt), name
        inside = [c for c, g in tgeom if g.Contains(pt)]
        assert len(inside) == 1 and (code is None or inside[0] == code), (name, inside)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("name", name)
        f.SetField("kind", kind)
        f.SetField("capacity", cap)
        f.SetField("township", inside[0])
        f.SetGeometry(pt)
        lyr.CreateFeature(f)
    gp.CommitTransaction()
    gp = None
    print("shelters: %d points, capacity %d" % (len(SHELTERS), sum(s[4] for s in SHELTERS)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "layers"))
    ref = os.path.join(out, "reference")
    dem = Dem(os.path.join(ref, "dem_mapzen_5arcmin.tif"))
    river = River(ref, dem)
    print("river: %d vertices, %.0f km, profile %.0f..%.0f m"
          % (len(river.ll), river.chainage[-1] / 1000, river.z.min(), river.z.max()))
    make_context(out, ref, river)
    make_study_area(out, river)
    make_seismic(out, ref)
    make_fire(out, ref, river, dem)
    make_flood(out, river, dem)
    make_flood(out, river, dem, years=200)
    townships = make_townships(out)
    make_standard_grid(out)
    make_detention(out, river)
    pop, pop_gt, pop_x, pop_y, pop_inside = make_population(out, river)
    make_shelters(out, townships)
    make_economy(out, pop, pop_gt, pop_x, pop_y, pop_inside)


if __name__ == "__main__":
    main()
