import Foundation
import FilePaths
import GDALKit
import RasterKernel

extension Planner {
    func planPrevention(_ prevention: JobSpec.Prevention, job: JobSpec, gridSRS: SpatialReference, grid: GridGeometry,
                        gridBounds: Bounds) throws -> PreventionPlan {
        var sources: [SourcePlan] = []
        for factor in prevention.factors {
            let key = "prevention.factors.\(factor.name)"
            switch factor.kind {
            case .proximity:
                sources.append(try planProximity(factor.definition, key: key, margin: factor.breaks.last ?? 0,
                                                 what: "\(key) (layer \(factor.definition.name))", gridSRS: gridSRS,
                                                 crsDefinition: job.grid.crs, grid: grid, maxPixels: job.grid.maxPixels))
            case .value:
                let use = JobSpec.LayerUse(key: key, definition: factor.definition, resampling: factor.resampling,
                                           normalization: .linear(min: 0, max: 1), allTouched: factor.allTouched,
                                           errorThreshold: factor.errorThreshold, position: factor.position)
                sources.append(try plan(factor.definition, key: key, use: use, gridSRS: gridSRS, crsDefinition: job.grid.crs,
                                        grid: grid, gridBounds: gridBounds, blockSize: job.grid.blockSize, isMask: false))
            }
        }
        return PreventionPlan(spec: prevention, sources: sources)
    }
}

/// The prevention zoning's factor sources, resolved against the data.
public struct PreventionPlan: Sendable {
    public let spec: JobSpec.Prevention
    /// One aligned source per factor, in factor order (keys `prevention.factors.<name>`).
    public let sources: [SourcePlan]

    func summaryLines(riskScheme: ClassScheme) -> [String] {
        var lines = ["prevention (综合防治区划): category = decision matrix(risk class, \(spec.factors.map(\.name).joined(separator: ", ")))"]
        lines.append("  risk: the risk class, levels 1..\(spec.riskLevels) (\(riskScheme.id))")
        for (factor, source) in zip(spec.factors, sources) {
            let what = factor.kind == .proximity ? "distance to the nearest feature" : "value"
            lines.append("  \(factor.name): \(factor.definition.name) [\(source.kind.rawValue), \(source.sourceCRS), \(source.sourceDetail)]")
            lines.append("    align: \(source.commandLine)")
            lines.append("    levels 1..\(factor.levels): \(what), breaks \(factor.breaks.map(formatNumber).joined(separator: ", ")); level = 1 + number of breaks ≤ it (compared in Float32)")
        }
        let cells = spec.table.count
        let perCategory = spec.categories.map { c in "\(c.value) \(c.name) (\(spec.table.filter { Int($0) == c.value }.count) cells)" }
        lines.append("  matrix: \(spec.rules.count) rules, first match wins, cover all \(cells) combinations; \(perCategory.joined(separator: ", "))")
        lines.append("  nodata: risk class 0 or any factor nodata → category 0")
        return lines
    }
}
