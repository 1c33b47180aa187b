import Foundation
import GDALKit

extension Planner {
    /// How many township units the job has, for the memory plan: the townships layer's features,
    /// or the standard grid's codes in the county (`county`, read when planning); 0 when
    /// unreadable here (the township grid stage reports it).
    func townshipCount(_ job: JobSpec, county: CountyCells?) -> Int {
        switch job.townshipSource {
        case .layer(let t):
            guard let ds = try? Dataset(open: t.definition.source, flags: [.vector]),
                  let layer = try? (t.definition.layer.map { try ds.layer(named: $0) } ?? ds.layer(0)) else { return 0 }
            return layer.featureCount
        case .standardGridCodes:
            return county?.codes.count ?? 0
        case nil:
            return 0
        }
    }
}
