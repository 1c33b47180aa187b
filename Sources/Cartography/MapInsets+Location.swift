import Foundation
import GDALKit

extension LocationInset {
    /// Fill of the county in the inset.
    public static let countyFill = RGB(220, 0, 0)
    /// Fill of the home province (the one holding the county).
    public static let homeFill = RGB(255, 236, 179)
    /// Fill of the other provinces, and of the neighbouring countries.
    public static let provinceFill = RGB(232, 232, 232)
    public static let countryFill = RGB(250, 250, 250)
}

/// The location inset before it has a corner: its size on the page and its polygons in the
/// inset's Albers projection.
struct PendingLocation {
    var size: (width: Double, height: Double)
    var ground: Bounds
    var areas: [(geometry: FeatureGeometry, home: Bool, country: Bool)]
    var county: FeatureGeometry
    var homeName: String?
    var homeCentre: GeoPoint?
    var caption: String

    func place(_ frame: PageRect) -> PreparedInset {
        let s = frame.width / ground.width
        func page(_ g: GeoPoint) -> PagePoint { PagePoint(x: frame.minX + (g.x - ground.minX) * s, y: frame.minY + (ground.maxY - g.y) * s) }
        func polygons(_ f: FeatureGeometry) -> [[[PagePoint]]] { f.polygons.map { $0.map { $0.map(page) } } }
        let content = LocationContent(areas: areas.map { .init(polygons: polygons($0.geometry), home: $0.home, country: $0.country) },
                                      county: polygons(county), homeName: homeName, homeLabel: homeCentre.map(page),
                                      caption: caption)
        return PreparedInset(layout: InsetLayout(kind: .location, frame: frame), content: .location(content))
    }
}

extension PreparedMap {
    /// Reads the county and the provinces, finds the home province (the one holding the county's
    /// centroid) and frames it in an Albers equal-area projection centred on it.
    func prepareLocation(_ location: LocationInset) throws -> PendingLocation {
        let lonLat = try SpatialReference(definition: "EPSG:4326")
        func read(_ source: String, _ layer: String?, in srs: SpatialReference, attribute: String? = nil) throws -> [GeometryFeature] {
            try wrapInput(source) {
                let ds = try Dataset(open: source, flags: [.vector])
                let vl = try layer.map { try ds.layer(named: $0) } ?? ds.layer(0)
                return try vl.features(in: srs, attribute: attribute)
            }
        }
        let county = try read(location.county, location.countyLayer, in: lonLat)
        let rings = county.flatMap { $0.geometry.polygons.compactMap(\.first) }
        guard let largest = rings.max(by: { PreparedMap.ringArea($0.map(\.page)) < PreparedMap.ringArea($1.map(\.page)) }),
              let centre = PreparedMap.centroid(largest.map(\.page)) else {
            throw MapError.input(path: location.county, reason: "the county layer has no polygon (the location inset fills it)")
        }
        let provinces = try read(location.provinces, location.provincesLayer, in: lonLat, attribute: location.nameField)
        guard let home = provinces.first(where: { PreparedMap.contains($0.geometry, x: centre.x, y: centre.y) }) else {
            throw MapError.input(path: location.provinces, reason: "no polygon holds the county's centre (\(centre.x), \(centre.y)); the location inset needs the province the county lies in")
        }
        let homeLon = home.geometry.allPoints.map(\.x)
        let lon0 = ((homeLon.min()! + homeLon.max()!) / 2).rounded()
        let albers = try SpatialReference(definition: "+proj=aea +lat_0=0 +lon_0=\(lon0) +lat_1=25 +lat_2=47 +ellps=GRS80 +units=m +no_defs")
        let projected = try read(location.provinces, location.provincesLayer, in: albers, attribute: "kind")
        let countyProjected = try read(location.county, location.countyLayer, in: albers)
        guard let homeProjected = projected.first(where: { $0.id == home.id }) else {
            throw MapError.input(path: location.provinces, reason: "the home province was not read again")
        }
        let xs = homeProjected.geometry.allPoints.map(\.x), ys = homeProjected.geometry.allPoints.map(\.y)
        let pad = 0.08 * max(xs.max()! - xs.min()!, ys.max()! - ys.min()!)
        let ground = Bounds(minX: xs.min()! - pad, minY: ys.min()! - pad, maxX: xs.max()! + pad, maxY: ys.max()! + pad)
        let maxWidth = min(parts.frame.width * 0.2, 58 * Units.pointsPerMM * fs), maxHeight = parts.frame.height * 0.3
        var width = maxWidth, height = maxWidth * ground.height / ground.width
        if height > maxHeight { height = maxHeight; width = maxHeight * ground.width / ground.height }
        let homeCentre = PreparedMap.centroid(homeProjected.geometry.polygons.compactMap(\.first)
            .max { PreparedMap.ringArea($0.map(\.page)) < PreparedMap.ringArea($1.map(\.page)) }?.map(\.page) ?? [])
        return PendingLocation(
            size: (width, height), ground: ground,
            areas: projected.map { ($0.geometry, $0.id == home.id, $0.attribute == "country") },
            county: FeatureGeometry(polygons: countyProjected.flatMap(\.geometry.polygons)),
            homeName: home.attribute, homeCentre: homeCentre.map { GeoPoint(x: $0.x, y: $0.y) }, caption: location.caption)
    }

    /// Whether a polygon geometry holds the point (even-odd over every ring of every polygon).
    static func contains(_ geometry: FeatureGeometry, x: Double, y: Double) -> Bool {
        geometry.polygons.contains { polygon in
            var inside = false
            for ring in polygon where ring.count >= 3 {
                var j = ring.count - 1
                for i in 0..<ring.count {
                    let a = ring[i], b = ring[j]
                    if (a.y > y) != (b.y > y), x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
                    j = i
                }
            }
            return inside
        }
    }
}

extension GeoPoint {
    /// The same coordinates as a page point (for the page-space ring helpers).
    var page: PagePoint { PagePoint(x: x, y: y) }
}
