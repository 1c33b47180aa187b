#!/usr/bin/env python3
"""The zoning benchmark's helper (scripts/bench-zoning): the GDAL + numpy peer of a zoning run, its
agreement check against hazard-zoning, the measured floors and the summary.

  bench_zoning.py job SRC DST [PRODUCT ...]  DST = the job SRC with outputs.products set (default: without maps)
  bench_zoning.py peer RUN_DIR PLAN_TXT WORK the peer on a hazard-zoning run's risk_class.tif/risk_index.tif
                                             (each step its own process under /usr/bin/time -v, times in WORK/times)
  bench_zoning.py step NAME WORK             one step of the peer (run by `peer`)
  bench_zoning.py check RUN_DIR WORK         the peer's products against the run's; exit 1 when they disagree
  bench_zoning.py floors RUN_DIR WORK        measured floors (JSON on stdout)
  bench_zoning.py report ZONING_DIR JSON     summary table (stdout) + JSON (e.g. $BENCH_DIR/bench-zoning.json)

The peer starts from the tool's own risk_index.tif and risk_class.tif (the census model — AHP,
entropy weights, proximity, natural breaks — is not redone in numpy; scripts/bench measures the index
path against its peers): it times the zoning tail and the statistics, as an analyst would script them:
  townships   ogr2ogr to the grid's CRS in memory + gdal_rasterize by feature order (as the tool numbers them)
  majority    the 5×5 (or 3×3) majority filter in numpy: per class a sliding count (cumulative sums);
              the centre wins a tie it is in, else the smallest tied class; nodata stays 0
  sieve       gdal.SieveFilter (the function gdal_sieve.py calls) — on a typed job (`product:`) per
              township in its bounding window with the other pixels nodata, repeated until nothing
              changes (at most 4 passes) as the tool does; pixels in no township become nodata
  composite   township × 256 + zone (Int32) in numpy, then gdal_polygonize.py -8 into a GeoPackage
  cog         gdal_translate -of COG with the tool's creation options (DEFLATE, 512 px, NEAREST overviews)
  statistics  per township and class: numpy.bincount of pixels, index sums and maxima; levels by the run's breaks
  totals      each `zoning.totals` layer through a warped VRT made with the plan's gdalwarp options,
              read in 512 × 512 windows as the tool reads it, × the pixel factor, bincount per township
              and class; then stats.json/stats.csv
  export      ogr2ogr -f "ESRI Shapefile" of the zone polygons
"""
import csv
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
from osgeo import gdal, ogr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_data  # noqa: E402  (parse_time, busy, others_cpu: scripts/bench's report helpers)

gdal.UseExceptions()
HERE = os.path.abspath(__file__)
PY = sys.executable
TILED = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512"]
COG = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "LEVEL=6", "-co", "BLOCKSIZE=512", "-co", "NUM_THREADS=ALL_CPUS"]


# ------------------------------------------------------------------------------------------------
# the derived job
# ------------------------------------------------------------------------------------------------
def cmd_job(src, dst, products):
    """The job with `outputs.products` listing `products` (default: every product the job's sections
    make except maps): a line inserted under `outputs:` (the job must not list products itself)."""
    text = open(src, encoding="utf-8").read()
    if re.search(r"^\s+products:", text, re.M):
        raise SystemExit("%s: outputs.products is already set; expected a job that makes every product" % src)
    if not products:
        products = ["risk-index", "risk-class"]
        if re.search(r"^zoning:", text, re.M):
            products += ["risk-zones", "statistics"]
        for section in ("prevention", "sensitivity"):
            if re.search(r"^%s:" % section, text, re.M):
                products.append(section)
    lines = text.split("\n")
    at = [i for i, l in enumerate(lines) if l.rstrip() == "outputs:"]
    if len(at) != 1:
        raise SystemExit("%s: expected one top-level `outputs:` block" % src)
    lines.insert(at[0] + 1, "  products: [%s]" % ", ".join(products))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


# ------------------------------------------------------------------------------------------------
# the peer's configuration (from the run's manifest and `hazard-zoning plan`)
# ------------------------------------------------------------------------------------------------
def plan_totals(plan_text):
    """{total name: gdalwarp arguments} from the plan's "totals per township and class" section."""
    out, name, inside = {}, None, False
    for line in plan_text.splitlines():
        if line.startswith("totals per township"):
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            break
        if not inside:
            continue
        m = re.match(r"^  (\S+): ", line)
        if m:
            name = m.group(1)
        m = re.match(r"^\s+align: (gdalwarp .*)$", line)
        if m and name:
            args = shlex.split(m.group(1))
            out[name] = [a for a in args[1:] if a != "<out>.tif"]
    return out


def layer_of(definition_yaml):
    try:
        m = re.search(r"^layer:\s*(\S+)", open(definition_yaml, encoding="utf-8").read(), re.M)
        return m.group(1) if m else None
    except OSError:
        return None


def configure(run_dir, plan_txt, work):
    man = json.load(open(os.path.join(run_dir, "manifest.json")))
    zoning = man.get("zoning") or {}
    towns = [i for i in man["inputs"] if i.get("key") == "townships"]
    if not towns:
        raise SystemExit("%s: the run has no townships input; the zoning peer needs zoning.townships" % run_dir)
    job = open(os.path.join(run_dir, "job", "job.yaml"), encoding="utf-8").read()
    warps = plan_totals(open(plan_txt, encoding="utf-8").read())
    gt = man["grid"]["geo_transform"]
    ds = gdal.Open(os.path.join(run_dir, "risk_class.tif"))
    totals = []
    for t in man.get("totals", []):
        if t["name"] not in warps:
            raise SystemExit("%s: no gdalwarp line for zoning.totals.%s" % (plan_txt, t["name"]))
        totals.append({"name": t["name"], "warp": warps[t["name"]], "factor": t["pixel_factor"]})
    cfg = {"run": os.path.abspath(run_dir), "width": man["grid"]["width"], "height": man["grid"]["height"],
           "geo_transform": gt, "wkt": ds.GetProjection(), "breaks": man["classification"]["breaks"], "majority": zoning.get("majority"),
           "connectivity": zoning.get("connectivity", 8), "threshold": zoning.get("sieve_threshold_pixels"),
           "typed": re.search(r"^product:", job, re.M) is not None,
           "level_rule": "mean-index", "townships": towns[0]["source"], "townships_layer": layer_of(towns[0]["definition"]["path"]),
           "totals": totals}
    if re.search(r"^\s+level:\s*\{?\s*high-share", job, re.M):
        raise SystemExit("%s: the peer computes the mean-index township level only" % run_dir)
    os.makedirs(work, exist_ok=True)
    json.dump(cfg, open(os.path.join(work, "peer.json"), "w"), indent=1)
    return cfg


# ------------------------------------------------------------------------------------------------
# the peer's steps
# ------------------------------------------------------------------------------------------------
def create(cfg, path, dtype, nodata=None, options=TILED):
    ds = gdal.GetDriverByName("GTiff").Create(path, cfg["width"], cfg["height"], 1, dtype, options=options)
    ds.SetGeoTransform(cfg["geo_transform"])
    ds.SetProjection(cfg["wkt"])
    if nodata is not None:
        ds.GetRasterBand(1).SetNoDataValue(nodata)
    return ds


def write(cfg, path, array, dtype, nodata=None):
    ds = create(cfg, path, dtype, nodata)
    ds.GetRasterBand(1).WriteArray(array)
    ds = None


def read(path):
    ds = gdal.Open(path)       # kept alive while its band is read (GDAL's Python bindings)
    return ds.GetRasterBand(1).ReadAsArray()


def open_band(path):
    """(dataset, band 1): the dataset must outlive the band."""
    ds = gdal.Open(path)
    return ds, ds.GetRasterBand(1)


def step_townships(cfg, work):
    """The townships in the grid's CRS, numbered 1… in feature order, burnt by pixel centre (UInt16)."""
    src = gdal.OpenEx(cfg["townships"], gdal.OF_VECTOR)
    name = cfg["townships_layer"] or src.GetLayer(0).GetName()
    mem = gdal.VectorTranslate("", src, options=["-f", "Memory", "-t_srs", cfg["wkt"], name])
    layer = mem.GetLayerByName(name)
    layer.CreateField(ogr.FieldDefn("hz_id", ogr.OFTInteger))
    features = [f for f in layer]
    for i, f in enumerate(features, start=1):
        f.SetField("hz_id", i)
        layer.SetFeature(f)
    out = create(cfg, os.path.join(work, "towns.tif"), gdal.GDT_UInt16)
    out.GetRasterBand(1).Fill(0)
    gdal.RasterizeLayer(out, [1], layer, options=["ATTRIBUTE=hz_id"])
    out = None
    json.dump({"count": len(features)}, open(os.path.join(work, "towns.json"), "w"))


def majority(classes, radius):
    """The majority filter of issue 26 (RasterKernel.MajorityFilter's rules) by sliding counts."""
    h, w = classes.shape
    size = 2 * radius + 1
    present = [int(c) for c in np.unique(classes) if c != 0]
    counts = np.zeros((len(present), h, w), dtype=np.uint8)
    for k, c in enumerate(present):
        s = np.zeros((h + size, w + size), dtype=np.int32)        # zero-padded integral image
        s[radius + 1:radius + 1 + h, radius + 1:radius + 1 + w] = (classes == c)
        s = s.cumsum(0).cumsum(1)
        counts[k] = s[size:, size:] - s[:-size, size:] - s[size:, :-size] + s[:-size, :-size]
    best = counts.max(axis=0)
    first = np.array(present, dtype=np.uint8)[np.argmax(counts == best, axis=0)]   # the smallest tied class
    centre = np.zeros((h, w), dtype=np.uint8)
    for k, c in enumerate(present):
        centre[(classes == c) & (counts[k] == best)] = 1                   # the centre is among the tied
    out = np.where(centre == 1, classes, first)
    out[classes == 0] = 0
    return out.astype(np.uint8)


def majority_strips(classes, radius, rows=512):
    """The majority filter in strips of `rows` rows with their halo (the same result, less memory)."""
    out = np.empty_like(classes)
    h = classes.shape[0]
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        a, b = max(0, y0 - radius), min(h, y1 + radius)
        out[y0:y1] = majority(classes[a:b], radius)[y0 - a:y1 - a]
    return out


def step_majority(cfg, work):
    classes = read(os.path.join(cfg["run"], "risk_class.tif"))
    out = majority_strips(classes, cfg["majority"] // 2) if cfg["majority"] else classes
    if cfg["typed"]:
        out[read(os.path.join(work, "towns.tif")) == 0] = 0
    write(cfg, os.path.join(work, "majority.tif"), out, gdal.GDT_Byte, 0)


def sieve(array, threshold, connectivity):
    """gdal.SieveFilter on an in-memory copy, until nothing changes (at most 4 passes)."""
    h, w = array.shape
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Byte)
    band = mem.GetRasterBand(1)
    band.SetNoDataValue(0)
    band.WriteArray(array)
    last = array
    for _ in range(4):
        gdal.SieveFilter(band, band.GetMaskBand(), band, threshold, connectivity)
        now = band.ReadAsArray()
        if np.array_equal(now, last):
            break
        last = now
    return last


def step_sieve(cfg, work):
    zones = read(os.path.join(work, "majority.tif"))
    if cfg["threshold"] and cfg["typed"]:
        towns = read(os.path.join(work, "towns.tif"))
        for t in range(1, json.load(open(os.path.join(work, "towns.json")))["count"] + 1):
            inside = towns == t
            rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
            if len(rows) == 0:
                continue
            win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            inside = towns[win] == t
            sieved = sieve(np.where(inside, zones[win], 0).astype(np.uint8), cfg["threshold"], cfg["connectivity"])
            zones[win][inside] = sieved[inside]
    elif cfg["threshold"]:
        zones = sieve(zones, cfg["threshold"], cfg["connectivity"])
    write(cfg, os.path.join(work, "zones.tif"), zones, gdal.GDT_Byte, 0)


def step_composite(cfg, work):
    """township × 256 + zone (0 = nodata), Int32, in strips of 512 rows."""
    zones_ds, zones = open_band(os.path.join(work, "zones.tif"))
    towns_ds, towns = open_band(os.path.join(work, "towns.tif"))
    out = create(cfg, os.path.join(work, "composite.tif"), gdal.GDT_Int32, 0)
    band = out.GetRasterBand(1)
    for y in range(0, cfg["height"], 512):
        h = min(512, cfg["height"] - y)
        z = zones.ReadAsArray(0, y, cfg["width"], h).astype(np.int32)
        t = towns.ReadAsArray(0, y, cfg["width"], h).astype(np.int32)
        band.WriteArray(np.where(z > 0, t * 256 + z, 0), 0, y)
    out = None


def step_statistics(cfg, work):
    """Per township and class: pixels, index sum and maximum (numpy.bincount over strips of 512
    rows), then the levels."""
    cls_ds, cls = open_band(os.path.join(cfg["run"], "risk_class.tif"))
    idx_ds, idx = open_band(os.path.join(cfg["run"], "risk_index.tif"))
    town_ds, town = open_band(os.path.join(work, "towns.tif"))
    n = json.load(open(os.path.join(work, "towns.json")))["count"]
    k = len(cfg["breaks"]) + 1
    counts = np.zeros((n + 1) * (k + 1), dtype=np.int64)
    sums, maxima = np.zeros(n + 1), np.full(n + 1, -np.inf)
    for y in range(0, cfg["height"], 512):
        h = min(512, cfg["height"] - y)
        classes = cls.ReadAsArray(0, y, cfg["width"], h).ravel()
        index = idx.ReadAsArray(0, y, cfg["width"], h).ravel()
        towns = town.ReadAsArray(0, y, cfg["width"], h).ravel().astype(np.intp)
        inside = (towns >= 1) & (towns <= n)
        counts += np.bincount(towns[inside] * (k + 1) + classes[inside], minlength=counts.size)
        valid = inside & (classes > 0)
        sums += np.bincount(towns[valid], weights=index[valid].astype(np.float64), minlength=n + 1)
        np.maximum.at(maxima, towns[valid], index[valid].astype(np.float64))
    counts = counts.reshape(n + 1, k + 1)
    rows = []
    for t in range(1, n + 1):
        v = int(counts[t, 1:].sum())
        mean = sums[t] / v if v else None
        rows.append({"id": t, "valid_pixels": v, "pixels": [int(x) for x in counts[t, 1:]],
                     "mean_index": mean, "max_index": float(maxima[t]) if v else None,
                     "dominant_class": int(1 + np.argmax(counts[t, 1:])) if v else None,   # the smallest of the tied
                     "level": 1 + sum(1 for b in cfg["breaks"] if mean >= b) if v else None})
    json.dump(rows, open(os.path.join(work, "statistics.json"), "w"))


def warped_vrt(total, work):
    path = os.path.join(work, "total-%s.vrt" % total["name"])
    args = total["warp"] + ["-of", "VRT", "-co", "BLOCKXSIZE=512", "-co", "BLOCKYSIZE=512", path]
    subprocess.run(["gdalwarp", "-q", "-overwrite"] + args, check=True)
    return path


def step_totals(cfg, work):
    """Each total through a warped VRT read in 512 × 512 windows × its pixel factor, summed per
    township and class; then stats.json and stats.csv with the statistics."""
    rows = json.load(open(os.path.join(work, "statistics.json")))
    n, k = len(rows), len(cfg["breaks"]) + 1
    classes_ds, classes = open_band(os.path.join(cfg["run"], "risk_class.tif"))
    towns_ds, towns = open_band(os.path.join(work, "towns.tif"))
    totals = cfg["totals"]
    opened = [open_band(warped_vrt(total, work)) for total in totals]   # (dataset, band): the dataset keeps its band alive
    sums = [np.zeros((n + 1) * (k + 1)) for _ in totals]
    # Windows outside, totals inside: the classes and townships are read once (each total's sums
    # in the same window order as before).
    for y in range(0, cfg["height"], 512):
        for x in range(0, cfg["width"], 512):
            w, h = min(512, cfg["width"] - x), min(512, cfg["height"] - y)
            c = classes.ReadAsArray(x, y, w, h).ravel().astype(np.int64)
            t = towns.ReadAsArray(x, y, w, h).ravel().astype(np.int64)
            for i, (total, (_, band)) in enumerate(zip(totals, opened)):
                v = band.ReadAsArray(x, y, w, h, buf_type=gdal.GDT_Float64).ravel()
                ok = np.isfinite(v) & (t >= 1) & (t <= n)
                sums[i] += np.bincount(t[ok] * (k + 1) + c[ok], weights=v[ok] * total["factor"], minlength=sums[i].size)
    for total, total_sums in zip(totals, sums):
        total_sums = total_sums.reshape(n + 1, k + 1)
        for r in rows:
            r.update({"%s_class_%d" % (total["name"], c): float(total_sums[r["id"], c]) for c in range(1, k + 1)})
            r["%s_total" % total["name"]] = float(total_sums[r["id"]].sum())
    json.dump(rows, open(os.path.join(work, "stats.json"), "w"), indent=1)
    with open(os.path.join(work, "stats.csv"), "w", newline="", encoding="utf-8") as f:
        keys = [key for key in rows[0] if key != "pixels"] if rows else []
        out = csv.writer(f)
        out.writerow(keys + ["class_%d_pixels" % c for c in range(1, k + 1)])
        for r in rows:
            out.writerow([r[key] for key in keys] + r["pixels"])


STEPS = {"townships": step_townships, "majority": step_majority, "sieve": step_sieve, "composite": step_composite,
         "statistics": step_statistics, "totals": step_totals}


def peer_steps(work):
    """(name, command) of every step, in order."""
    me = [PY, HERE, "step"]
    return [("townships", me + ["townships", work]),
            ("majority", me + ["majority", work]),
            ("sieve", me + ["sieve", work]),
            ("composite", me + ["composite", work]),
            ("polygonize", ["gdal_polygonize.py", "-q", "-8", os.path.join(work, "composite.tif"), "-f", "GPKG",
                            os.path.join(work, "zones.gpkg"), "risk_zones", "value"]),
            ("cog", ["gdal_translate", "-q"] + COG + ["-co", "OVERVIEW_RESAMPLING=NEAREST",
                                                     os.path.join(work, "zones.tif"), os.path.join(work, "risk_zones.tif")]),
            ("statistics", me + ["statistics", work]),
            ("totals", me + ["totals", work]),
            ("export", ["ogr2ogr", "-f", "ESRI Shapefile", "-lco", "ENCODING=UTF-8", os.path.join(work, "export"),
                        os.path.join(work, "zones.gpkg"), "risk_zones"])]


def cmd_peer(run_dir, plan_txt, work):
    """The peer's steps, each under /usr/bin/time -v (WORK/times/NAME.time); fails on the first error."""
    for old in glob.glob(os.path.join(work, "*")):
        if os.path.isdir(old):
            shutil.rmtree(old)
        else:
            os.remove(old)
    cfg = configure(run_dir, plan_txt, work)
    if cfg["connectivity"] != 8:
        raise SystemExit("%s: the peer polygonises 8-connected; the run used %d" % (run_dir, cfg["connectivity"]))
    os.makedirs(os.path.join(work, "times"), exist_ok=True)
    for name, command in peer_steps(work):
        timefile = os.path.join(work, "times", name + ".time")
        r = subprocess.run(["/usr/bin/time", "-v", "-o", timefile] + command)
        if r.returncode:
            sys.stderr.write("bench-zoning: peer step %s failed (exit %d): %s\n" % (name, r.returncode, " ".join(command)))
            sys.exit(1)


# ------------------------------------------------------------------------------------------------
# agreement
# ------------------------------------------------------------------------------------------------
def polygon_areas(path, layer, value_field):
    """{value: [polygons, area m²]} of a polygon layer."""
    out = {}
    ds = ogr.Open(path)
    for f in ds.GetLayerByName(layer):
        v = f.GetField(value_field)
        o = out.setdefault(v, [0, 0.0])
        o[0] += 1
        o[1] += f.GetGeometryRef().GetArea()
    return out


def compare_rows(tool_rows, peer_rows, totals):
    """Differences between the tool's stats.json and the peer's, as messages."""
    bad = []
    if len(tool_rows) != len(peer_rows):
        return ["townships: tool %d, peer %d" % (len(tool_rows), len(peer_rows))], 0.0
    worst = 0.0
    for t, p in zip(tool_rows, peer_rows):
        label = "township %d" % t["id"]
        if [c["pixels"] for c in t["classes"]] != p["pixels"]:
            bad.append("%s: class pixels tool %s, peer %s" % (label, [c["pixels"] for c in t["classes"]], p["pixels"]))
        for key in ("valid_pixels", "dominant_class", "level", "max_index"):
            if t.get(key) != p.get(key):
                bad.append("%s: %s tool %r, peer %r" % (label, key, t.get(key), p.get(key)))
        keys = ["mean_index"] + [k for k in t if any(k.startswith(x["name"] + "_") for x in totals)]
        for key in keys:
            a, b = t.get(key), p.get(key)
            if a is None or b is None:
                if a != b:
                    bad.append("%s: %s tool %r, peer %r" % (label, key, a, b))
                continue
            rel = abs(a - b) / max(abs(a), 1e-12)
            worst = max(worst, rel)
            if rel > 1e-9 and abs(a - b) > 1e-9:
                bad.append("%s: %s tool %r, peer %r" % (label, key, a, b))
    return bad, worst


def cmd_check(run_dir, work):
    cfg = json.load(open(os.path.join(work, "peer.json")))
    tool_zones = read(os.path.join(run_dir, "risk_zones.tif"))
    peer_zones = read(os.path.join(work, "zones.tif"))
    peer_cog = read(os.path.join(work, "risk_zones.tif"))
    result = {"zone_pixels_differing": int((tool_zones != peer_zones).sum()),
              "zone_cog_pixels_differing": int((tool_zones != peer_cog).sum()),
              "zone_pixels": int((tool_zones > 0).sum())}
    tool_poly = polygon_areas(os.path.join(run_dir, "zones.gpkg"), "risk_zones", "class")
    peer_raw = polygon_areas(os.path.join(work, "zones.gpkg"), "risk_zones", "value")
    peer_poly = {}
    for v, (count, area) in peer_raw.items():
        o = peer_poly.setdefault(v % 256, [0, 0.0])
        o[0] += count
        o[1] += area
    result["polygons"] = {"tool": sum(c for c, _ in tool_poly.values()), "peer": sum(c for c, _ in peer_poly.values())}
    result["polygon_area_max_rel_diff"] = max(abs(tool_poly[c][1] - peer_poly.get(c, [0, 0.0])[1]) / tool_poly[c][1]
                                              for c in tool_poly) if tool_poly else 0.0
    rows, worst = compare_rows(json.load(open(os.path.join(run_dir, "stats.json"))),
                               json.load(open(os.path.join(work, "stats.json"))), cfg["totals"])
    result["statistics_differences"] = rows
    result["statistics_max_rel_diff"] = worst
    problems = []
    if result["zone_pixels_differing"] or result["zone_cog_pixels_differing"]:
        problems.append("zones differ in %d pixels (COG: %d)" % (result["zone_pixels_differing"], result["zone_cog_pixels_differing"]))
    if result["polygons"]["tool"] != result["polygons"]["peer"] or result["polygon_area_max_rel_diff"] > 1e-9:
        problems.append("polygons: tool %d, peer %d, area per class max rel. diff %.3g"
                        % (result["polygons"]["tool"], result["polygons"]["peer"], result["polygon_area_max_rel_diff"]))
    problems += rows
    result["agree"] = not problems
    json.dump(result, open(os.path.join(work, "check.json"), "w"), indent=1)
    print(json.dumps(result))
    if problems:
        sys.stderr.write("bench-zoning: THE PEER AND THE TOOL DISAGREE:\n  " + "\n  ".join(problems[:20]) + "\n")
        sys.exit(1)


# ------------------------------------------------------------------------------------------------
# floors
# ------------------------------------------------------------------------------------------------
def timed(fn):
    t0 = time.time()
    fn()
    return round(time.time() - t0, 3)


def cmd_floors(run_dir, work):
    """Floors under steps of the tail, measured here: reading the class, index and township rasters
    once (GDAL, one thread); the totals' warps to memory on all cores (gdalwarp -multi,
    NUM_THREADS=ALL_CPUS, the plan's options); polygonize of the composite held in memory into a
    memory layer (GDALPolygonize without the GeoTIFF round trip)."""
    cfg = json.load(open(os.path.join(work, "peer.json")))
    paths = [os.path.join(run_dir, "risk_class.tif"), os.path.join(run_dir, "risk_index.tif"), os.path.join(work, "towns.tif")]
    floors = {"read_class_index_townships_s": timed(lambda: [read(p) for p in paths])}

    def warp_all():
        for total in cfg["totals"]:
            gdal.Warp("", total["warp"][-1], options=total["warp"][:-1] + ["-of", "MEM", "-multi", "-wo", "NUM_THREADS=ALL_CPUS"])
    floors["totals_warp_s"] = timed(warp_all)
    composite = read(os.path.join(work, "composite.tif"))
    mem = gdal.GetDriverByName("MEM").Create("", cfg["width"], cfg["height"], 1, gdal.GDT_Int32)
    mem.GetRasterBand(1).WriteArray(composite)
    mem.GetRasterBand(1).SetNoDataValue(0)
    polygons = ogr.GetDriverByName("Memory").CreateDataSource("")     # kept alive while its layer is used
    layer = polygons.CreateLayer("z", geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    band = mem.GetRasterBand(1)
    floors["polygonize_in_memory_s"] = timed(lambda: gdal.Polygonize(band, band.GetMaskBand(), layer, 0, ["8CONNECTED=8"]))
    print(json.dumps(floors))


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def tool_runs(res, prefix):
    """hazard-zoning runs NAME-1… of the results folder: /usr/bin/time, manifest timings, others' CPU."""
    runs = []
    for path in sorted(glob.glob(os.path.join(res, prefix + "-*.time"))):
        name = os.path.basename(path)[:-5]
        t = bench_data.parse_time(path)
        man = json.load(open(os.path.join(res, name + ".manifest.json")))
        t.update(run=name, cpu_s=round(t["user_s"] + t["sys_s"], 2), timings=man["timings"], threads=man.get("threads"),
                 busy_before_pct=bench_data.busy(res, name), others_cpu_s=bench_data.others_cpu(res, name, t["user_s"] + t["sys_s"]))
        runs.append(t)
    return runs


def peer_runs(res):
    runs = []
    for d in sorted(glob.glob(os.path.join(res, "peer-*"))):
        if not os.path.isdir(d):
            continue
        name = os.path.basename(d)
        whole = bench_data.parse_time(d + ".time")
        steps = {n: bench_data.parse_time(os.path.join(d, n + ".time")) for n, _ in peer_steps("")}
        runs.append({"run": name, "wall_s": whole["wall_s"], "cpu_s": round(whole["user_s"] + whole["sys_s"], 2),
                     "sum_step_wall_s": round(sum(x["wall_s"] for x in steps.values()), 2),
                     "max_rss_mib": max(x["max_rss_mib"] for x in steps.values()), "steps": steps,
                     "busy_before_pct": bench_data.busy(res, name),
                     "others_cpu_s": bench_data.others_cpu(res, name, whole["user_s"] + whole["sys_s"])})
    return runs


TAIL_LAPS = ("zoning", "write_cog")     # zone, township statistics, totals, tables; export + write


def summarise(res):
    tool, peer, census = tool_runs(res, "tool"), peer_runs(res), tool_runs(res, "census")
    if not tool or not peer:
        raise SystemExit("%s: no tool or peer runs to report" % res)
    best_tool, best_peer = min(tool, key=lambda r: r["wall_s"]), min(peer, key=lambda r: r["wall_s"])
    tail_tool = sum(best_tool["timings"].get(k, 0) for k in TAIL_LAPS)
    rest = best_tool["wall_s"] - tail_tool
    load = lambda name: json.load(open(os.path.join(res, name))) if os.path.exists(os.path.join(res, name)) else None
    return {
        "job": "hangjin-risk-zoning (maps off)", "peer_starts_from": "the tool's risk_index.tif and risk_class.tif",
        "tool": {"best": best_tool, "runs": tool, "peak_rss_mib": max(r["max_rss_mib"] for r in tool)},
        "peer": {"best": best_peer, "runs": peer, "peak_rss_mib": max(r["max_rss_mib"] for r in peer)},
        "tail": {"tool_laps": list(TAIL_LAPS), "tool_s": round(tail_tool, 3), "peer_s": best_peer["wall_s"],
                 "ratio_peer_over_tool": round(best_peer["wall_s"] / tail_tool, 2) if tail_tool else None},
        "whole_job": {"tool_wall_s": best_tool["wall_s"], "peer_estimate_s": round(rest + best_peer["wall_s"], 2),
                      "ratio_peer_over_tool": round((rest + best_peer["wall_s"]) / best_tool["wall_s"], 2),
                      "how": "peer = the tool's own time for the stages before the tail + the peer's tail: a lower bound "
                             "(a GDAL + numpy index path is slower than the tool's, see scripts/bench)"},
        "floors": load("floors.json"), "check": load("check.json"),
        "census": {"best": min(census, key=lambda r: r["wall_s"]), "runs": census,
                   "peak_rss_mib": max(r["max_rss_mib"] for r in census)} if census else None,
    }


FLOOR_OF = {"statistics": "read_class_index_townships_s", "totals": "totals_warp_s", "polygonize": "polygonize_in_memory_s"}


# The laps in the order the pipeline runs them (Pipeline.swift); others after them.
LAP_ORDER = ["hash_inputs", "align", "statistics", "compute", "zoning", "attribution", "prevention", "prevention_totals",
             "census", "sensitivity", "write_cog", "maps", "report"]


def laps_in_order(timings):
    keys = sorted((k for k in timings if k != "total"), key=lambda k: (LAP_ORDER.index(k) if k in LAP_ORDER else len(LAP_ORDER), k))
    return [(k, timings[k]) for k in keys]


def print_stages(s):
    tool, peer, floors = s["tool"]["best"], s["peer"]["best"], s["floors"] or {}
    laps = laps_in_order(tool["timings"])
    steps = list(peer["steps"].items())
    print("%-26s %8s   | %-12s %8s %9s %8s" % ("tool stage (manifest)", "s", "peer step", "wall s", "RSS MiB", "floor s"))
    for i in range(max(len(laps), len(steps))):
        left = "%-26s %8.2f" % laps[i] if i < len(laps) else " " * 35
        if i < len(steps):
            n, t = steps[i]
            f = floors.get(FLOOR_OF.get(n, ""))
            right = "%-12s %8.2f %9.0f %8s" % (n, t["wall_s"], t["max_rss_mib"], "%.2f" % f if f is not None else "")
        else:
            right = ""
        print("%s   | %s" % (left, right))


def cmd_report(bench, summary):
    res = os.path.join(bench, "results")
    s = summarise(res)
    tool, peer = s["tool"], s["peer"]
    print("\n== zoning benchmark: %s; the peer (GDAL + numpy) starts from %s" % (s["job"], s["peer_starts_from"]))
    print("%-44s %8s %8s %14s %10s" % ("", "wall s", "CPU s", "peak RSS MiB", "others s"))
    row = lambda label, r, rss: print("%-44s %8.2f %8.2f %14.0f %10s" % (label, r["wall_s"], r["cpu_s"], rss, r["others_cpu_s"]))
    row("hazard-zoning run (best of %d)" % len(tool["runs"]), tool["best"], tool["peak_rss_mib"])
    row("peer, zoning tail + statistics (best of %d)" % len(peer["runs"]), peer["best"], peer["peak_rss_mib"])
    if s["census"]:
        row("hangjin-census-risk, maps off (best of %d)" % len(s["census"]["runs"]), s["census"]["best"], s["census"]["peak_rss_mib"])
    t, w = s["tail"], s["whole_job"]
    print("tail: peer %.2f s / tool %.2f s (laps %s) = %.2f×" % (t["peer_s"], t["tool_s"], " + ".join(t["tool_laps"]), t["ratio_peer_over_tool"]))
    print("whole job: peer ≥ %.2f s (the tool's own time before the tail + the peer's tail) / tool %.2f s = ≥ %.2f× (target ≥ 4×)"
          % (w["peer_estimate_s"], w["tool_wall_s"], w["ratio_peer_over_tool"]))
    print("peak RSS: tool %.0f MiB (target ≤ 256), peer %.0f MiB (largest step)" % (tool["peak_rss_mib"], peer["peak_rss_mib"]))
    print()
    print_stages(s)
    if s["census"]:
        c = s["census"]["best"]
        print("\nhangjin-census-risk (maps off), time per stage: " + ", ".join(
            "%s %.2f" % kv for kv in laps_in_order(c["timings"])) + " (total %.2f s, wall %.2f s; target ≤ 15 s)"
            % (c["timings"].get("total", 0), c["wall_s"]))
    if s["check"]:
        ch = s["check"]
        print("\nagreement: zone pixels differing %d of %d (COG %d); polygons tool %d, peer %d; statistics max rel. diff %.2g; %s"
              % (ch["zone_pixels_differing"], ch["zone_pixels"], ch["zone_cog_pixels_differing"], ch["polygons"]["tool"],
                 ch["polygons"]["peer"], ch["statistics_max_rel_diff"], "agree" if ch["agree"] else "DISAGREE"))
    busy = [r["busy_before_pct"] for r in tool["runs"] + peer["runs"] if r["busy_before_pct"] is not None]
    others = [r["others_cpu_s"] for r in tool["runs"] + peer["runs"] if r["others_cpu_s"] is not None]
    print("machine: busy before the runs %s %%, others' CPU during them %s s" % (busy, others))
    json.dump(s, open(summary, "w"), indent=1, ensure_ascii=False)
    print("summary: %s" % summary)


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "job" and len(args) >= 2:
        cmd_job(args[0], args[1], args[2:])
    elif cmd == "peer" and len(args) == 3:
        cmd_peer(*args)
    elif cmd == "step" and len(args) == 2 and args[0] in STEPS:
        STEPS[args[0]](json.load(open(os.path.join(args[1], "peer.json"))), args[1])
    elif cmd == "check" and len(args) == 2:
        cmd_check(*args)
    elif cmd == "floors" and len(args) == 2:
        cmd_floors(*args)
    elif cmd == "report" and len(args) == 2:
        cmd_report(*args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
