/// QGIS layer styles. A `.qml` next to a raster with the same base name (`risk_class.qml` beside
/// `risk_class.tif`) is loaded by QGIS as the layer's default style; GDAL ignores it.
public enum QGISStyle {
    /// A QGIS style (.qml) with a paletted renderer for band `band` of a Byte class raster: one
    /// palette entry per class (value, colour, label), nearest-neighbour resampling, nodata not drawn.
    public static func palettedQML(entries: [LegendEntry], band: Int = 1) -> String {
        var lines: [String] = [
            "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
            "<qgis version=\"3.28.0\" styleCategories=\"Symbology\">",
            "  <pipe>",
            "    <provider>",
            "      <resampling enabled=\"false\" zoomedInResamplingMethod=\"nearestNeighbour\" zoomedOutResamplingMethod=\"nearestNeighbour\" maxOversampling=\"2\"/>",
            "    </provider>",
            "    <rasterrenderer type=\"paletted\" band=\"\(band)\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">",
            "      <rasterTransparency/>",
            "      <minMaxOrigin>",
            "        <limits>None</limits>",
            "        <extent>WholeRaster</extent>",
            "        <statAccuracy>Estimated</statAccuracy>",
            "        <cumulativeCutLower>0.02</cumulativeCutLower>",
            "        <cumulativeCutUpper>0.98</cumulativeCutUpper>",
            "        <stdDevFactor>2</stdDevFactor>",
            "      </minMaxOrigin>",
            "      <colorPalette>",
        ]
        for e in entries {
            lines.append("        <paletteEntry value=\"\(e.value)\" color=\"\(e.color.hex)\" alpha=\"255\" label=\"\(escape(e.label))\"/>")
        }
        lines += [
            "      </colorPalette>",
            "    </rasterrenderer>",
            "    <brightnesscontrast brightness=\"0\" contrast=\"0\" gamma=\"1\"/>",
            "    <huesaturation saturation=\"0\" colorizeOn=\"0\" colorizeStrength=\"100\" grayscaleMode=\"0\" colorizeRed=\"255\" colorizeGreen=\"128\" colorizeBlue=\"128\"/>",
            "    <rasterresampler maxOversampling=\"2\"/>",
            "  </pipe>",
            "  <blendMode>0</blendMode>",
            "</qgis>",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// XML attribute escaping (&, <, >, ", ' and control characters).
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\t": out += "&#9;"
            case "\r": out += "&#13;"
            default:
                // Characters XML 1.0 forbids are dropped.
                if scalar.value < 0x20 { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A QGIS style (.qml) for a polygon layer: a categorized renderer on `field` with one solid
    /// fill per class (value, colour, label) and a thin darker outline — the zones look like the
    /// printed map. Stored as the default style in a GeoPackage's `layer_styles` table.
    public static func categorizedPolygonQML(field: String, entries: [LegendEntry]) -> String {
        var lines: [String] = [
            "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
            "<qgis version=\"3.28.0\" styleCategories=\"Symbology\">",
            "  <renderer-v2 type=\"categorizedSymbol\" attr=\"\(escape(field))\" symbollevels=\"0\" enableorderby=\"0\" forceraster=\"0\">",
            "    <categories>",
        ]
        for (i, e) in entries.enumerated() {
            lines.append("      <category value=\"\(e.value)\" symbol=\"\(i)\" label=\"\(escape(e.label))\" render=\"true\"/>")
        }
        lines.append("    </categories>")
        lines.append("    <symbols>")
        for (i, e) in entries.enumerated() {
            let c = e.color
            let outline = "\(Int(c.r) * 3 / 5),\(Int(c.g) * 3 / 5),\(Int(c.b) * 3 / 5),255"
            lines += [
                "      <symbol type=\"fill\" name=\"\(i)\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">",
                "        <layer class=\"SimpleFill\" enabled=\"1\" pass=\"0\" locked=\"0\">",
                "          <Option type=\"Map\">",
                "            <Option type=\"QString\" name=\"color\" value=\"\(c.r),\(c.g),\(c.b),255\"/>",
                "            <Option type=\"QString\" name=\"style\" value=\"solid\"/>",
                "            <Option type=\"QString\" name=\"outline_color\" value=\"\(outline)\"/>",
                "            <Option type=\"QString\" name=\"outline_style\" value=\"solid\"/>",
                "            <Option type=\"QString\" name=\"outline_width\" value=\"0.1\"/>",
                "            <Option type=\"QString\" name=\"outline_width_unit\" value=\"MM\"/>",
                "          </Option>",
                "        </layer>",
                "      </symbol>",
            ]
        }
        lines += ["    </symbols>", "  </renderer-v2>", "  <blendMode>0</blendMode>", "  <featureBlendMode>0</featureBlendMode>", "</qgis>"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A QGIS style (.qml) for a continuous band: a single-band pseudocolour renderer with a
    /// linear ramp between `min` and `max`.
    public static func rampQML(stops: [(Double, RGB)], min: Double, max: Double) -> String {
        var lines = [
            "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
            "<qgis version=\"3.28.0\" styleCategories=\"Symbology\">",
            "  <pipe>",
            "    <rasterrenderer type=\"singlebandpseudocolor\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" classificationMin=\"\(min)\" classificationMax=\"\(max)\" nodataColor=\"\">",
            "      <rasterTransparency/>",
            "      <minMaxOrigin>",
            "        <limits>None</limits>",
            "        <extent>WholeRaster</extent>",
            "        <statAccuracy>Estimated</statAccuracy>",
            "        <cumulativeCutLower>0.02</cumulativeCutLower>",
            "        <cumulativeCutUpper>0.98</cumulativeCutUpper>",
            "        <stdDevFactor>2</stdDevFactor>",
            "      </minMaxOrigin>",
            "      <rastershader>",
            "        <colorrampshader colorRampType=\"INTERPOLATED\" classificationMode=\"1\" clip=\"0\" minimumValue=\"\(min)\" maximumValue=\"\(max)\" labelPrecision=\"2\">",
        ]
        for (value, c) in stops {
            let v = min + value * (max - min)
            lines.append("          <item value=\"\(v)\" color=\"\(c.hex)\" alpha=\"255\" label=\"\(escape(String(format: "%.2f", v)))\"/>")
        }
        lines += [
            "        </colorrampshader>",
            "      </rastershader>",
            "    </rasterrenderer>",
            "    <brightnesscontrast brightness=\"0\" contrast=\"0\" gamma=\"1\"/>",
            "    <huesaturation saturation=\"0\" colorizeOn=\"0\" colorizeStrength=\"100\" grayscaleMode=\"0\" colorizeRed=\"255\" colorizeGreen=\"128\" colorizeBlue=\"128\"/>",
            "    <rasterresampler maxOversampling=\"2\"/>",
            "  </pipe>",
            "  <blendMode>0</blendMode>",
            "</qgis>",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
