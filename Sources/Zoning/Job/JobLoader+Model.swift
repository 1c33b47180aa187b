import Foundation

extension JobLoader {
    /// `indices:` and `combine:` — the risk model: the sub-indices (ordered so that each comes
    /// after the indices it uses) and the combination on top.
    func parseModel(_ top: YObject, file: String, sink: DiagnosticSink) -> (indices: [ModelNode], combine: JobSpec.Combine?) {
        let layerKeys = top["layers"]?.entries()?.map(\.key) ?? []
        var layerNodes: [String: YNode] = [:]
        for (key, keyNode, _) in top["layers"]?.entries() ?? [] { layerNodes[key] = keyNode }
        var indices: [ModelNode] = []
        var indexNodes: [String: YNode] = [:]
        let indexEntries = top["indices"]?.entries() ?? []
        let indexNames = indexEntries.map(\.key)
        let memberNames = layerKeys + indexNames
        let known = Set(memberNames)
        var modelOK = true
        for (name, keyNode, value) in indexEntries {
            indexNodes[name] = keyNode
            if layerKeys.contains(name) {
                keyNode.error("index \"\(name)\" has the name of a layer; names must be unique across layers and indices")
                modelOK = false
                continue
            }
            if name == "combine" || name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) == nil {
                keyNode.error("an index name is letters, digits and _, starting with a letter (it can be used in expressions); \"combine\" is taken")
                modelOK = false
                continue
            }
            guard let obj = value.object(allowed: JobLoader.combineForms + ["direction"]),
                  let node = parseModelNode(name: name, obj, names: memberNames, known: known, requireAll: nil, file: file) else {
                modelOK = false
                continue
            }
            indices.append(node)
        }
        if top["indices"] != nil, indexEntries.isEmpty, top["indices"]?.entries() != nil {
            top["indices"]!.error("indices is empty; leave it out or define at least one index")
        }
        var combine: JobSpec.Combine?
        if let c = top["combine"]?.object(allowed: JobLoader.combineForms) {
            // Without indices every layer takes part directly (the v1 rule); expressions name theirs.
            let requireAll = indexEntries.isEmpty && c["expression"] == nil ? layerKeys : nil
            if let node = parseModelNode(name: "combine", c, names: memberNames, known: known, requireAll: requireAll,
                                      file: file) {
                combine = JobSpec.Combine(node: node)
            }
        }
        if let ordered = orderModel(indices: indices, combine: combine?.node, layerKeys: layerKeys, layerNodes: layerNodes,
                                    indexNodes: indexNodes, checkUse: modelOK && combine != nil, sink: sink) {
            indices = ordered
        }
        return (indices, combine)
    }
}
