import Foundation

/// The maps stage: the print maps (PDF and PNG) and QGIS styles of the run's products (`Maps.swift`).
struct MapsStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "maps" }
    var reads: [RunProduct] { [.classRaster, .zones, .townshipTables, .prevention, .sensitivity] }
    var produces: [RunProduct] { [.maps] }

    func run(_ context: RunContext) throws {
        _ = try MapMaker(plan: plan, runID: context.runID).render(folder: context.files.staging)
    }
}
