"""Helper of scripts/bench (run with Debian's /usr/bin/python3: needs osgeo + numpy).

Subcommands (BENCH = the bench folder, e.g. /tmp/hazard-zoning-bench):
  data BENCH                 make the synthetic 8192 x 8192 reference dataset in BENCH/data/ (cached:
                             regenerated only when a file or the stamp for DATA_VERSION is missing)
  job BENCH DEMO_JOB         write BENCH/layers/*.yaml and BENCH/jobs/bench.yaml, with the demo job's
                             normalisations, weights, breaks and scheme copied verbatim
  chain BENCH BIN            write BENCH/chain/chain.sh: the GDAL command-line chain built from
                             `hazard-zoning plan` (same alignment options) + gdal_calc.py + COG
  compare BENCH HZ_RUN_DIR   compare hazard-zoning's products with the chain's -> BENCH/compare.json
  report BENCH               the summary table (stdout) and BENCH/bench-summary.json

Everything is deterministic: the dataset is analytic (no random numbers), written with a fixed
timestamp and without .aux.xml side files.
"""
import glob
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()
gdal.SetConfigOption("OGR_CURRENT_DATE", "2000-01-01T00:00:00.000Z")
gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")

DATA_VERSION = "1"           # bump when the dataset below changes (invalidates the cache)
N = int(os.environ.get("BENCH_GRID", "8192"))  # grid size, px (scripts/bench-scale sets BENCH_GRID)
RES = 30.0                   # m
# Grid origin (upper left), EPSG:4545. Both on multiples of RES: hazard-zoning snaps an explicit
# extent outwards to multiples of the resolution (like gdalwarp -tap), so y = 4540000 would give
# 8192 x 8193 px.
X0, Y1 = 420000.0, 4539990.0
X1, Y0 = X0 + N * RES, Y1 - N * RES
EXTENT = (X0, Y0, X1, Y1)
NODATA = -9999.0
FIRE_RES = 0.002             # deg
FIRE_MARGIN = 0.05           # deg around the grid's lon/lat bounds
MASK_COVER = 0.70            # fraction of the grid inside the study-area polygon

FILES = {
    "flood": "bench-flood-depth.tif",
    "fire": "bench-fire-danger.tif",
    "seismic": "bench-seismic-pga.gpkg",
    "mask": "bench-study-area.gpkg",
}
# job key -> bench layer name (the demo job's keys)
LAYER_NAMES = {"flood": "bench-flood-depth", "fire": "bench-fire-danger", "seismic": "bench-seismic-pga"}
MASK_NAME = "bench-study-area"


def srs(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


SRS_GK, SRS_CGCS, SRS_WGS = srs(4545), srs(4490), srs(4326)


def transformed(g, src, dst):
    g = g.Clone()
    g.AssignSpatialReference(src)
    g.Transform(osr.CoordinateTransformation(src, dst))
    return g


def polygon(points):
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in points:
        ring.AddPoint_2D(float(x), float(y))
    ring.CloseRings()
    p = ogr.Geometry(ogr.wkbPolygon)
    p.AddGeometry(ring)
    return p


def box(xmin, ymin, xmax, ymax):
    return polygon([(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax)])


def multipolygon(g):
    out = ogr.Geometry(ogr.wkbMultiPolygon)
    t = ogr.GT_Flatten(g.GetGeometryType())
    if t == ogr.wkbPolygon:
        out.AddGeometry(g)
    elif t in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        for i in range(g.GetGeometryCount()):
            sub = multipolygon(g.GetGeometryRef(i))
            for j in range(sub.GetGeometryCount()):
                out.AddGeometry(sub.GetGeometryRef(j))
    return out


def write_gtiff(path, nx, ny, gt, sr, fill_rows, desc, unit):
    """Float32 tiled DEFLATE GeoTIFF written strip by strip: fill_rows(r0, r1) -> array."""
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    ds = gdal.GetDriverByName("GTiff").Create(
        tmp, nx, ny, 1, gdal.GDT_Float32,
        ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=NO"])
    ds.SetGeoTransform(gt)
    ds.SetProjection(sr.ExportToWkt())
    ds.SetMetadata({"DESCRIPTION": "SYNTHETIC BENCHMARK DATA (scripts/bench_data.py) - not a hazard map"})
    b = ds.GetRasterBand(1)
    b.SetNoDataValue(NODATA)
    b.SetDescription(desc)
    b.SetUnitType(unit)
    for r0 in range(0, ny, 512):
        r1 = min(ny, r0 + 512)
        b.WriteArray(fill_rows(r0, r1).astype(np.float32), 0, r0)
    b.FlushCache()
    ds = None
    os.replace(tmp, path)


def write_gpkg(path, name, sr, features, field=None):
    tmp = path + ".tmp.gpkg"
    for p in (tmp, tmp + "-journal"):
        if os.path.exists(p):
            os.remove(p)
    gp = ogr.GetDriverByName("GPKG").CreateDataSource(tmp)
    lyr = gp.CreateLayer(name, sr, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom", "FID=fid"])
    if field:
        lyr.CreateField(ogr.FieldDefn(field, ogr.OFTReal))
    gp.StartTransaction()
    for value, geom in features:
        f = ogr.Feature(lyr.GetLayerDefn())
        if field:
            f.SetField(field, value)
        f.SetGeometry(multipolygon(geom))
        lyr.CreateFeature(f)
    gp.CommitTransaction()
    gp = None
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------
# (a) flood depth: EPSG:4545, 30 m, 0..4 m in a band along a sinuous river (+ a tributary)
# ------------------------------------------------------------------------------------------------
def river_y(x):
    """Main river centreline y(x) (west -> east) and its slope."""
    t = (x - X0) / 1000.0
    y = Y0 + 0.62 * (Y1 - Y0) + 25000 * np.sin(2 * np.pi * t / 120 + 0.3) + 6000 * np.sin(2 * np.pi * t / 37 + 1.1)
    dy = 25000 * 2 * np.pi / 120000 * np.cos(2 * np.pi * t / 120 + 0.3) \
        + 6000 * 2 * np.pi / 37000 * np.cos(2 * np.pi * t / 37 + 1.1)
    return y, dy


def tributary_x(y):
    """Tributary centreline x(y) (south -> north) and its slope."""
    t = (y - Y0) / 1000.0
    x = X0 + 0.58 * (X1 - X0) + 15000 * np.sin(2 * np.pi * t / 90 + 0.5) + 4000 * np.sin(2 * np.pi * t / 23)
    dx = 15000 * 2 * np.pi / 90000 * np.cos(2 * np.pi * t / 90 + 0.5) + 4000 * 2 * np.pi / 23000 * np.cos(2 * np.pi * t / 23)
    return x, dx


def flood_rows(r0, r1):
    x = X0 + (np.arange(N) + 0.5) * RES
    y = (Y1 - (np.arange(r0, r1) + 0.5) * RES)[:, None]
    yc, dy = river_y(x)
    d1 = np.abs(y - yc) / np.sqrt(1 + dy * dy)
    xc, dx = tributary_x(y)
    d2 = np.abs(x - xc) / np.sqrt(1 + dx * dx)
    d2 = np.where(y < yc, d2, np.inf)                          # the tributary ends at the main river
    bank = 3.6 + 0.4 * np.sin(2 * np.pi * (x - X0) / 53000.0)  # 3.2..4.0 m at the bank
    v = np.maximum(bank * (1 - d1 / 9000.0) ** 2 * (d1 < 9000.0),
                   0.8 * bank * (1 - np.minimum(d2, 5000.0) / 5000.0) ** 2)
    v = np.round(np.clip(v, 0, 4) * 100) / 100                 # 0.01 m steps, like the demo
    v[(d1 <= 90.0) | (d2 <= 60.0)] = NODATA                    # the channels themselves
    return v


# ------------------------------------------------------------------------------------------------
# (b) fire danger: EPSG:4326, 0.002 deg, 0..100, grid area + margin, nodata = lakes
# ------------------------------------------------------------------------------------------------
def grid_lonlat_bounds():
    edge = np.linspace(0.0, 1.0, 257)
    pts = [(X0 + (X1 - X0) * e, Y0) for e in edge] + [(X0 + (X1 - X0) * e, Y1) for e in edge] \
        + [(X0, Y0 + (Y1 - Y0) * e) for e in edge] + [(X1, Y0 + (Y1 - Y0) * e) for e in edge]
    ct = osr.CoordinateTransformation(SRS_GK, SRS_WGS)
    ll = np.array(ct.TransformPoints(pts))[:, :2]
    return ll[:, 0].min(), ll[:, 1].min(), ll[:, 0].max(), ll[:, 1].max()


LAKES = [(107.35, 40.55, 0.06), (108.9, 39.7, 0.09), (109.6, 40.2, 0.04), (108.2, 39.3, 0.05)]


def fire_grid():
    w, s, e, n = grid_lonlat_bounds()
    w = math.floor((w - FIRE_MARGIN) / FIRE_RES) * FIRE_RES
    s = math.floor((s - FIRE_MARGIN) / FIRE_RES) * FIRE_RES
    e = math.ceil((e + FIRE_MARGIN) / FIRE_RES) * FIRE_RES
    n = math.ceil((n + FIRE_MARGIN) / FIRE_RES) * FIRE_RES
    nx, ny = int(round((e - w) / FIRE_RES)), int(round((n - s) / FIRE_RES))
    return (round(w, 6), FIRE_RES, 0.0, round(n, 6), 0.0, -FIRE_RES), nx, ny


def fire_rows_for(gt, nx):
    def rows(r0, r1):
        lon = gt[0] + (np.arange(nx) + 0.5) * gt[1]
        lat = (gt[3] + (np.arange(r0, r1) + 0.5) * gt[5])[:, None]
        v = (0.45 + 0.25 * np.sin(lon * 2.1 + 0.4) * np.cos(lat * 2.7 - 0.2)
             + 0.12 * np.sin(lon * 9.0 + lat * 5.0) + 0.06 * np.sin(lon * 31.0 - lat * 23.0 + 1.0)
             + 0.15 * (lat - 40.0))
        v = np.clip(v, 0, 1) * 100.0
        for lo, la, r in LAKES:
            v = np.where((lon - lo) ** 2 + ((lat - la) * 1.3) ** 2 < r * r, NODATA, v)
        return v
    return rows


# ------------------------------------------------------------------------------------------------
# (c) seismic PGA zones: EPSG:4490 polygons, nested buffers (15/40/80 km) around two "faults",
#     tiling the grid + 20 km; (d) study area: EPSG:4326 irregular polygon covering ~70 % of the grid
# ------------------------------------------------------------------------------------------------
def faults():
    f = ogr.Geometry(ogr.wkbMultiLineString)
    for pts in ([(X0 + 30000, Y0 + 20000), (X0 + 90000, Y0 + 80000), (X0 + 130000, Y0 + 95000),
                 (X0 + 200000, Y0 + 170000)],
                [(X0 + 60000, Y1 - 25000), (X0 + 140000, Y1 - 40000), (X1 - 10000, Y1 - 20000)]):
        line = ogr.Geometry(ogr.wkbLineString)
        for x, y in pts:
            line.AddPoint_2D(x, y)
        f.AddGeometry(line)
    return f


def seismic_zones():
    area = box(X0 - 20000, Y0 - 20000, X1 + 20000, Y1 + 20000)
    area.Segmentize(2000.0)
    fl = faults()
    zones, covered = [], None
    for pga, d in ((0.20, 15000.0), (0.15, 40000.0), (0.10, 80000.0)):
        buf = fl.Buffer(d, 16).Intersection(area)
        zones.append((pga, buf if covered is None else buf.Difference(covered)))
        covered = buf if covered is None else covered.Union(buf)
    zones.append((0.05, area.Difference(covered)))
    return [(pga, transformed(z, SRS_GK, SRS_CGCS)) for pga, z in zones]


def study_area():
    cx, cy = (X0 + X1) / 2 + 4000, (Y0 + Y1) / 2 - 3000
    th = np.linspace(0, 2 * np.pi, 2048, endpoint=False)
    shape = 1 + 0.12 * np.sin(3 * th) + 0.07 * np.sin(7 * th + 1) + 0.04 * np.sin(13 * th + 2) \
        + 0.015 * np.sin(41 * th + 0.5)
    grid = box(*EXTENT)

    def poly(r0):
        return polygon(zip(cx + r0 * shape * np.cos(th), cy + r0 * shape * np.sin(th)))

    lo, hi = 50000.0, 200000.0          # bisection on the radius: ~MASK_COVER of the grid inside
    for _ in range(40):
        mid = (lo + hi) / 2
        if poly(mid).Intersection(grid).GetArea() < MASK_COVER * grid.GetArea():
            lo = mid
        else:
            hi = mid
    p = poly(round(lo, 1))
    cover = p.Intersection(grid).GetArea() / grid.GetArea()
    return transformed(p, SRS_GK, SRS_WGS), cover


def cmd_data(bench):
    d = os.path.join(bench, "data")
    os.makedirs(d, exist_ok=True)
    stamp = os.path.join(d, ".complete")
    paths = {k: os.path.join(d, v) for k, v in FILES.items()}
    want = "version %s grid %d px origin %r %r res %r\n" % (DATA_VERSION, N, X0, Y1, RES)
    if all(os.path.exists(p) for p in paths.values()) and os.path.exists(stamp) and open(stamp).read() == want:
        print("bench data: cached in %s" % d, file=sys.stderr)
        return
    if os.path.exists(stamp):
        os.remove(stamp)
    print("bench data: generating %d x %d px in %s ..." % (N, N, d), file=sys.stderr)
    write_gtiff(paths["flood"], N, N, (X0, RES, 0.0, Y1, 0.0, -RES), SRS_GK, flood_rows,
                "synthetic flood depth", "m")
    gt, nx, ny = fire_grid()
    write_gtiff(paths["fire"], nx, ny, gt, SRS_WGS, fire_rows_for(gt, nx), "synthetic fire danger", "index")
    print("bench data: fire %d x %d px at %g deg, origin %s" % (nx, ny, FIRE_RES, gt[:4:3]), file=sys.stderr)
    write_gpkg(paths["seismic"], "bench_seismic_pga", SRS_CGCS, seismic_zones(), field="pga_g")
    mask, cover = study_area()
    write_gpkg(paths["mask"], "bench_study_area", SRS_WGS, [(None, mask)])
    print("bench data: study area covers %.1f %% of the grid" % (100 * cover), file=sys.stderr)
    with open(stamp, "w") as f:
        f.write(want)


# ------------------------------------------------------------------------------------------------
# job: layer yamls + bench job; the demo job's normalisations etc. are parsed from its text
# ------------------------------------------------------------------------------------------------
def flow_to_json(text):
    """The flow-style YAML of the demo job (`{ curve: [[0, 0], ...] }`) as JSON."""
    return json.loads(re.sub(r'([{,]\s*)([A-Za-z0-9_.+-]+)\s*:', r'\1"\2":', text))


def parse_demo(path):
    """Extracts layers (key, resampling, normalize text), weighted-sum, breaks and scheme."""
    layers, section, key = [], None, None
    out = {"layers": layers}
    for raw in open(path, encoding="utf-8"):
        line = raw.split(" #")[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        name, _, value = line.strip().partition(":")
        value = value.strip()
        if indent == 0:
            section = name
        elif section == "layers" and indent == 2:
            key = name
            layers.append({"key": key})
        elif section == "layers" and indent == 4 and name in ("resampling", "normalize"):
            layers[-1][name] = value
        elif section == "combine" and name == "weighted-sum":
            out["weights_text"] = value
        elif section == "classify" and name in ("breaks", "scheme"):
            out[name + "_text"] = value
    for k in ("weights_text", "breaks_text", "scheme_text"):
        if k not in out:
            raise SystemExit("bench: cannot find %s in %s" % (k, path))
    for layer in layers:
        if layer["key"] not in LAYER_NAMES or "normalize" not in layer:
            raise SystemExit("bench: demo layer %r is not known to the bench" % layer["key"])
        layer["normalize_value"] = flow_to_json(layer["normalize"])
    out["weights"] = flow_to_json(out["weights_text"])
    out["breaks"] = json.loads(out["breaks_text"])
    return out


LAYER_YAML = {
    "bench-flood-depth": "source: ../data/%s\nband: 1\nnodata: -9999\nunits: m\nhazard: flood\n"
                         "description: Synthetic flood depth 0..4 m (EPSG:4545, 30 m), benchmark data.\n" % FILES["flood"],
    "bench-fire-danger": "source: ../data/%s\nband: 1\nnodata: -9999\nunits: index\nhazard: fire\n"
                         "description: Synthetic fire danger 0..100 (EPSG:4326, 0.002 degree), benchmark data.\n" % FILES["fire"],
    "bench-seismic-pga": "source: ../data/%s\nlayer: bench_seismic_pga\nattribute: pga_g\nunits: g\nhazard: seismic\n"
                         "description: Synthetic PGA zones 0.05..0.20 g (EPSG:4490), benchmark data.\n" % FILES["seismic"],
    "bench-study-area": "source: ../data/%s\nlayer: bench_study_area\nunits: none\nhazard: context\n"
                        "description: Synthetic study area (EPSG:4326), about 70 %% of the grid, benchmark data.\n" % FILES["mask"],
}


def cmd_job(bench, demo_job):
    demo = parse_demo(demo_job)
    os.makedirs(os.path.join(bench, "layers"), exist_ok=True)
    os.makedirs(os.path.join(bench, "jobs"), exist_ok=True)
    for name, text in LAYER_YAML.items():
        with open(os.path.join(bench, "layers", name + ".yaml"), "w") as f:
            f.write(text)
    lines = ["version: 1", "name: hazard-zoning-bench",
             "title: HazardZoning benchmark (synthetic %d x %d px)" % (N, N),
             "grid:", "  crs: EPSG:4545", "  resolution: %g" % RES,
             "  extent: [%s]" % ", ".join("%.0f" % v for v in EXTENT), "  mask: %s" % MASK_NAME, "layers:"]
    for layer in demo["layers"]:
        lines += ["  %s:" % layer["key"], "    layer: %s" % LAYER_NAMES[layer["key"]]]
        if "resampling" in layer:
            lines.append("    resampling: %s" % layer["resampling"])
        normalize = layer["normalize"]
        if os.environ.get("BENCH_DATA_DRIVEN") == "1" and "linear" in layer["normalize_value"]:
            # The data-driven variant (scripts/bench-scale, BENCH_SCALE_DATA_DRIVEN=1): the range
            # of this layer from the data, one statistics pass over the grid before the main pass.
            normalize = "{ min-max: data }"
        lines.append("    normalize: %s" % normalize)
    lines += ["combine:", "  weighted-sum: %s" % demo["weights_text"],
              "classify:", "  scheme: %s" % demo["scheme_text"], "  breaks: %s" % demo["breaks_text"],
              "outputs:", "  directory: out/bench", "  products: [risk-index, risk-class]", ""]
    with open(os.path.join(bench, "jobs", "bench.yaml"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(bench, "jobs", "bench.json"), "w") as f:
        json.dump(demo, f, indent=1)


# ------------------------------------------------------------------------------------------------
# chain: the GDAL command-line peer
# ------------------------------------------------------------------------------------------------
def f32(v):
    """A Float32 constant for gdal_calc's numpy namespace, rounded from the double exactly as the
    tool does (Float(Double))."""
    return "float32(%r)" % float(v)


def normalise_expr(spec, var):
    """numpy (Float32) expression of one normalisation, the same operations in the same order as
    RasterKernel's CompiledNormalization."""
    if "curve" in spec:
        pts = spec["curve"]
        expr = f32(pts[0][1])
        for (ax, ay), (bx, by) in zip(pts, pts[1:]):
            expr = "(%s + clip(%s - %s, float32(0), %s) * %s)" % (
                expr, var, f32(ax), f32(bx - ax), f32((by - ay) / (bx - ax)))
        return expr
    if "linear" in spec:
        lo, hi = spec["linear"]
        return "clip((%s - %s) * %s, float32(0), float32(1))" % (var, f32(lo), f32(1 / (hi - lo)))
    if "table" in spec:
        default = spec.get("default")
        expr = f32(default) if default is not None else "float32(nan)"
        for key, value in spec["table"].items():
            k = float(key)
            expr = "where(abs(%s - %s) <= %s, %s, %s)" % (var, f32(k), f32(1e-5 * max(1.0, abs(k))), f32(value), expr)
        return expr
    raise SystemExit("bench: unknown normalisation %r" % spec)


def index_expr(demo, letters, mask_letter):
    terms = []
    for layer, var in zip(demo["layers"], letters):
        w = demo["weights"][layer["key"]]
        terms.append("where(isfinite(%s), %s, float32(nan)) * %s" % (var, normalise_expr(layer["normalize_value"], var), f32(w)))
    acc = " + ".join(terms)                     # left to right, as the kernel accumulates
    return ("(lambda a: where(a == a, a, float32(-9999)))(where(%s != 0, %s, float32(nan)))" % (mask_letter, acc))


def class_expr(demo, var):
    breaks = " + ".join("(%s >= %s)" % (var, f32(b)) for b in demo["breaks"])
    return "where(%s == float32(-9999), 0, 1 + %s)" % (var, breaks)


COLOURS = {"four-colour": [(0, 112, 192), (255, 230, 0), (255, 140, 0), (230, 0, 0)],
           "five-level": [(56, 168, 0), (176, 224, 0), (255, 255, 0), (255, 128, 0), (255, 0, 0)],
           # The census hazard levels (ClassScheme.censusHazard), the scheme of the comprehensive job since issue 24.
           "census-hazard": [(26, 150, 65), (166, 217, 106), (253, 174, 97), (215, 25, 28)]}


def parse_plan(text):
    """The alignment command lines from `hazard-zoning plan`: {key: [argv, ...]} (mask under 'mask')."""
    cmds = {}
    key = None
    for line in text.splitlines():
        m = re.match(r"^  mask: \S+ — (.*)$", line)
        if m:
            cmds["mask"] = m.group(1)
            continue
        m = re.match(r"^  (\w+): \S+ \[", line)
        if m:
            key = m.group(1)
            continue
        m = re.match(r"^    align: (.*)$", line)
        if m and key:
            cmds[key] = m.group(1)
    out = {}
    for k, c in cmds.items():
        argv, steps = shlex.split(c), [[]]
        for a in argv:
            if a == "&&":
                steps.append([])
            else:
                steps[-1].append(a)
        out[k] = steps
    return out


def cmd_chain(bench, bindir):
    demo = json.load(open(os.path.join(bench, "jobs", "bench.json")))
    job = os.path.join(bench, "jobs", "bench.yaml")
    plan = subprocess.run([os.path.join(bindir, "hazard-zoning"), "plan", job, "--layers", os.path.join(bench, "layers")],
                          check=True, capture_output=True, text=True).stdout
    with open(os.path.join(bench, "plan.txt"), "w") as f:
        f.write(plan)
    steps = parse_plan(plan)
    keys = [layer["key"] for layer in demo["layers"]]
    if sorted(steps) != sorted(keys + ["mask"]):
        raise SystemExit("bench: plan gives steps for %s, expected %s + mask" % (sorted(steps), keys))
    w = os.path.join(bench, "chain", "work")
    os.makedirs(os.path.join(bench, "chain"), exist_ok=True)
    tiled = ["-co", "TILED=YES", "-co", "BLOCKXSIZE=512", "-co", "BLOCKYSIZE=512"]
    cache = ["--config", "GDAL_CACHEMAX", "512"]
    script = ["#!/usr/bin/env bash",
              "# The GDAL command-line chain equivalent to one hazard-zoning run (generated by scripts/bench_data.py).",
              "# Each step runs under /usr/bin/time -v writing $T/NN-name.time.",
              "set -euo pipefail", 'T=${1:?timing folder}', 'mkdir -p "$T"',
              "rm -rf %s %s && mkdir -p %s" % (shlex.quote(w), shlex.quote(os.path.join(bench, "chain", "products")),
                                               shlex.quote(w)),
              "export GDAL_CACHEMAX=512   # also for gdal_calc.py (no --config option there)"]
    n = 0

    def step(name, argv):
        nonlocal n
        n += 1
        script.append('/usr/bin/time -v -o "$T/%02d-%s.time" %s' % (n, name, " ".join(shlex.quote(a) for a in argv)))

    aligned = {}
    for k in keys + ["mask"]:
        out = os.path.join(w, k + ".tif")
        aligned[k] = out
        for argv in steps[k]:
            prog = argv[0]
            argv = [out if a == "<out>.tif" else os.path.join(w, k + "-reprojected.gpkg") if a == "<reprojected>.gpkg" else a
                    for a in argv]
            if prog == "gdalwarp":
                step("gdalwarp-" + k, argv[:1] + ["-q"] + cache + ["-multi", "-wo", "NUM_THREADS=ALL_CPUS", "-of", "GTiff"]
                     + tiled + argv[1:])
            elif prog == "ogr2ogr":
                step("ogr2ogr-" + k, argv[:1] + ["-q"] + cache + argv[1:])
            elif prog == "gdal_rasterize":
                step("gdal_rasterize-" + k, argv[:1] + ["-q"] + cache + ["-of", "GTiff"] + tiled + argv[1:])
            else:
                raise SystemExit("bench: unexpected program in plan: %s" % prog)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    calc = ["/usr/bin/gdal_calc.py", "--quiet", "--overwrite", "--hideNoData"]
    for k, letter in zip(keys + ["mask"], letters):
        calc += ["-" + letter, aligned[k]]
    index_tif, class_tif = os.path.join(w, "index.tif"), os.path.join(w, "class.tif")
    expr = index_expr(demo, letters[:len(keys)], letters[len(keys)])
    with open(os.path.join(bench, "chain", "calc.json"), "w") as f:
        json.dump({"index_expr": expr, "inputs": dict(zip(letters, keys + ["mask"]))}, f, indent=1)
    step("gdal_calc-index", calc + ["--outfile", index_tif, "--type", "Float32", "--NoDataValue", "-9999",
                                    "--calc", expr] + ["--co=" + c for c in tiled[1::2]])
    palette = os.path.join(bench, "chain", "colours.txt")
    with open(palette, "w") as f:
        f.write("0 0 0 0 0\n" + "".join("%d %d %d %d 255\n" % ((i + 1,) + c)
                                         for i, c in enumerate(COLOURS[demo["scheme_text"]])))
    step("gdal_calc-class", ["/usr/bin/gdal_calc.py", "--quiet", "--overwrite", "--hideNoData", "-A", index_tif,
                             "--outfile", class_tif, "--type", "Byte", "--NoDataValue", "0", "--color-table", palette,
                             "--calc", class_expr(demo, "A")] + ["--co=" + c for c in tiled[1::2]])
    products = os.path.join(bench, "chain", "products")
    script.append("mkdir -p %s" % shlex.quote(products))
    cog = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=512", "-co", "NUM_THREADS=ALL_CPUS"]
    step("cog-index", ["gdal_translate", "-q"] + cache + cog + ["-co", "OVERVIEW_RESAMPLING=AVERAGE", "-co", "PREDICTOR=YES",
                                                               index_tif, os.path.join(products, "risk_index.tif")])
    step("cog-class", ["gdal_translate", "-q"] + cache + cog + ["-co", "OVERVIEW_RESAMPLING=NEAREST",
                                                               class_tif, os.path.join(products, "risk_class.tif")])
    # The same job for the rasterio + numpy peer (scripts/bench_rio.py): the plan's steps and the chain's expressions.
    with open(os.path.join(bench, "chain", "rio.json"), "w") as f:
        json.dump({"keys": keys, "letters": list(letters[:len(keys) + 1]), "steps": {k: steps[k] for k in keys + ["mask"]},
                   "index_expr": expr, "class_expr": class_expr(demo, "A"),
                   "colours": {"0": [0, 0, 0, 0]} | {str(i + 1): list(c) + [255]
                                                      for i, c in enumerate(COLOURS[demo["scheme_text"]])}}, f, indent=1)
    path = os.path.join(bench, "chain", "chain.sh")
    with open(path, "w") as f:
        f.write("\n".join(script) + "\n")
    os.chmod(path, 0o755)


# ------------------------------------------------------------------------------------------------
# compare
# ------------------------------------------------------------------------------------------------
def cmd_compare(bench, hz_run):
    demo = json.load(open(os.path.join(bench, "jobs", "bench.json")))
    breaks = np.array(demo["breaks"], dtype=np.float32)
    chain = os.path.join(bench, "chain", "products")
    ds = {n: gdal.Open(os.path.join(d, n2)) for n, d, n2 in (
        ("hz_index", hz_run, "risk_index.tif"), ("hz_class", hz_run, "risk_class.tif"),
        ("ch_index", chain, "risk_index.tif"), ("ch_class", chain, "risk_class.tif"))}
    bands = {n: d.GetRasterBand(1) for n, d in ds.items()}
    nx, ny = ds["hz_index"].RasterXSize, ds["hz_index"].RasterYSize
    same_grid = all((d.RasterXSize, d.RasterYSize) == (nx, ny) for d in ds.values()) and \
        all(np.allclose(d.GetGeoTransform(), ds["hz_index"].GetGeoTransform()) for d in ds.values())
    r = {"pixels": nx * ny, "same_grid": bool(same_grid), "class_diff": 0, "class_diff_validity": 0,
         "class_diff_valid_both": 0, "class_diff_near_break_1e-5": 0, "class_diff_max_dist_to_break": 0.0,
         "index_valid_both": 0, "index_bit_identical": 0, "index_max_abs_diff": 0.0, "index_diff_gt_1e-6": 0,
         "index_diff_gt_1e-3": 0, "index_diff_gt_1e-2": 0,
         "hz_class_consistent_with_index": True, "chain_class_consistent_with_index": True,
         "hz_nodata_props": {}, "chain_nodata_props": {}}
    counts = {"hz": np.zeros(256, np.int64), "ch": np.zeros(256, np.int64)}
    for r0 in range(0, ny, 512):
        h = min(512, ny - r0)
        a = {n: b.ReadAsArray(0, r0, nx, h) for n, b in bands.items()}
        hi, ci, hc, cc = a["hz_index"], a["ch_index"], a["hz_class"], a["ch_class"]
        for who, idx, cls in (("hz", hi, hc), ("chain", ci, cc)):
            valid = idx != np.float32(-9999)
            expect = np.where(valid, 1 + (idx[..., None] >= breaks).sum(axis=-1), 0)
            if np.any(expect != cls):
                r[who + "_class_consistent_with_index"] = False
        counts["hz"] += np.bincount(hc.ravel(), minlength=256)
        counts["ch"] += np.bincount(cc.ravel(), minlength=256)
        diff = hc != cc
        r["class_diff"] += int(diff.sum())
        validity = (hc == 0) != (cc == 0)
        r["class_diff_validity"] += int(validity.sum())
        both = (hc != 0) & (cc != 0)
        dv = diff & both
        r["class_diff_valid_both"] += int(dv.sum())
        if dv.any():
            dist = np.abs(hi[dv][:, None] - breaks).min(axis=1)
            r["class_diff_near_break_1e-5"] += int((dist <= 1e-5).sum())
            r["class_diff_max_dist_to_break"] = max(r["class_diff_max_dist_to_break"], float(dist.max()))
        vb = (hi != np.float32(-9999)) & (ci != np.float32(-9999))
        d = np.abs(hi[vb].astype(np.float64) - ci[vb].astype(np.float64))
        r["index_valid_both"] += int(vb.sum())
        r["index_bit_identical"] += int((hi[vb].view(np.uint32) == ci[vb].view(np.uint32)).sum())
        if d.size:
            r["index_max_abs_diff"] = max(r["index_max_abs_diff"], float(d.max()))
        r["index_diff_gt_1e-6"] += int((d > 1e-6).sum())
        r["index_diff_gt_1e-3"] += int((d > 1e-3).sum())
        r["index_diff_gt_1e-2"] += int((d > 1e-2).sum())
    r["hz_class_counts"] = {str(i): int(c) for i, c in enumerate(counts["hz"]) if c}
    r["chain_class_counts"] = {str(i): int(c) for i, c in enumerate(counts["ch"]) if c}
    for who, n in (("hz", "hz_class"), ("chain", "ch_class")):
        b = bands[n]
        ct = b.GetColorTable()
        r[who + "_nodata_props"] = {"index_nodata": bands[n.replace("class", "index")].GetNoDataValue(),
                                    "class_nodata": b.GetNoDataValue(),
                                    "colour_table_entries": ct.GetCount() if ct else 0,
                                    "index_overviews": bands[n.replace("class", "index")].GetOverviewCount(),
                                    "class_overviews": b.GetOverviewCount()}
    # Where do index differences come from? Redo the tool's alignment of the rasters (a warped VRT
    # read in 512 x 512 windows, as its workers do), compare it with the chain's gdalwarp output, and
    # recompute the index from it (+ the chain's rasterised vectors and mask) with the chain's own
    # gdal_calc expression: that must be bit-identical to hazard-zoning's index.
    r.update(recompute_check(bench, hz_run))
    with open(os.path.join(bench, "compare.json"), "w") as f:
        json.dump(r, f, indent=1)
    print(json.dumps(r, indent=1))


def recompute_check(bench, hz_run):
    calc = json.load(open(os.path.join(bench, "chain", "calc.json")))
    steps = parse_plan(open(os.path.join(bench, "plan.txt")).read())
    work = os.path.join(bench, "chain", "work")
    vrts, bands, chain_bands = {}, {}, {}
    for letter, key in calc["inputs"].items():
        ref = gdal.Open(os.path.join(work, key + ".tif"))
        chain_bands[letter] = (ref, ref.GetRasterBand(1))
        argv = steps[key][0]
        if argv[0] == "gdalwarp":
            vrt = gdal.Warp("/vsimem/%s.vrt" % key, argv[-2],
                            options=argv[1:-2] + ["-of", "VRT", "-co", "BLOCKXSIZE=512", "-co", "BLOCKYSIZE=512"])
            vrts[letter] = vrt
            bands[letter] = vrt.GetRasterBand(1)
        else:
            bands[letter] = chain_bands[letter][1]
    hz = gdal.Open(os.path.join(hz_run, "risk_index.tif"))
    hzb = hz.GetRasterBand(1)
    namespace = {k: getattr(np, k) for k in dir(np) if not k.startswith("__")}
    warp = {calc["inputs"][l]: {"differing_pixels": 0, "max_abs_diff": 0.0, "nodata_mismatch": 0} for l in vrts}
    mismatch = 0
    nx, ny = hz.RasterXSize, hz.RasterYSize
    for y in range(0, ny, 512):
        for x in range(0, nx, 512):
            w, h = min(512, nx - x), min(512, ny - y)
            arrays = {l: b.ReadAsArray(x, y, w, h) for l, b in bands.items()}
            for l in vrts:
                a = arrays[l].astype(np.float64)
                b = chain_bands[l][1].ReadAsArray(x, y, w, h).astype(np.float64)
                an, bn = np.isnan(a), np.isnan(b)
                ok = ~an & ~bn
                d = np.abs(a[ok] - b[ok])
                st = warp[calc["inputs"][l]]
                st["nodata_mismatch"] += int((an != bn).sum())
                st["differing_pixels"] += int((d > 0).sum())
                if d.size:
                    st["max_abs_diff"] = max(st["max_abs_diff"], float(d.max()))
            idx = np.asarray(eval(calc["index_expr"], namespace, arrays), dtype=np.float32)
            mismatch += int((idx.view(np.uint32) != hzb.ReadAsArray(x, y, w, h).view(np.uint32)).sum())
    for k in list(vrts):
        gdal.Unlink("/vsimem/%s.vrt" % calc["inputs"][k])
    return {"warp_per_block_vs_gdalwarp": warp, "index_recomputed_from_per_block_warp_mismatches": mismatch}


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def parse_time(path):
    t = {}
    for line in open(path):
        k, _, v = line.strip().rpartition(": ")
        if k.startswith("Elapsed (wall clock) time"):
            parts = [float(p) for p in v.split(":")]
            t["wall_s"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
        elif k == "Maximum resident set size (kbytes)":
            t["max_rss_mib"] = int(v) / 1024.0
        elif k == "User time (seconds)":
            t["user_s"] = float(v)
        elif k == "System time (seconds)":
            t["sys_s"] = float(v)
        elif k == "Exit status":
            t["exit"] = int(v)
    return t


def busy(res, name):
    """CPU share other processes used just before a run (scripts/bench's quiet())."""
    try:
        return int(open(os.path.join(res, name + ".busy")).read())
    except (OSError, ValueError):
        return None


def others_cpu(res, name, own_cpu_s):
    """CPU-seconds other processes used during a run: all busy CPU time minus the run's own."""
    try:
        j0, j1, hz = (int(v) for v in open(os.path.join(res, name + ".cpu")).read().split())
    except (OSError, ValueError):
        return None
    return round(max(0.0, (j1 - j0) / hz - own_cpu_s), 2)


def cmd_report(bench):
    res = os.path.join(bench, "results")
    hz_runs = []
    for p in sorted(glob.glob(os.path.join(res, "hz-*.time"))):
        name = os.path.basename(p)[:-5]
        t = parse_time(p)
        man = json.load(open(os.path.join(res, name + ".manifest.json")))
        t.update(run=name, timings=man["timings"], threads=man["threads"], busy_before_pct=busy(res, name),
                 others_cpu_s=others_cpu(res, name, t["user_s"] + t["sys_s"]))
        hz_runs.append(t)
    chain_runs = []
    for d in sorted(glob.glob(os.path.join(res, "chain-*"))):
        if not os.path.isdir(d):
            continue
        steps = {os.path.basename(p)[:-5]: parse_time(p) for p in sorted(glob.glob(os.path.join(d, "*.time")))}
        whole = parse_time(d + ".time")
        chain_runs.append({"run": os.path.basename(d), "wall_s": whole["wall_s"],
                           "sum_step_wall_s": round(sum(s["wall_s"] for s in steps.values()), 2),
                           "max_rss_mib": max(s["max_rss_mib"] for s in steps.values()),
                           "outer_max_rss_mib": whole["max_rss_mib"],
                           "cpu_s": round(whole["user_s"] + whole["sys_s"], 2), "steps": steps,
                           "busy_before_pct": busy(res, os.path.basename(d)),
                           "others_cpu_s": others_cpu(res, os.path.basename(d), whole["user_s"] + whole["sys_s"])})
    kbs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(res, "kernel-bench-*.json")))]
    kb = sorted(kbs, key=lambda k: k["kernel_to_memcpy"])[len(kbs) // 2]
    cmp_ = json.load(open(os.path.join(bench, "compare.json")))
    sens = [parse_time(p) for p in sorted(glob.glob(os.path.join(res, "sens-*.time")))]
    reruns = [parse_time(p) for p in sorted(glob.glob(os.path.join(res, "rerun-*.time")))]
    rerun_s = max(r["wall_s"] for r in reruns) if reruns else None
    hz = dict(min(hz_runs, key=lambda r: r["wall_s"]), max_rss_mib=max(r["max_rss_mib"] for r in hz_runs))
    ch = dict(min(chain_runs, key=lambda r: r["wall_s"]), max_rss_mib=max(r["max_rss_mib"] for r in chain_runs))
    speed = ch["wall_s"] / hz["wall_s"]
    rio_runs = []
    for p in sorted(glob.glob(os.path.join(res, "rio-*.time"))):
        name = os.path.basename(p)[:-5]
        t = parse_time(p)
        t.update(run=name, busy_before_pct=busy(res, name), others_cpu_s=others_cpu(res, name, t["user_s"] + t["sys_s"]))
        rio_runs.append(t)
    rio = dict(min(rio_runs, key=lambda r: r["wall_s"]), max_rss_mib=max(r["max_rss_mib"] for r in rio_runs)) if rio_runs else None
    peers = {"gdal_chain": ch["wall_s"]} | ({"rasterio_numpy": rio["wall_s"]} if rio else {})
    fastest = min(peers, key=peers.get)
    speed_fastest = peers[fastest] / hz["wall_s"]
    floors = {}
    for name in ("decode", "encode"):
        path = os.path.join(res, "floor-%s.json" % name)
        if os.path.exists(path):
            floors[name] = json.load(open(path))
    summary = {
        "grid": "%d x %d px (EPSG:4545, 30 m)" % (N, N),
        "hazard_zoning": {"wall_s": hz["wall_s"], "max_rss_mib": round(hz["max_rss_mib"], 1),
                          "cpu_s": round(hz["user_s"] + hz["sys_s"], 2), "threads": hz["threads"],
                          "timings": hz["timings"], "runs": hz_runs},
        "gdal_chain": {"wall_s": ch["wall_s"], "max_rss_mib": round(ch["max_rss_mib"], 1), "cpu_s": ch["cpu_s"],
                       "steps": {k: {"wall_s": s["wall_s"], "max_rss_mib": round(s["max_rss_mib"], 1)}
                                 for k, s in ch["steps"].items()},
                       "runs": [{k: v for k, v in r.items() if k != "steps"} for r in chain_runs]},
        "chain_over_hazard_zoning": round(speed, 2),
        "rasterio_numpy": ({"wall_s": rio["wall_s"], "max_rss_mib": round(rio["max_rss_mib"], 1),
                            "cpu_s": round(rio["user_s"] + rio["sys_s"], 2), "runs": rio_runs} if rio else None),
        "fastest_peer": {"name": fastest, "wall_s": peers[fastest], "over_hazard_zoning": round(speed_fastest, 2)},
        "floors": floors,
        "kernel_bench": kb,
        "kernel_bench_runs": kbs,
        "compare": cmp_,
        "no_change_rerun_s": [r["wall_s"] for r in reruns],
        "sensitivity_6_scenarios": ({"wall_s": min(r["wall_s"] for r in sens), "max_rss_mib": max(r["max_rss_mib"] for r in sens),
                                     "over_baseline": round(min(r["wall_s"] for r in sens) / hz["wall_s"] - 1, 3)} if sens else None),
        "targets": {
            "no_change_rerun_le_1s": {"value": rerun_s, "pass": rerun_s is not None and rerun_s <= 1},
            "speed_ge_4x_chain": {"value": round(speed, 2), "pass": speed >= 4},
            "speed_ge_4x_fastest_peer": {"value": round(speed_fastest, 2), "pass": speed_fastest >= 4},
            "peak_rss_le_256_mib": {"value": round(hz["max_rss_mib"], 1), "pass": hz["max_rss_mib"] <= 256},
            "kernel_ge_50pct_memcpy": {"value": round(kb["kernel_to_memcpy"], 3), "pass": kb["kernel_to_memcpy"] >= 0.5},
            "expression_ge_50pct_weighted_sum": {"value": round(kb.get("expression_to_weighted_sum", 0), 3),
                                                 "pass": kb.get("expression_to_weighted_sum", 0) >= 0.5},
        },
    }
    with open(os.path.join(bench, "bench-summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    pf = lambda ok: "PASS" if ok else "MISS"
    tg = summary["targets"]
    print()
    print("HazardZoning benchmark — %s; wall = best of %d hazard-zoning / %d chain runs, RSS = max over them"
          % (summary["grid"], len(hz_runs), len(chain_runs)))
    print("%-28s %10s %14s %10s" % ("", "wall (s)", "peak RSS (MiB)", "CPU (s)"))
    print("%-28s %10.2f %14.1f %10.2f" % ("hazard-zoning (%d threads)" % hz["threads"], hz["wall_s"], hz["max_rss_mib"],
                                          summary["hazard_zoning"]["cpu_s"]))
    print("%-28s %10.2f %14.1f %10.2f" % ("GDAL command-line chain", ch["wall_s"], ch["max_rss_mib"], ch["cpu_s"]))
    for k, s in ch["steps"].items():
        print("  %-26s %10.2f %14.1f" % (k, s["wall_s"], s["max_rss_mib"]))
    if rio:
        print("%-28s %10.2f %14.1f %10.2f" % ("rasterio + numpy (+ COG)", rio["wall_s"], rio["max_rss_mib"],
                                              rio["user_s"] + rio["sys_s"]))
    print("hazard-zoning timings: %s" % json.dumps(hz["timings"], sort_keys=True))
    # Each stage next to its floor: what the same work costs with nothing else (decode: every source
    # block read once through GDAL; encode: the products' tiles compressed with the same codec).
    tm = hz["timings"]
    dec = floors.get("decode", {}).get("wall_s")
    enc = floors.get("encode", {}).get("wall_s")
    print("%-28s %10s %10s" % ("stage", "wall (s)", "floor (s)"))
    # The COGs are compressed during the main pass, so its floor is decoding plus encoding.
    both = dec + enc if dec is not None and enc is not None else dec
    for stage, floor, what in (("align", None, ""),
                               ("compute", both, "decode every source once (1 thread) + encode the products' tiles and "
                                                 "overviews (DEFLATE 6, all cores)" if enc is not None else "decode every source once, 1 thread"),
                               ("write_cog", None, "lays the compressed tiles out")):
        if stage in tm:
            print("  %-26s %10.2f %10s  %s" % (stage, tm[stage], "%.2f" % floor if floor is not None else "-", what))
    if enc is not None:
        print("encode floor: %.2f s wall, %.2f CPU-s on %d threads (%d levels, %.0f Mpx)"
              % (enc, floors["encode"]["cpu_s"], floors["encode"]["threads"], floors["encode"]["levels"], floors["encode"]["pixels"] / 1e6))
    print("chain / hazard-zoning: %.2fx" % speed)
    print("fastest peer (%s) / hazard-zoning: %.2fx" % (fastest, speed_fastest))
    print("kernel-bench (median of %d): kernel %.2f GB/s (%.0f Mpx/s), memcpy %.2f GB/s, ratio %.3f (all ratios: %s)"
          % (len(kbs), kb["kernel_gb_per_s"], kb["kernel_mpixels_per_s"], kb["memcpy_gb_per_s"], kb["kernel_to_memcpy"],
             ", ".join("%.3f" % k["kernel_to_memcpy"] for k in kbs)))
    if "expression_to_weighted_sum" in kb:
        print("expression kernel (the same weighted sum as an expression): %.0f Mpx/s, %.3f of the fixed weighted-sum "
              "kernel's speed; %d class pixels differ, max |Δindex| %.3g"
              % (pixels_n(kb) / kb["expression_seconds"] / 1e6, kb["expression_to_weighted_sum"],
                 kb["expression_class_mismatches"], kb["expression_max_abs_diff"]))
    print("runs: hazard-zoning wall %s s, RSS %s MiB; chain wall %s s, RSS %s MiB"
          % (" ".join("%.2f" % r["wall_s"] for r in hz_runs), " ".join("%.0f" % r["max_rss_mib"] for r in hz_runs),
             " ".join("%.2f" % r["wall_s"] for r in chain_runs), " ".join("%.0f" % r["max_rss_mib"] for r in chain_runs)))
    print("      CPU-s used by other processes during each run (disturbance): hazard-zoning %s; chain %s"
          % (" ".join(str(r["others_cpu_s"]) for r in hz_runs), " ".join(str(r["others_cpu_s"]) for r in chain_runs)))
    if (hz.get("others_cpu_s") or 0) > 1 or (ch.get("others_cpu_s") or 0) > 1:
        print("      WARNING: the best runs were disturbed by other processes (> 1 CPU-s): rerun on a quiet machine")
    print("products: class pixels differing %d of %d (%d validity, %d class among valid, %d within 1e-5 of a break); "
          "max |Δindex| %.3g, %d px |Δindex| > 1e-6"
          % (cmp_["class_diff"], cmp_["pixels"], cmp_["class_diff_validity"], cmp_["class_diff_valid_both"],
             cmp_["class_diff_near_break_1e-5"], cmp_["index_max_abs_diff"], cmp_["index_diff_gt_1e-6"]))
    print("  warping per 512 block (as the tool) vs gdalwarp: %s; index recomputed from the per-block warp: %d px "
          "differ from hazard-zoning's (0 = kernel, rasterising and mask bit-identical)"
          % ("; ".join("%s %d px differ (max %.3g), %d nodata mismatches" % (k, v["differing_pixels"], v["max_abs_diff"],
                                                                           v["nodata_mismatch"])
                       for k, v in cmp_["warp_per_block_vs_gdalwarp"].items()),
             cmp_["index_recomputed_from_per_block_warp_mismatches"]))
    print("targets:")
    print("  %-40s %8s  %s" % ("≥ 4× faster than the GDAL chain", "%.2fx" % speed, pf(tg["speed_ge_4x_chain"]["pass"])))
    print("  %-40s %8s  %s" % ("≥ 4× faster than the fastest peer", "%.2fx" % speed_fastest,
                               pf(tg["speed_ge_4x_fastest_peer"]["pass"])))
    print("  %-40s %8s  %s" % ("≤ 256 MiB peak RSS", "%.0f MiB" % hz["max_rss_mib"], pf(tg["peak_rss_le_256_mib"]["pass"])))
    print("  %-40s %8s  %s" % ("kernel ≥ 50 % of memcpy bandwidth", "%.0f %%" % (100 * kb["kernel_to_memcpy"]),
                               pf(tg["kernel_ge_50pct_memcpy"]["pass"])))
    if "expression_to_weighted_sum" in kb:
        print("  %-40s %8s  %s" % ("expression ≥ 50 % of weighted-sum kernel", "%.0f %%" % (100 * kb["expression_to_weighted_sum"]),
                                   pf(tg["expression_ge_50pct_weighted_sum"]["pass"])))
    if summary["sensitivity_6_scenarios"]:
        sv = summary["sensitivity_6_scenarios"]
        print("  %-40s %8s  %s" % ("6 weight scenarios add ≤ 30 % wall", "+%.0f %%" % (100 * sv["over_baseline"]),
                                   pf(sv["over_baseline"] <= 0.30)))
    if rerun_s is not None:
        print("  %-40s %8s  %s" % ("no-change rerun of the demo job ≤ 1 s", "%.2f s" % rerun_s,
                                   pf(tg["no_change_rerun_le_1s"]["pass"])))
    print("summary: %s" % os.path.join(bench, "bench-summary.json"))


def cmd_decode_floor(bench):
    """The decode floor: every block of every raster source read once through GDAL (decompression
    and type conversion, no warping), on one thread; CPU seconds and wall."""
    import resource
    t0, c0 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    per = {}
    for path in sorted(glob.glob(os.path.join(bench, "data", "*.tif"))):
        s0 = time.time()
        ds = gdal.Open(path)
        b = ds.GetRasterBand(1)
        bx, by = b.GetBlockSize()
        for y in range(0, ds.RasterYSize, by):
            for x in range(0, ds.RasterXSize, bx):
                b.ReadRaster(x, y, min(bx, ds.RasterXSize - x), min(by, ds.RasterYSize - y), buf_type=gdal.GDT_Float32)
        per[os.path.basename(path)] = round(time.time() - s0, 3)
        ds = None
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall_s": round(time.time() - t0, 3), "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 3),
                      "sources": per}))


def cmd_encode_floor(bench, run_dir):
    """The encode floor: the pixels of a hazard-zoning run's risk_index.tif and risk_class.tif (every
    level: base and overviews) compressed as the products are — DEFLATE level 6 (GDAL's libtiff uses
    libdeflate, as the COG writer does), floating-point predictor for the index, 512-px tiles — by
    GDAL's GTiff driver on all cores (NUM_THREADS = the run's default thread count). The levels are
    read into memory first (untimed); only the compression and write are timed."""
    import resource
    threads = str(os.cpu_count() or 1)
    levels = []
    for name, predictor in (("risk_index.tif", "3"), ("risk_class.tif", "1")):
        ds = gdal.Open(os.path.join(run_dir, name))
        band = ds.GetRasterBand(1)
        for b in [band] + [band.GetOverview(i) for i in range(band.GetOverviewCount())]:
            mem = gdal.GetDriverByName("MEM").Create("", b.XSize, b.YSize, 1, b.DataType)
            mem.GetRasterBand(1).WriteRaster(0, 0, b.XSize, b.YSize, b.ReadRaster())
            levels.append((name, predictor, mem))
    out = os.path.join(bench, "floor-encode.tif")
    t0, c0 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    for name, predictor, mem in levels:
        gdal.Translate(out, mem, creationOptions=["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=DEFLATE",
                                                  "ZLEVEL=6", "PREDICTOR=" + predictor, "NUM_THREADS=" + threads])
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    gdal.Unlink(out)
    print(json.dumps({"wall_s": round(time.time() - t0, 3), "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 3),
                      "threads": int(threads), "levels": len(levels),
                      "pixels": sum(m.RasterXSize * m.RasterYSize for _, _, m in levels)}))


def pixels_n(kb):
    return kb["pixels"]


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    cmd, bench = argv[1], os.path.abspath(argv[2])
    if cmd == "data":
        cmd_data(bench)
    elif cmd == "job":
        cmd_job(bench, argv[3])
    elif cmd == "chain":
        cmd_chain(bench, argv[3])
    elif cmd == "compare":
        cmd_compare(bench, argv[3])
    elif cmd == "decode-floor":
        cmd_decode_floor(bench)
    elif cmd == "encode-floor":
        cmd_encode_floor(bench, argv[3])
    elif cmd == "report":
        cmd_report(bench)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
