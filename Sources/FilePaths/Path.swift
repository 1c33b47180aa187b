// Path strings without NSString: the few operations the code base uses, with the semantics of
// NSString on this platform (swift-corelibs-foundation) exactly, checked against NSString in
// PathTests, so that a call site can switch from `(p as NSString).deletingLastPathComponent` to
// `p.parentPath` without changing a byte.
//
// These are plain string operations, not `URL(fileURLWithPath:)`: a file URL makes a relative
// path absolute against the current directory, so it cannot give NSString's results for relative
// paths, "" or "/". Like NSString, nothing here touches the file system: "..", "." and symbolic
// links stay as written. One deliberate difference: NSString traps on the parent of a one-letter
// relative path ("a"); `parentPath` gives "" (what NSString gives for "ab", and on Darwin).

extension String {
    /// The path with `component` appended (NSString's `appendingPathComponent`): "/" is put
    /// between them unless the path is empty or already ends with "/"; an empty component gives
    /// the path unchanged. Nothing else is normalised ("a" + "/b" is "a//b", as with NSString).
    public func appendingComponent(_ component: String) -> String {
        if component.isEmpty { return self }
        if isEmpty { return component }
        if hasSuffix("/") { return self + component }
        return self + "/" + component
    }

    /// The path without its last component (NSString's `deletingLastPathComponent`): the parent
    /// of "a/b" and "a/b/" is "a", of "a" is "", of "/a" is "/", of "/" is "/", of "" is "".
    public var parentPath: String {
        let path = normalizedSlashes
        if path == "/" || path.isEmpty { return path }
        let start = path.startOfLastComponent
        if start == path.startIndex { return "" }
        if start == path.index(after: path.startIndex) { return "/" }
        return String(path[..<path.index(before: start)])
    }

    /// The last component (NSString's `lastPathComponent`): "c" for "/a/b/c" and "/a/b/c/",
    /// "/" for "/", "" for "".
    public var fileName: String {
        let path = normalizedSlashes
        if path.count <= 1 { return path }
        return String(path[path.startOfLastComponent...])
    }

    /// The extension of the last component, without its dot (NSString's `pathExtension`): "tif"
    /// for "a/b.tif", "gz" for "b.tar.gz", "" for "b", ".profile", "b." and "..".
    public var fileExtension: String {
        let path = normalizedSlashes
        guard path.count > 1, let start = path.startOfExtension else { return "" }
        return String(path[start...])
    }

    /// The path without the extension of its last component and its dot (NSString's
    /// `deletingPathExtension`): "a/b" for "a/b.tif", "b.tar" for "b.tar.gz", "b" for "b.",
    /// ".profile" unchanged. Runs of "/" are collapsed and a trailing "/" dropped.
    public var removingExtension: String {
        let path = normalizedSlashes
        guard path.count > 1, let start = path.startOfExtension else { return path }
        return String(path[..<path.index(before: start)])
    }

    /// NSString's clean-up before every path operation but appending: runs of "/" become one,
    /// then a trailing "/" is dropped ("/" stays "/", but "//" becomes "", as with NSString).
    private var normalizedSlashes: String {
        if self == "/" { return self }
        var result = ""
        result.reserveCapacity(utf8.count)
        var previousWasSlash = false
        for character in self {
            let isSlash = character == "/"
            if !(isSlash && previousWasSlash) { result.append(character) }
            previousWasSlash = isSlash
        }
        if result.hasSuffix("/") { result.removeLast() }
        return result
    }

    /// Where the last component starts: after the last "/", or at the start.
    private var startOfLastComponent: String.Index {
        lastIndex(of: "/").map { index(after: $0) } ?? startIndex
    }

    /// Where the extension starts (after its dot) in a path without a trailing "/": nil when
    /// the last component has no dot, starts with its only dot (".profile") or is "..".
    private var startOfExtension: String.Index? {
        let start = startOfLastComponent
        guard let dot = self[start...].lastIndex(of: "."), dot != start else { return nil }
        if self[start...] == ".." { return nil }
        return index(after: dot)
    }
}
