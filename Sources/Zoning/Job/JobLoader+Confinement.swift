import Foundation
import GDALKit

extension JobLoader {
    /// Network sources only when the job allows them: every layer definition read (layers, then
    /// the auxiliary ones by name, then prevention factors), each file once.
    func checkNetworkSources(_ definitions: [LayerDefinition], allowNetwork: Bool, sink: DiagnosticSink) {
        var checked = Set<String>()
        for def in definitions where !allowNetwork && checked.insert(def.file).inserted {
            if let reason = NetworkPolicy.networkReference(in: def.source) {
                sink.error(def.file, (def.sourceLine, def.sourceColumn),
                           "source: \(def.source) is read over the network (\(reason)); set `allow-network: true` in the job to allow it")
            }
        }
    }

    /// `gdal-config:` — GDAL options from `JobSpec.allowedConfigOptions`, network ones only with
    /// `allow-network: true`.
    func parseGDALConfig(_ top: YObject, allowNetwork: Bool) -> [String: String] {
        var gdalConfig: [String: String] = [:]
        guard let entries = top["gdal-config"]?.entries() else { return gdalConfig }
        for (key, keyNode, value) in entries {
            guard JobSpec.allowedConfigOptions.contains(key) else {
                keyNode.error("GDAL option \(key) may not be set by a job; allowed: \(JobSpec.allowedConfigOptions.sorted().joined(separator: ", "))")
                continue
            }
            if !allowNetwork && JobSpec.networkConfigOptions.contains(where: { key.hasPrefix($0) }) {
                keyNode.error("GDAL option \(key) concerns network access, which this job does not allow (allow-network: false)")
                continue
            }
            if let text = value.scalarString { gdalConfig[key] = text } else { value.error("expected a value") }
        }
        return gdalConfig
    }
}
