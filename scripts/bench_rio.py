#!/usr/bin/env python3
"""The rasterio + numpy peer of scripts/bench: the same job as the GDAL chain, written the way a
Python GIS analyst would write it — rasterio's WarpedVRT for every raster (the plan's gdalwarp
options: CRS, extent, resolution, resampling, nodata, error threshold), vectors reprojected once
with ogr2ogr (GeoJSON) and burnt per window with rasterio.features.rasterize, the index and the
class computed with numpy in 512-row windows (the chain's own numpy expressions, so the arithmetic
is the same), written as tiled GeoTIFFs, then `gdal_translate -of COG` for both (the chain's
creation options). Run by scripts/bench with the python3 that has rasterio (scripts/setup installs
it with rio-cogeo): python3 scripts/bench_rio.py CONFIG.json OUT_DIR.

CONFIG.json is written by `bench_data.py chain` (rio.json beside chain.sh)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy
import rasterio
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

ROWS = 512
# The chain's expressions use numpy's names unqualified, as gdal_calc.py evaluates them.
NUMPY = {k: getattr(numpy, k) for k in dir(numpy) if not k.startswith('_')}


def option(argv, name, n=1):
    if name not in argv:
        return None
    i = argv.index(name)
    return argv[i + 1] if n == 1 else argv[i + 1:i + 1 + n]


def main(config_path, out):
    cfg = json.load(open(config_path))
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(dir=out)
    steps = cfg["steps"]
    first = steps[cfg["keys"][0]][-1]
    te = [float(v) for v in option(first, "-te", 4)]
    tr = [float(v) for v in option(first, "-tr", 2)]
    crs = option(first, "-t_srs")
    width, height = int(round((te[2] - te[0]) / tr[0])), int(round((te[3] - te[1]) / tr[1]))
    transform = from_origin(te[0], te[3], tr[0], tr[1])
    env = rasterio.Env(GDAL_CACHEMAX=512, GDAL_NUM_THREADS="ALL_CPUS")
    env.__enter__()

    readers = {}     # letter -> function(window) -> Float32 array
    for key, letter in zip(cfg["keys"] + ["mask"], cfg["letters"]):
        argv = steps[key]
        if argv[0][0] == "gdalwarp":
            a = argv[0]
            src = rasterio.open(a[-2])
            srcnodata = option(a, "-srcnodata")
            vrt = WarpedVRT(src, crs=crs, transform=transform, width=width, height=height,
                            resampling=Resampling[option(a, "-r") or "nearest"],
                            src_nodata=float(srcnodata) if srcnodata is not None else src.nodata,
                            nodata=float(option(a, "-dstnodata") or "nan"), dtype="float32",
                            warp_mem_limit=256, warp_extras={"NUM_THREADS": "ALL_CPUS"},
                            tolerance=float(option(a, "-et") or 0.125))
            readers[letter] = (lambda v: lambda w: v.read(1, window=w))(vrt)
        else:
            ogr, rast = argv
            gj = os.path.join(work, key + ".geojson")
            subprocess.run(["ogr2ogr", "-q", "-f", "GeoJSON", "-t_srs", option(ogr, "-t_srs"), gj, ogr[-2], ogr[-1]],
                           check=True)
            feats = json.load(open(gj))["features"]
            attr, burn = option(rast, "-a"), option(rast, "-burn")
            shapes = [(f["geometry"], float(f["properties"][attr]) if attr else float(burn)) for f in feats]
            init = float(option(rast, "-init") or 0)
            dtype = {"Float32": "float32", "Byte": "uint8"}[option(rast, "-ot") or "Float32"]
            all_touched = "-at" in rast

            def burnt(w, shapes=shapes, init=init, dtype=dtype, all_touched=all_touched):
                t = rasterio.windows.transform(w, transform)
                return rasterize(shapes, out_shape=(int(w.height), int(w.width)), transform=t, fill=init,
                                 dtype=dtype, all_touched=all_touched).astype("float32")
            readers[letter] = burnt

    profile = dict(driver="GTiff", width=width, height=height, count=1, crs=crs, transform=transform,
                   tiled=True, blockxsize=512, blockysize=512)
    index_tif, class_tif = os.path.join(work, "index.tif"), os.path.join(work, "class.tif")
    colours = {int(k): tuple(v) for k, v in cfg["colours"].items()}
    with rasterio.open(index_tif, "w", dtype="float32", nodata=-9999, **profile) as idx, \
            rasterio.open(class_tif, "w", dtype="uint8", nodata=0, **profile) as cls:
        cls.write_colormap(1, colours)
        for y in range(0, height, ROWS):
            w = Window(0, y, width, min(ROWS, height - y))
            env_vars = {letter: readers[letter](w) for letter in cfg["letters"]}
            index = eval(cfg["index_expr"], NUMPY, env_vars).astype("float32")
            idx.write(index, 1, window=w)
            cls.write(eval(cfg["class_expr"], NUMPY, {"A": index}).astype("uint8"), 1, window=w)
    cog = ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=512", "-co", "NUM_THREADS=ALL_CPUS",
           "--config", "GDAL_CACHEMAX", "512"]
    subprocess.run(["gdal_translate", "-q"] + cog + ["-co", "OVERVIEW_RESAMPLING=AVERAGE", "-co", "PREDICTOR=YES",
                                                    index_tif, os.path.join(out, "risk_index.tif")], check=True)
    subprocess.run(["gdal_translate", "-q"] + cog + ["-co", "OVERVIEW_RESAMPLING=NEAREST",
                                                    class_tif, os.path.join(out, "risk_class.tif")], check=True)
    for f in os.listdir(work):
        os.remove(os.path.join(work, f))
    os.rmdir(work)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
